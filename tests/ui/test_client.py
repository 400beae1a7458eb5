"""The UI's API client against the real API: everything the UI does, as calls."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fusionflow.ui.client import ApiClient, ApiError, Unauthorized
from tests.api.conftest import ADMIN_PASSWORD


@pytest.fixture
def api(client: TestClient) -> ApiClient:
    session = ApiClient(http=client)
    assert session.login("admin", ADMIN_PASSWORD)["role"] == "admin"
    return session


def test_the_grep_story_through_the_client(api: ApiClient, allowed: Path) -> None:
    names = [p["name"] for p in api.pipelines()]
    assert names == ["csv-aggregate", "extract-text", "grep", "resize-images"]
    items = api.upload([("a.log", io.BytesIO(b"ok\nERROR one\n")), ("b.log", io.BytesIO(b"x\n"))])
    folder = items[0]["url"].rsplit("/", 1)[0]
    assert api.preview("grep", [folder], {"patterns": ["ERROR"]})["files"] == 2
    job = api.submit("grep", [folder], {"patterns": ["ERROR"]}, name="from the client")
    kinds = [(kind, data["status"]) for kind, data in api.events(job["id"])]
    assert kinds[-1] == ("status", "completed")
    assert api.jobs(q="from the client")["total"] == 1
    assert [a["name"] for a in api.artifacts(job["id"])] == [
        "matches.txt",
        "report.txt",
        "summary.json",
    ]
    out = io.BytesIO()
    size = api.download(job["id"], "matches.txt", out)
    assert out.getvalue() == f"{items[0]['url']}:2:ERROR one\n".encode()
    assert size == len(out.getvalue())
    assert api.head_of(job["id"], "matches.txt", max_bytes=5) == out.getvalue()[:5]
    assert api.summary(job["id"])["matches"] == 1
    assert api.notifications()["unread"] == 1
    assert api.mark_all_read() == 1


def test_errors_carry_status_detail_and_field_messages(api: ApiClient, allowed: Path) -> None:
    with pytest.raises(ApiError) as refused:
        api.submit("grep", [str(allowed)], {"patterns": ["x"], "context": -1})
    assert refused.value.status == 422
    assert refused.value.field_errors() == {"context": "Input should be greater than or equal to 0"}
    with pytest.raises(ApiError) as empty:
        api.submit("grep", [], {"patterns": ["x"]})
    assert "inputs" in empty.value.field_errors()
    with pytest.raises(ApiError) as forbidden:
        api.submit("grep", ["/etc"], {"patterns": ["x"]})
    assert forbidden.value.status == 403
    assert "FUSIONFLOW_ALLOWED_ROOTS" in forbidden.value.message
    with pytest.raises(Unauthorized):
        ApiClient(http=api.http, token="expired-or-forged").me()


def test_admin_calls(api: ApiClient) -> None:
    created = api.create_user("zoe", "zoe-password")
    assert api.update_user(created["id"], role="admin")["role"] == "admin"
    assert {u["username"] for u in api.users()} == {"admin", "zoe"}
    api.delete_user(created["id"])
    assert [u["username"] for u in api.users()] == ["admin"]
    prefs = {"email": "ops@example.org", "min_duration_s": 60.0}
    assert api.set_notify_prefs(prefs) == {**prefs, "webhook_url": None}
    assert api.notify_prefs()["email"] == "ops@example.org"


def test_download_links_stream_without_a_token(api: ApiClient, allowed: Path) -> None:
    job = api.submit("grep", [str(allowed / "logs")], {"patterns": ["ERROR"]})
    list(api.events(job["id"]))
    link = api.download_link(job["id"], "matches.txt")
    anonymous = api.http.get(link)  # no Authorization header
    out = io.BytesIO()
    api.download(job["id"], "matches.txt", out)
    assert anonymous.status_code == 200
    assert anonymous.content == out.getvalue()


def test_uploads_report_their_progress(api: ApiClient) -> None:
    reports: list[tuple[int, int]] = []
    data = [("a.log", io.BytesIO(b"a" * 300_000)), ("b.log", io.BytesIO(b"b" * 100_000))]
    items = api.upload(data, lambda sent, total: reports.append((sent, total)))
    assert [i["size"] for i in items] == [300_000, 100_000]
    assert reports[-1] == (400_000, 400_000)
    assert len(reports) > 2  # several steps, not one at the end
    assert [sent for sent, _ in reports] == sorted(sent for sent, _ in reports)
