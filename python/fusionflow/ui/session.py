"""The UI's per-browser-session state: the API client and who is logged in."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from fusionflow.ui import API_URL_ENV, DEFAULT_API_URL, PUBLIC_API_URL_ENV
from fusionflow.ui.client import ApiClient, ApiError, Unauthorized

T = TypeVar("T")


def api() -> ApiClient:
    """This browser session's client (``FUSIONFLOW_API_URL``, default the local serve)."""
    if "api" not in st.session_state:
        base = os.environ.get(API_URL_ENV, DEFAULT_API_URL)
        st.session_state.api = ApiClient(base)
    client: ApiClient = st.session_state.api
    return client


def public_api_url() -> str:
    """The API's address as the browser sees it (``FUSIONFLOW_PUBLIC_API_URL``), for
    download links; by default the address the UI itself uses."""
    return os.environ.get(PUBLIC_API_URL_ENV) or str(api().http.base_url).rstrip("/")


def user() -> dict[str, Any] | None:
    found: dict[str, Any] | None = st.session_state.get("user")
    return found


def log_in(username: str, password: str) -> None:
    st.session_state.user = api().login(username, password)


def log_out(message: str | None = None) -> None:
    api().token = None
    st.session_state.pop("user", None)
    if message:
        st.session_state.flash = message


def call(action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run an API call; an expired session leads back to the login page, any other
    refusal is shown as an error and gives None."""
    try:
        return action(*args, **kwargs)
    except Unauthorized:
        log_out("Your session has ended; please log in again.")
        st.rerun()
    except ApiError as e:
        st.error(e.message)
    return None
