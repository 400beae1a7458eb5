"""Jobs through the API: submit, list and filter, watch, cancel, retry, delete, results."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

import fusionflow
from fusionflow.api.security import AccessTokens
from fusionflow.config import Settings
from tests.api.conftest import PASSWORD, results_of, submit_grep, wait_for
from tests.jobs.helpers import SLOW_PATTERN, slow_corpus

JOBS = "/api/v1/jobs"


def test_a_grep_job_runs_and_its_outputs_download(
    client: TestClient, alice: dict[str, str], allowed: Path, tmp_path: Path
) -> None:
    job = submit_grep(client, alice, [str(allowed / "logs")])
    assert job["status"] == "pending"
    assert job["name"] == "grep logs"
    done = wait_for(client, job["id"], alice)
    assert done["status"] == "completed"
    assert done["progress"] == 100.0
    assert done["files_done"] == done["files_total"] == 2
    artifacts = client.get(f"{JOBS}/{job['id']}/artifacts", headers=alice).json()
    assert [a["name"] for a in artifacts] == ["matches.txt", "report.txt", "summary.json"]
    expected = tmp_path / "expected"
    fusionflow.run("grep", [allowed / "logs"], {"patterns": ["ERROR"]}, expected)
    matches = client.get(artifacts[0]["download_url"], headers=alice)
    assert matches.status_code == 200
    assert matches.content == (expected / "matches.txt").read_bytes()
    assert matches.headers["content-type"].startswith("text/plain")
    assert 'filename="matches.txt"' in matches.headers["content-disposition"]
    # Ranges, for resumed downloads.
    part = client.get(artifacts[0]["download_url"], headers={**alice, "Range": "bytes=5-14"})
    assert part.status_code == 206
    assert part.content == matches.content[5:15]
    assert part.headers["content-range"] == f"bytes 5-14/{len(matches.content)}"
    summary = client.get(f"{JOBS}/{job['id']}/summary", headers=alice).json()
    assert summary["matches"] == json.loads((expected / "summary.json").read_text())["matches"]
    missing = client.get(f"{JOBS}/{job['id']}/artifacts/nope.txt", headers=alice)
    assert missing.status_code == 404


def test_download_links_work_without_the_token_for_one_file_a_while(
    client: TestClient, alice: dict[str, str], allowed: Path, api_settings: Settings
) -> None:
    job = wait_for(client, submit_grep(client, alice, [str(allowed / "logs")])["id"], alice)
    made = client.post(f"{JOBS}/{job['id']}/links", json={"name": "matches.txt"}, headers=alice)
    assert made.status_code == 200
    assert made.json()["expires_in"] == 600
    url = made.json()["url"]
    plain = client.get(url)  # no Authorization header: what a browser's link does
    assert plain.status_code == 200
    with_token = client.get(f"{JOBS}/{job['id']}/artifacts/matches.txt", headers=alice)
    assert plain.content == with_token.content
    assert client.get(url, headers={"Range": "bytes=0-3"}).status_code == 206
    token = url.split("link=")[1]
    # Only that file, and never as a login token.
    other = f"{JOBS}/{job['id']}/artifacts/report.txt?link={token}"
    assert client.get(other).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    expired = AccessTokens(api_settings.secret_key or "", 60).issue_link(
        job["owner_id"], datetime.now(UTC), f"{job['id']}/matches.txt", -1
    )
    assert client.get(f"{JOBS}/{job['id']}/artifacts/matches.txt?link={expired}").status_code == 401
    missing = client.post(f"{JOBS}/{job['id']}/links", json={"name": "nope"}, headers=alice)
    assert missing.status_code == 404


def test_a_password_change_ends_the_download_links_made_before_it(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    job = wait_for(client, submit_grep(client, alice, [str(allowed / "logs")])["id"], alice)
    made = client.post(f"{JOBS}/{job['id']}/links", json={"name": "matches.txt"}, headers=alice)
    url = made.json()["url"]
    assert client.get(url).status_code == 200
    change = {"current_password": PASSWORD, "new_password": "a new password"}
    assert client.post("/api/v1/me/password", json=change, headers=alice).status_code == 204
    assert client.get(url).status_code == 401


def test_a_percent_encoded_nul_in_a_file_url_is_422(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    body = {
        "pipeline": "grep",
        "inputs": [f"file://{allowed}/logs%00x"],
        "params": {"patterns": ["x"]},
    }
    response = client.post(JOBS, json=body, headers=alice)
    assert response.status_code == 422  # a 500 and a reset connection before
    assert "control characters" in response.json()["detail"]


def test_inputs_not_granted_are_403(
    client: TestClient, alice: dict[str, str], allowed: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_text("ERROR secret\n")
    (allowed / "escape").symlink_to(outside)
    for inputs in (
        [str(outside)],
        ["/etc"],
        [str(allowed / "escape")],
        [f"file://{outside}"],
        [str(allowed / ".." / "outside")],
    ):
        body = {"pipeline": "grep", "inputs": inputs, "params": {"patterns": ["x"]}}
        response = client.post(JOBS, json=body, headers=alice)
        assert response.status_code == 403, inputs
        # It names the input as given, and no other place.
        assert (
            response.json()["detail"] == f"{inputs[0]}: not granted to you (an admin can grant it)"
        )
    assert client.get(JOBS, headers=alice).json()["total"] == 0


def test_preview_says_what_a_job_would_read(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    (allowed / "logs" / "notes.txt").write_text("not a log\n")
    body = {"pipeline": "grep", "inputs": [str(allowed / "logs")], "params": {"patterns": ["E"]}}
    everything = client.post(f"{JOBS}/preview", json=body, headers=alice).json()
    logs = sorted((allowed / "logs").rglob("*.*"))
    assert everything == {
        "files": 3,
        "bytes": sum(p.stat().st_size for p in logs),
        "skipped": 0,
        "sample": [
            str(allowed / "logs" / "app" / "a.log"),
            str(allowed / "logs" / "b.log"),
            str(allowed / "logs" / "notes.txt"),
        ],
    }
    only_logs = {**body, "params": {"patterns": ["E"], "include": ["*.log"]}}
    assert client.post(f"{JOBS}/preview", json=only_logs, headers=alice).json()["files"] == 2
    assert client.get(JOBS, headers=alice).json()["total"] == 0  # nothing submitted
    outside = {**body, "inputs": ["/etc"]}
    assert client.post(f"{JOBS}/preview", json=outside, headers=alice).status_code == 403
    missing = {**body, "inputs": [str(allowed / "nope")]}
    response = client.post(f"{JOBS}/preview", json=missing, headers=alice)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("invalid parameter `inputs`: no such file")


def test_bad_parameters_are_422_naming_the_field(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    cases = [
        ({"pipeline": "grep", "params": {}}, "invalid parameter `patterns`: Field required"),
        ({"pipeline": "grep", "params": {"patterns": ["x"], "context": -1}}, "`context`"),
        ({"pipeline": "grep", "params": {"patterns": ["x"], "bogus": 1}}, "`bogus`"),
        ({"pipeline": "nope", "params": {}}, "unknown pipeline 'nope'"),
    ]
    for body, expected in cases:
        response = client.post(JOBS, json={**body, "inputs": [str(allowed)]}, headers=alice)
        assert response.status_code == 422, response.text
        assert expected in response.json()["detail"]
    response = client.post(JOBS, json={"pipeline": "grep", "inputs": []}, headers=alice)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "inputs"]


def test_what_the_kernel_would_refuse_is_422_at_submit(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    grep = {"pipeline": "grep", "inputs": [str(allowed / "logs")]}
    cases = [
        ({"patterns": ["("]}, 'invalid parameter `patterns`: "(": unclosed group'),
        ({"patterns": ["x"], "max_line_bytes": 1e30}, "invalid parameter `max_line_bytes`"),
        (
            {"patterns": ["x"], "max_line_bytes": 2**40},
            "`max_line_bytes`: at most 268435456 (this server's FUSIONFLOW_MAX_LINE_BYTES_LIMIT)",
        ),
        ({"patterns": ["x"], "max_spill_bytes": 2**62}, "`max_spill_bytes`: at most"),
        ({"patterns": ["x"], "max_decompressed_bytes": 2**62}, "`max_decompressed_bytes`"),
        ({"patterns": ["x"] * 300, "include": ["*" * 4000] * 300}, "`params`: more than"),
    ]
    for params, expected in cases:
        response = client.post(JOBS, json={**grep, "params": params}, headers=alice)
        assert response.status_code == 422, (params, response.text)
        assert expected in response.json()["detail"], response.text
    for pipeline, params in [
        ("csv-aggregate", {"max_row_bytes": 2**40}),
        ("resize-images", {"max_width": 10, "max_pixels": 65535**2}),
        ("extract-text", {"max_file_bytes": 2**41}),
    ]:
        body = {"pipeline": pipeline, "inputs": [str(allowed)], "params": params}
        response = client.post(JOBS, json=body, headers=alice)
        assert response.status_code == 422, response.text
        assert "at most" in response.json()["detail"]
    hook = {**grep, "params": {"patterns": ["x"]}, "notify": {"webhook_url": "http://a b/"}}
    response = client.post(JOBS, json=hook, headers=alice)
    assert response.status_code == 422
    assert "spaces" in response.text
    assert client.get(JOBS, headers=alice).json()["total"] == 0  # nothing was recorded


def test_inputs_per_job_and_their_length_are_bounded(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    logs = str(allowed / "logs")
    for inputs, expected in [
        ([logs] * 1001, "at most 1000 per job (this server's FUSIONFLOW_MAX_JOB_INPUTS)"),
        ([logs + "/" + "x" * 5000], "longer than 4096 characters"),
    ]:
        for path in (JOBS, f"{JOBS}/preview"):
            body = {"pipeline": "grep", "inputs": inputs, "params": {"patterns": ["x"]}}
            response = client.post(path, json=body, headers=alice)
            assert response.status_code == 422, response.text
            assert expected in response.json()["detail"]


def test_listings_summarise_inputs_and_leave_params_out(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    inputs = [str(allowed / "logs" / "b.log")] * 40
    params = {"patterns": [f"pattern number {n}" for n in range(2000)]}
    body = {"pipeline": "grep", "inputs": inputs, "params": params}
    ids = [client.post(JOBS, json=body, headers=alice).json()["id"] for _ in range(12)]
    listing = client.get(JOBS, params={"limit": 12}, headers=alice)
    items = listing.json()["items"]
    assert sorted(item["id"] for item in items) == sorted(ids)
    for item in items:
        assert (item["inputs"], item["inputs_total"], item["params"]) == (inputs[:5], 40, None)
    assert len(listing.content) < 20_000  # 12 summaries, not 12 x 40 inputs and 2000 patterns
    job = client.get(f"{JOBS}/{ids[0]}", headers=alice).json()
    assert (len(job["inputs"]), job["inputs_total"]) == (40, 40)
    assert job["params"]["patterns"] == params["patterns"]
    for job_id in ids:
        wait_for(client, job_id, alice)


def test_listing_filters_sorts_and_pages(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    logs = str(allowed / "logs")
    ids = []
    for name in ("nightly errors", "weekly errors", "adhoc"):
        body = {"pipeline": "grep", "inputs": [logs], "params": {"patterns": ["E"]}, "name": name}
        ids.append(client.post(JOBS, json=body, headers=alice).json()["id"])
    csv_body = {
        "pipeline": "csv-aggregate",
        "inputs": [logs],
        "params": {"group_by": ["a"], "metrics": ["count"]},
    }
    csv = client.post(JOBS, json=csv_body, headers=alice)
    assert csv.status_code == 202, csv.text
    for job_id in [*ids, csv.json()["id"]]:
        wait_for(client, job_id, alice)

    def names(**query: object) -> list[str]:
        page = client.get(JOBS, params=query, headers=alice).json()
        return [job["name"] for job in page["items"]]

    assert names(q="ERRORS", sort="name") == ["nightly errors", "weekly errors"]
    assert names(pipeline="grep", sort="-name") == ["weekly errors", "nightly errors", "adhoc"]
    assert names(pipeline="csv-aggregate") == [csv.json()["name"]]
    assert len(names(status="completed")) + len(names(status="failed")) == 4
    assert names(status="running") == []
    page = client.get(JOBS, params={"limit": 2, "offset": 2, "sort": "created_at"}, headers=alice)
    assert page.json()["total"] == 4
    assert [j["id"] for j in page.json()["items"]] == [ids[2], csv.json()["id"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert names(created_after=future) == []
    assert len(names(created_before=future)) == 4
    assert names(q="100%_") == []  # LIKE wildcards are literal
    assert client.get(JOBS, params={"limit": 0}, headers=alice).status_code == 422
    assert client.get(JOBS, params={"sort": "owner_id"}, headers=alice).status_code == 422


def test_events_stream_progress_until_the_job_finishes(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    job = submit_grep(client, alice, [str(allowed / "logs")])
    events = []
    with client.stream("GET", f"{JOBS}/{job['id']}/events", headers=alice) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    assert events[0][0] == "status"
    assert events[-1][0] == "status"
    assert events[-1][1]["status"] == "completed"
    assert events[-1][1]["progress"] == 100.0
    progress = [data["progress"] for _, data in events]
    assert progress == sorted(progress)


def test_cancel_retry_and_delete(
    client: TestClient, alice: dict[str, str], allowed: Path, api_settings: Settings
) -> None:
    slow = slow_corpus(allowed / "slow")
    job = submit_grep(client, alice, [str(slow)], patterns=[SLOW_PATTERN])
    response = client.get(f"{JOBS}/{job['id']}/summary", headers=alice)
    assert response.status_code == 409  # none before it completes
    assert "has no summary" in response.json()["detail"]
    cancelled = client.post(f"{JOBS}/{job['id']}/cancel", headers=alice)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"{JOBS}/{job['id']}/cancel", headers=alice)
    assert again.status_code == 409
    assert "already finished" in again.json()["detail"]
    assert client.get(f"{JOBS}/{job['id']}/artifacts", headers=alice).json() == []
    retried = client.post(f"{JOBS}/{job['id']}/retry", headers=alice)
    assert retried.status_code == 202
    done = wait_for(client, job["id"], alice, timeout=60)
    assert done["status"] == "completed", done
    assert client.post(f"{JOBS}/{job['id']}/retry", headers=alice).status_code == 409
    output = results_of(api_settings, job["id"])
    assert (output / "matches.txt").is_file()
    assert client.delete(f"{JOBS}/{job['id']}", headers=alice).status_code == 204
    assert not output.exists()
    assert client.get(f"{JOBS}/{job['id']}", headers=alice).status_code == 404


def test_odd_values_are_4xx_on_both_databases(
    client: TestClient, alice: dict[str, str], allowed: Path
) -> None:
    assert (
        client.get(
            JOBS, params={"created_after": "0001-01-01T00:00:00+14:00"}, headers=alice
        ).status_code
        == 422
    )
    assert client.get(JOBS, params={"q": "a\x00b"}, headers=alice).status_code == 422
    assert client.get(f"{JOBS}/a%00b", headers=alice).status_code == 404
    inputs = [str(allowed / "logs")]
    for body in (
        {"pipeline": "grep", "inputs": inputs, "params": {"patterns": ["x"]}, "name": "a\x00"},
        {"pipeline": "grep", "inputs": inputs, "params": {"patterns": ["\x00"]}},
    ):
        response = client.post(JOBS, json=body, headers=alice)
        assert response.status_code == 422
        assert "NUL characters are not allowed" in response.json()["detail"]
    login = client.post("/api/v1/auth/token", data={"username": "a\x00", "password": "x"})
    assert login.status_code == 401
    token = client.post("/api/v1/tokens", json={"name": "a\x00b"}, headers=alice)
    assert token.status_code == 422
    preview = {
        "pipeline": "grep",
        "inputs": [str(allowed / "logs" / "b.log" / "x")],
        "params": {"patterns": ["x"]},
    }
    assert client.post(f"{JOBS}/preview", json=preview, headers=alice).status_code == 422


def test_an_artifact_removed_from_storage_is_404(
    client: TestClient, alice: dict[str, str], allowed: Path, api_settings: Settings
) -> None:
    job = wait_for(client, submit_grep(client, alice, [str(allowed / "logs")])["id"], alice)
    assert "output_url" not in job  # the server's layout is not shown
    (results_of(api_settings, job["id"]) / "matches.txt").unlink()
    response = client.get(f"{JOBS}/{job['id']}/artifacts/matches.txt", headers=alice)
    assert response.status_code == 404
    assert "gone from storage" in response.json()["detail"]
