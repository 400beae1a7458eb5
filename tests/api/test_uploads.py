"""Uploads: streamed to the user's own prefix, names sanitized, never overwritten,
limited in size, and usable as job inputs by their owner only."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fusionflow.api import create_app
from fusionflow.config import Settings
from tests.api.conftest import ADMIN_PASSWORD, login, results_of, wait_for
from tests.conftest import s3_settings

UPLOADS = "/api/v1/uploads"


def test_files_land_under_the_users_prefix_without_overwriting(
    client: TestClient, alice: dict[str, str], api_settings: Settings
) -> None:
    files = [
        ("files", ("app.log", b"one ERROR\n")),
        ("files", ("app.log", b"two ERROR\n")),
        ("files", ("web01/app.log", b"three\n")),
        ("files", ("../../etc/.passwd", b"four\n")),
        ("files", ("r\u00e9sum\u00e9 (final).txt", b"five\n")),
    ]
    response = client.post(UPLOADS, files=files, headers=alice)
    assert response.status_code == 201, response.text
    items = response.json()
    assert [i["name"] for i in items] == [
        "app.log",
        "app-1.log",
        "web01/app.log",
        "etc/passwd",
        "r\u00e9sum\u00e9_final_.txt",
    ]
    assert [i["size"] for i in items] == [10, 10, 6, 5, 5]
    user_id = client.get("/api/v1/me", headers=alice).json()["id"]
    batch = items[0]["batch"]
    # Users see their uploads by name; the server keeps them under the user's prefix.
    assert [i["url"] for i in items] == [f"upload://{user_id}/{batch}/{i['name']}" for i in items]
    prefix = api_settings.data_dir / "storage" / "uploads" / str(user_id) / batch
    assert (prefix / items[1]["name"]).read_bytes() == b"two ERROR\n"
    # A second upload of the same name is a new batch: nothing is overwritten.
    second = client.post(UPLOADS, files={"files": ("app.log", b"new\n")}, headers=alice).json()
    assert second[0]["batch"] != batch
    assert (prefix / "app.log").read_bytes() == b"one ERROR\n"
    listed = client.get(UPLOADS, headers=alice).json()
    assert len(listed) == 6
    assert {i["url"] for i in items} < {i["url"] for i in listed}


def test_uploads_are_job_inputs_for_their_owner_only(
    client: TestClient, alice: dict[str, str], bob: dict[str, str], api_settings: Settings
) -> None:
    items = client.post(
        UPLOADS,
        files=[("files", ("a.log", b"ERROR a\nok\n")), ("files", ("b.log", b"ERROR b\n"))],
        headers=alice,
    ).json()
    folder = items[0]["url"].rsplit("/", 1)[0]
    body = {"pipeline": "grep", "inputs": [folder], "params": {"patterns": ["ERROR"]}}
    job = client.post("/api/v1/jobs", json=body, headers=alice).json()
    done = wait_for(client, job["id"], alice)
    assert done["files_done"] == 2
    assert done["inputs"] == [folder]
    summary = client.get(f"/api/v1/jobs/{job['id']}/summary", headers=alice).json()
    assert summary["matches"] == 2
    assert sorted(summary["per_file"]) == [f"{folder}/a.log", f"{folder}/b.log"]
    matches = client.get(f"/api/v1/jobs/{job['id']}/artifacts/matches.txt", headers=alice).text
    assert matches == f"{folder}/a.log:1:ERROR a\n{folder}/b.log:1:ERROR b\n"
    # Nothing the user is shown names the server's folders.
    report = client.get(f"/api/v1/jobs/{job['id']}/artifacts/report.txt", headers=alice).text
    shown = [report, matches, str(summary), str(done), str(items)]
    assert not [text for text in shown if str(api_settings.data_dir) in text]
    for inputs in ([items[0]["url"]], [folder], [str(results_of(api_settings, job["id"]))]):
        refused = client.post("/api/v1/jobs", json={**body, "inputs": inputs}, headers=bob)
        assert refused.status_code == 403
        detail = refused.json()["detail"]
        # An upload's name says whose it is; a path into storage is just not granted.
        reason = "only your own uploads" if inputs[0].startswith("upload://") else "not granted"
        assert reason in detail


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(
    api_settings: Settings,
) -> None:
    small = api_settings.model_copy(update={"upload_max_bytes": 1000})
    with TestClient(create_app(small)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        files = [("files", ("ok.log", b"x" * 10)), ("files", ("big.log", b"x" * 5000))]
        response = client.post(UPLOADS, files=files, headers=admin)
        assert response.status_code == 413
        assert "big.log is larger than the limit of 1000 bytes" in response.json()["detail"]
        assert client.get(UPLOADS, headers=admin).json() == []


def test_bad_upload_requests_are_4xx(client: TestClient, alice: dict[str, str]) -> None:
    assert client.post(UPLOADS, json={"files": []}, headers=alice).status_code == 415
    no_files = client.post(UPLOADS, data={"other": "x"}, files={"x": ("a", b"1")}, headers=alice)
    assert no_files.status_code == 422
    broken = client.post(
        UPLOADS,
        content=b'--XX\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nabc',
        headers={**alice, "Content-Type": "multipart/form-data; boundary=XX"},
    )
    assert broken.status_code == 400
    assert client.get(UPLOADS, headers=alice).json() == []


def test_clashing_or_overlong_names_are_4xx_or_shortened(
    client: TestClient, alice: dict[str, str]
) -> None:
    clash = [("files", ("a", b"1")), ("files", ("a/b", b"2"))]
    response = client.post(UPLOADS, files=clash, headers=alice)
    assert response.status_code == 422
    assert "both a file and a folder" in response.json()["detail"]
    clash = [("files", ("a/b", b"1")), ("files", ("a", b"2"))]
    assert client.post(UPLOADS, files=clash, headers=alice).status_code == 422
    assert client.get(UPLOADS, headers=alice).json() == []  # nothing kept of either
    long = "\u6f22" * 200 + ".log"  # 600 bytes in UTF-8: over a file name's 255
    deep = "/".join(["d"] * 40) + "/x.log"
    items = client.post(
        UPLOADS, files=[("files", (long, b"1")), ("files", (deep, b"2"))], headers=alice
    ).json()
    assert len(items[0]["name"].encode()) <= 200
    assert items[1]["name"].count("/") == 15
    body = b"--" + b"B" * 300 + b"--\r\n"
    response = client.post(
        UPLOADS,
        content=body,
        headers={**alice, "Content-Type": "multipart/form-data; boundary=" + "B" * 300},
    )
    assert response.status_code == 400


def test_deleting_a_user_deletes_their_uploads(
    client: TestClient, admin: dict[str, str], alice: dict[str, str], api_settings: Settings
) -> None:
    item = client.post(UPLOADS, files={"files": ("a.log", b"1")}, headers=alice).json()[0]
    alice_id = client.get("/api/v1/me", headers=alice).json()["id"]
    kept = Path(api_settings.storage) / "uploads" / str(alice_id) / item["batch"] / item["name"]
    assert kept.exists()
    assert client.delete(f"/api/v1/users/{alice_id}", headers=admin).status_code == 204
    assert not kept.exists()


def test_deleting_an_upload(client: TestClient, alice: dict[str, str], bob: dict[str, str]) -> None:
    batch = client.post(UPLOADS, files={"files": ("a.log", b"1")}, headers=alice).json()[0]["batch"]
    assert client.delete(f"{UPLOADS}/{batch}", headers=bob).status_code == 404
    assert client.delete(f"{UPLOADS}/{batch}", headers=alice).status_code == 204
    assert client.get(UPLOADS, headers=alice).json() == []
    assert client.delete(f"{UPLOADS}/{batch}", headers=alice).status_code == 404
    assert client.delete(f"{UPLOADS}/..", headers=alice).status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_s3_storage_uploads_go_to_s3_and_downloads_redirect(
    api_settings: Settings, s3_endpoint: str, bucket: str, s3_client: Any
) -> None:
    settings = s3_settings(api_settings, s3_endpoint, storage_url=f"s3://{bucket}/ff")
    with TestClient(create_app(settings)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        items = client.post(
            UPLOADS, files={"files": ("a.log", b"ERROR s3\nfine\n")}, headers=admin
        ).json()
        assert items[0]["url"] == f"upload://1/{items[0]['batch']}/a.log"
        key = f"ff/uploads/1/{items[0]['batch']}/a.log"
        head = s3_client.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256"
        body = {"pipeline": "grep", "inputs": [items[0]["url"]], "params": {"patterns": ["ERROR"]}}
        job = client.post("/api/v1/jobs", json=body, headers=admin).json()
        assert wait_for(client, job["id"], admin)["status"] == "completed"
        url = f"/api/v1/jobs/{job['id']}/artifacts/matches.txt"
        redirect = client.get(url, headers=admin, follow_redirects=False)
        assert redirect.status_code == 307
        import httpx

        assert httpx.get(redirect.headers["location"]).text == f"{items[0]['url']}:1:ERROR s3\n"
        assert client.get("/readyz").json()["checks"]["storage"] == {"ok": True, "error": None}


def test_half_written_uploads_left_by_a_crash_are_removed_at_start(api_settings: Settings) -> None:
    batch = Path(api_settings.storage) / "uploads" / "1" / "0123456789abcdef"
    (batch / "logs").mkdir(parents=True)
    stale = batch / "logs" / ".app.log.partial"
    fresh = batch / ".db.log.partial"  # another API process may be writing it right now
    kept = batch / "logs" / "done.log"
    for file in (stale, fresh, kept):
        file.write_bytes(b"x" * 100)
    long_ago = time.time() - 2 * 3600
    os.utime(stale, (long_ago, long_ago))
    os.utime(kept, (long_ago, long_ago))
    with TestClient(create_app(api_settings)):
        pass
    assert not stale.exists()
    assert fresh.exists()
    assert kept.exists()
