"""The Streamlit app's page logic (Streamlit's AppTest) against a real API on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

import fusionflow.ui
from fusionflow.api import create_app
from fusionflow.config import Settings
from fusionflow.ui.client import ApiClient, ApiError
from tests.api.conftest import ADMIN_PASSWORD, PASSWORD
from tests.servers import free_port

APP = str(Path(fusionflow.ui.__file__).with_name("app.py"))
LogIn = Callable[[str, str], AppTest]


@pytest.fixture
def api_url(api_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The API served by uvicorn in a thread; the UI finds it through FUSIONFLOW_API_URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(api_settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("FUSIONFLOW_API_URL", url)
    yield url
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def apps() -> Iterator[list[AppTest]]:
    """The apps a test runs; their API clients are closed after it."""
    made: list[AppTest] = []
    yield made
    for app in made:
        if "api" in app.session_state:
            app.session_state["api"].close()


@pytest.fixture
def logged_in(apps: list[AppTest]) -> Callable[[str, str], AppTest]:
    def log_in(username: str, password: str) -> AppTest:
        app = AppTest.from_file(APP, default_timeout=30)
        apps.append(app)
        return _log_in(app.run(), username, password)

    return log_in


def _log_in(app: AppTest, username: str, password: str) -> AppTest:
    assert app.title[0].value == "FusionFlow"  # the login page
    app.text_input[0].input(username)
    app.text_input[1].input(password)
    app.button[0].click().run()
    return app


def test_login_then_the_jobs_page(api_url: str, allowed: Path, logged_in: LogIn) -> None:
    with ApiClient(api_url) as api:
        api.login("admin", ADMIN_PASSWORD)
        job = api.submit("grep", [str(allowed / "logs")], {"patterns": ["ERROR"]}, name="nightly")
    app = logged_in("admin", ADMIN_PASSWORD)
    assert not app.exception
    assert app.session_state["user"]["username"] == "admin"
    assert app.title[0].value == "Jobs"
    assert any("admin" in c.value for c in app.sidebar.caption)
    table = app.dataframe[0].value
    assert list(table["name"]) == ["nightly"]
    assert list(table["id"]) == [job["id"]]


def test_a_wrong_password_stays_on_the_login_page(api_url: str, logged_in: LogIn) -> None:
    app = logged_in("admin", "not the password")
    assert "user" not in app.session_state
    assert app.error[0].value == "Incorrect user name or password."


def test_an_expired_session_leads_back_to_login(api_url: str, logged_in: LogIn) -> None:
    with ApiClient(api_url) as api:
        api.login("admin", ADMIN_PASSWORD)
        api.create_user("alice", PASSWORD)
    app = logged_in("alice", PASSWORD)
    assert app.title[0].value == "Jobs"
    app.session_state["api"].token = "expired"
    app.run()
    assert app.title[0].value == "FusionFlow"
    assert app.info[0].value == "Your session has ended; please log in again."


def test_the_new_job_form_comes_from_the_schema_and_shows_api_errors_by_the_field(
    api_url: str, allowed: Path, logged_in: LogIn
) -> None:
    page = _page(_new_job_page, logged_in("admin", ADMIN_PASSWORD)).run()
    assert page.title[0].value == "New job"
    assert page.selectbox[0].value == "csv-aggregate"
    page.selectbox[0].select("grep").run()
    labels = [t.label for t in page.text_area]
    assert "Patterns *" in labels
    page.radio[0].set_value("Server folder").run()
    folder = next(t for t in page.text_input if t.label == "Server folder")
    folder.input(str(allowed / "logs")).run()
    submit = next(b for b in page.button if b.label == "Submit")
    submit.click().run()  # no patterns: the API's 422 names the field
    assert page.session_state["form_errors"] == {"patterns": "Field required"}
    assert "invalid parameter `patterns`" in page.error[0].value
    assert any(e.value == "Field required" for e in page.error)
    page.session_state["api"].close()


def _page(function: Callable[[], None], signed_in: AppTest) -> AppTest:
    """One page of the app on its own, with the session of an app that is logged in."""
    page = AppTest.from_function(function, default_timeout=30)
    page.session_state["api"] = signed_in.session_state["api"]
    page.session_state["user"] = signed_in.session_state["user"]
    return page


def _new_job_page() -> None:
    from fusionflow.ui import pages

    pages.new_job()


def test_the_admin_page_manages_users_and_refuses_users(api_url: str, logged_in: LogIn) -> None:
    page = _page(_admin_page, logged_in("admin", ADMIN_PASSWORD)).run()
    new_user = {t.label: t for t in page.text_input}
    new_user["User name"].input("carol")
    new_user["Password"].input(PASSWORD)
    next(b for b in page.button if b.label == "Create").click().run()
    assert page.success[0].value == "Created carol."
    assert "carol" in list(page.dataframe[0].value["username"])

    carol = logged_in("carol", PASSWORD)
    refused = _page(_admin_page, carol).run()
    assert refused.error[0].value == "admins only"  # the API decides, not the page


def test_the_admin_page_grants_a_folder_to_a_group_and_takes_it_back(
    api_url: str, allowed: Path, logged_in: LogIn
) -> None:
    admin = logged_in("admin", ADMIN_PASSWORD)
    page = _page(_admin_page, admin)
    admin.session_state["api"].create_user("carol", PASSWORD)
    page.run()

    def labelled(kind: str, label: str) -> Any:
        return next(e for e in getattr(page, kind) if e.label == label)

    def click(label: str) -> str:
        labelled("button", label).click().run()
        assert not page.error, [e.value for e in page.error]
        return str(page.success[0].value)

    labelled("text_input", "Group name").input("team")
    assert click("Create group") == "Created group team."
    labelled("selectbox", "Group").select("team")
    labelled("selectbox", "Member").select("carol")
    assert click("Add to group") == "carol is in team."
    labelled("text_input", "Location").input(str(allowed / "logs"))
    labelled("selectbox", "Grant to").select("group team")
    assert click("Grant") == f"Granted {allowed / 'logs'} to group team."
    with ApiClient(api_url) as carol:
        carol.login("carol", PASSWORD)
        assert carol.preview("grep", [str(allowed / "logs")], {"patterns": ["x"]})["files"] == 2
        [made] = [g for g in admin.session_state["api"].grants() if g["group"] == "team"]
        labelled("selectbox", "Grant").select(f"{made['id']}: {allowed / 'logs'} → group team")
        assert click("Revoke") == f"Revoked grant {made['id']}."
        with pytest.raises(ApiError) as refused:
            carol.preview("grep", [str(allowed / "logs")], {"patterns": ["x"]})
        assert refused.value.status == 403


def _admin_page() -> None:
    from fusionflow.ui import pages

    pages.admin()
