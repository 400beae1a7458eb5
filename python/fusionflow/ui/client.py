"""A small client of FusionFlow's REST API: what the UI (and any script) calls.

Errors come back as ``ApiError`` with the status and the API's ``detail``; a 401 is
``Unauthorized`` (the UI then asks to log in again). ``field_errors`` turns a 422 into
messages per parameter, for showing them beside the form's fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any
from urllib.parse import quote

import httpx

API = "/api/v1"
_FIELD = re.compile(r"^invalid parameter `([^`]+)`: (.*)$")


class ApiError(Exception):
    """The API refused a request."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if isinstance(self.detail, list):  # FastAPI's request validation errors
            return "; ".join(f"{_loc(e)}: {e.get('msg', '')}" for e in self.detail)
        return str(self.detail)

    def field_errors(self) -> dict[str, str]:
        """``{field: message}`` for the parameters a 422 names."""
        if isinstance(self.detail, list):
            return {_loc(e): str(e.get("msg", "")) for e in self.detail}
        found = _FIELD.match(str(self.detail))
        return {found.group(1): found.group(2)} if found else {}


class Unauthorized(ApiError):
    """Not logged in, or the token expired or was revoked."""


def _loc(error: dict[str, Any]) -> str:
    parts = [str(p) for p in error.get("loc", []) if p not in ("body", "query", "path")]
    if parts[:1] == ["params"]:
        parts = parts[1:]
    return ".".join(parts) or "request"


class ApiClient:
    """One user's session with the API. ``http`` may be any ``httpx.Client`` (tests pass
    Starlette's TestClient); otherwise one is made for ``base_url``."""

    def __init__(
        self,
        base_url: str = "",
        token: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self.token = token

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, API + path, headers=self._headers(), **kwargs)
        _raise_for(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- session -----------------------------------------------------------------------

    def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in; keeps the token and returns the account."""
        response = self.http.post(
            f"{API}/auth/token", data={"username": username, "password": password}
        )
        _raise_for(response)
        self.token = response.json()["access_token"]
        return self.me()

    def me(self) -> dict[str, Any]:
        return dict(self._call("GET", "/me"))

    def notify_prefs(self) -> dict[str, Any]:
        return dict(self._call("GET", "/me/notify"))

    def set_notify_prefs(self, prefs: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("PUT", "/me/notify", json=prefs))

    # -- pipelines and jobs --------------------------------------------------------------

    def pipelines(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/pipelines"))

    def preview(
        self, pipeline: str, inputs: Sequence[str], params: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"pipeline": pipeline, "inputs": list(inputs), "params": params}
        return dict(self._call("POST", "/jobs/preview", json=body))

    def submit(
        self,
        pipeline: str,
        inputs: Sequence[str],
        params: dict[str, Any],
        *,
        name: str = "",
        notify: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "pipeline": pipeline,
            "inputs": list(inputs),
            "params": params,
            "name": name,
        }
        if notify:
            body["notify"] = notify
        return dict(self._call("POST", "/jobs", json=body))

    def jobs(self, **filters: Any) -> dict[str, Any]:
        """A page of jobs: ``status``/``pipeline`` (lists), ``q``, ``created_after``,
        ``created_before``, ``owner``, ``sort``, ``limit``, ``offset``."""
        params = {k: v for k, v in filters.items() if v not in (None, "", [])}
        return dict(self._call("GET", "/jobs", params=params))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/jobs/{job_id}"))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/jobs/{job_id}/cancel"))

    def retry(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/jobs/{job_id}/retry"))

    def delete(self, job_id: str) -> None:
        self._call("DELETE", f"/jobs/{job_id}")

    def summary(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/jobs/{job_id}/summary"))

    def artifacts(self, job_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/jobs/{job_id}/artifacts"))

    def events(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's Server-Sent Events, ``(kind, job)``, until it finishes."""
        kind = "message"
        with self.http.stream(
            "GET", f"{API}/jobs/{job_id}/events", headers=self._headers(), timeout=None
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    yield kind, json.loads(line.removeprefix("data: "))

    def download(self, job_id: str, name: str, out: IO[bytes]) -> int:
        """Stream an artifact into ``out`` (following S3 redirects); returns the bytes."""
        written = 0
        with self.http.stream(
            "GET",
            f"{API}/jobs/{job_id}/artifacts/{name}",
            headers=self._headers(),
            follow_redirects=True,
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            for chunk in response.iter_bytes():
                out.write(chunk)
                written += len(chunk)
        return written

    def download_link(self, job_id: str, name: str) -> str:
        """A path (under the API's address) that downloads the output without a token,
        for a few minutes: for a browser to stream a big file straight from the API."""
        made = self._call("POST", f"/jobs/{job_id}/links", json={"name": name})
        return str(made["url"])

    def head_of(self, job_id: str, name: str, max_bytes: int = 64 << 10) -> bytes:
        """The first bytes of an artifact (a Range request), for a preview."""
        response = self.http.get(
            f"{API}/jobs/{job_id}/artifacts/{name}",
            headers={**self._headers(), "Range": f"bytes=0-{max_bytes - 1}"},
            follow_redirects=True,
        )
        _raise_for(response)
        return response.content[:max_bytes]

    # -- uploads -------------------------------------------------------------------------

    def upload(
        self,
        files: Sequence[tuple[str, IO[bytes]]],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Upload ``(name, file)`` pairs in one batch; returns the stored items.
        ``on_progress(sent, total)`` is called as the bytes go out."""
        counter = _Progress(sum(_length(data) for _, data in files), on_progress)
        parts = [("files", (name, _Counted(data, counter))) for name, data in files]
        return list(self._call("POST", "/uploads", files=parts))

    def uploads(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/uploads"))

    # -- notifications -------------------------------------------------------------------

    def notifications(self, unread: bool = False, limit: int = 50) -> dict[str, Any]:
        return dict(self._call("GET", "/notifications", params={"unread": unread, "limit": limit}))

    def mark_read(self, notification_id: int) -> None:
        self._call("POST", f"/notifications/{notification_id}/read")

    def mark_all_read(self) -> int:
        return int(self._call("POST", "/notifications/read-all")["marked"])

    # -- admin ---------------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/users"))

    def create_user(self, username: str, password: str, role: str = "user") -> dict[str, Any]:
        body = {"username": username, "password": password, "role": role}
        return dict(self._call("POST", "/users", json=body))

    def update_user(self, user_id: int, **changes: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/users/{user_id}", json=changes))

    def delete_user(self, user_id: int) -> None:
        self._call("DELETE", f"/users/{user_id}")

    def groups(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/groups"))

    def create_group(self, name: str) -> dict[str, Any]:
        return dict(self._call("POST", "/groups", json={"name": name}))

    def delete_group(self, name: str) -> None:
        self._call("DELETE", f"/groups/{quote(name, safe='')}")

    def add_member(self, group: str, user_id: int) -> dict[str, Any]:
        return dict(self._call("PUT", f"/groups/{quote(group, safe='')}/members/{user_id}"))

    def remove_member(self, group: str, user_id: int) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/groups/{quote(group, safe='')}/members/{user_id}"))

    def grants(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/grants"))

    def grant(
        self, location: str, *, user_id: int | None = None, group: str | None = None
    ) -> dict[str, Any]:
        body = {"location": location, "user_id": user_id, "group": group}
        return dict(self._call("POST", "/grants", json=body))

    def revoke(self, grant_id: int) -> None:
        self._call("DELETE", f"/grants/{grant_id}")


class _Progress:
    def __init__(self, total: int, report: Callable[[int, int], None] | None) -> None:
        self.total, self.sent, self.report = total, 0, report

    def add(self, n: int) -> None:
        self.sent += n
        if self.report is not None:
            self.report(self.sent, self.total)


class _Counted:
    """A file whose reads are counted (httpx streams the multipart body from it)."""

    def __init__(self, data: IO[bytes], progress: _Progress) -> None:
        self._data = data
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self._progress.add(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._data.seek(offset, whence)

    def tell(self) -> int:
        return self._data.tell()


def _length(data: IO[bytes]) -> int:
    here = data.tell()
    end = data.seek(0, 2)
    data.seek(here)
    return end - here


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text or response.reason_phrase
    error = Unauthorized if response.status_code == 401 else ApiError
    raise error(response.status_code, detail)
