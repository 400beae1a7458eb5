"""Nobody reads data they were not granted: S3 prefixes and server folders, per user and
group, under the allowed roots; revocations count from the next submit."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fusionflow.api import create_app
from fusionflow.config import Settings
from tests.api.conftest import (
    ADMIN_PASSWORD,
    PASSWORD,
    add_user,
    grant,
    join,
    login,
    results_of,
    submit_grep,
    wait_for,
)
from tests.conftest import s3_settings
from tests.jobs.helpers import SLOW_PATTERN, slow_corpus

JOBS, GRANTS, GROUPS = "/api/v1/jobs", "/api/v1/grants", "/api/v1/groups"
NOT_GRANTED = "not granted to you (an admin can grant it)"


def _grep(inputs: list[str]) -> dict[str, Any]:
    return {"pipeline": "grep", "inputs": inputs, "params": {"patterns": ["SECRET", "ERROR"]}}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bucket_the_server_can_read_is_not_every_users(
    api_settings: Settings, s3_endpoint: str, bucket: str, s3_client: Any
) -> None:
    payroll, lake = f"payroll-{uuid.uuid4().hex[:8]}", f"lake-{uuid.uuid4().hex[:8]}"
    for name in (payroll, lake):
        s3_client.create_bucket(Bucket=name)
    s3_client.put_object(
        Bucket=payroll, Key="2026/salaries.csv", Body=b"who,pay\nceo,9999999 SECRET\n"
    )
    s3_client.put_object(Bucket=lake, Key="prefix/app.log", Body=b"ok\nERROR granted\n")
    s3_client.put_object(Bucket=lake, Key="pre/app.log", Body=b"ERROR next door\n")
    s3_client.put_object(Bucket=lake, Key="prefix-old/app.log", Body=b"ERROR old\n")
    # The server's credentials read every bucket; the ceiling holds both.
    roots = [f"s3://{payroll}", f"s3://{lake}/"]
    settings = s3_settings(
        api_settings, s3_endpoint, storage_url=f"s3://{bucket}/ff", allowed_roots=roots
    )
    with TestClient(create_app(settings)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        alice_id = add_user(client, admin, "alice")
        alice = login(client, "alice", PASSWORD)
        grant(client, admin, f"s3://{lake}/prefix/", user_id=alice_id)

        for refused in (
            f"s3://{payroll}/",
            f"s3://{payroll}/2026/salaries.csv",
            f"s3://{payroll}//2026/",
            f"s3://{lake}/pre",  # starts with the granted prefix, is not under it
            f"s3://{lake}/prefix-old/",
            f"s3://{lake}/",
            f"s3://{lake}/prefix/../pre",  # (malformed: 422, not read either)
        ):
            for route in (JOBS, f"{JOBS}/preview"):
                response = client.post(route, json=_grep([refused]), headers=alice)
                assert response.status_code in (403, 422), (refused, response.text)
                if response.status_code == 403:
                    assert response.json()["detail"] == f"{refused}: {NOT_GRANTED}"
        assert client.get(JOBS, headers=alice).json()["total"] == 0

        preview = client.post(f"{JOBS}/preview", json=_grep([f"s3://{lake}/prefix"]), headers=alice)
        assert preview.json()["files"] == 1, preview.text
        job = submit_grep(client, alice, [f"s3://{lake}//prefix/"], patterns=["ERROR"])
        assert job["inputs"] == [f"s3://{lake}/prefix"]
        assert wait_for(client, job["id"], alice)["status"] == "completed"
        summary = client.get(f"{JOBS}/{job['id']}/summary", headers=alice).json()
        assert summary["matches"] == 1, summary

        # A group's members read what the group was granted.
        bob_id = add_user(client, admin, "bob")
        bob = login(client, "bob", PASSWORD)
        assert client.post(GROUPS, json={"name": "finance"}, headers=admin).status_code == 201
        grant(client, admin, f"s3://{payroll}/2026/", group="finance")
        assert (
            client.post(JOBS, json=_grep([f"s3://{payroll}/2026"]), headers=bob).status_code == 403
        )
        join(client, admin, "finance", bob_id)
        paid = client.post(JOBS, json=_grep([f"s3://{payroll}/2026"]), headers=bob)
        assert paid.status_code == 202, paid.text
        assert wait_for(client, paid.json()["id"], bob)["status"] == "completed"
        assert client.post(JOBS, json=_grep([f"s3://{payroll}/"]), headers=bob).status_code == 403

        # Admins read anything under the ceiling, and nothing outside it; nor can they
        # grant what lies outside.
        everything = client.post(JOBS, json=_grep([f"s3://{payroll}/"]), headers=admin)
        assert everything.status_code == 202
        outside = client.post(JOBS, json=_grep([f"s3://{bucket}-x/"]), headers=admin)
        assert outside.status_code == 403
        assert "outside FUSIONFLOW_ALLOWED_ROOTS" in outside.json()["detail"]
        beyond = client.post(
            GRANTS, json={"location": f"s3://{bucket}-x/", "user_id": alice_id}, headers=admin
        )
        assert beyond.status_code == 422
        assert "outside FUSIONFLOW_ALLOWED_ROOTS" in beyond.json()["detail"]


def test_a_revocation_refuses_the_next_submit_and_spares_the_running_job(
    client: TestClient, admin: dict[str, str], allowed: Path, api_settings: Settings
) -> None:
    slow = slow_corpus(allowed / "slow", files=4)
    carol_id = add_user(client, admin, "carol")
    carol = login(client, "carol", PASSWORD)
    direct = grant(client, admin, slow, user_id=carol_id)
    assert client.post(GROUPS, json={"name": "ops"}, headers=admin).status_code == 201
    grant(client, admin, allowed, group="ops")
    join(client, admin, "ops", carol_id)

    job = submit_grep(client, carol, [str(slow)], patterns=[SLOW_PATTERN, "ERROR in file"])
    held = submit_grep(client, carol, [str(slow)], patterns=[SLOW_PATTERN])
    assert client.post(f"{JOBS}/{held['id']}/cancel", headers=carol).status_code == 200
    deadline = time.monotonic() + 30
    while client.get(f"{JOBS}/{job['id']}", headers=carol).json()["shards_total"] == 0:
        assert time.monotonic() < deadline, "never planned"
        time.sleep(0.02)
    assert client.delete(f"{GRANTS}/{direct['id']}", headers=admin).status_code == 204
    left = client.delete(f"{GROUPS}/ops/members/{carol_id}", headers=admin)
    assert left.status_code == 200
    assert left.json()["members"] == []
    # Planned before, it keeps what it was given: its shards check their files against
    # its inputs, never against the grants (whether it was still running by now depends
    # on the machine's speed; on a busy one it had finished).
    again = client.post(JOBS, json=_grep([str(slow)]), headers=carol)
    assert again.status_code == 403
    assert again.json()["detail"] == f"{slow}: {NOT_GRANTED}"
    # A retry reads again: it needs the grant as it is now.
    retried = client.post(f"{JOBS}/{held['id']}/retry", headers=carol)
    assert retried.status_code == 403
    assert retried.json()["detail"] == f"{slow}: {NOT_GRANTED}"
    assert client.get(f"{JOBS}/{held['id']}", headers=carol).json()["status"] == "cancelled"

    done = wait_for(client, job["id"], carol, timeout=120)
    assert done["status"] == "completed", done
    assert done["files_done"] == 4
    matches = (results_of(api_settings, job["id"]) / "matches.txt").read_text()
    assert sorted(line.rsplit(" ", 1)[1] for line in matches.splitlines()) == ["0", "1", "2", "3"]


def test_no_route_tells_a_user_what_is_granted(
    client: TestClient, admin: dict[str, str], alice: dict[str, str], allowed: Path
) -> None:
    for path in (GRANTS, GROUPS, f"{GROUPS}/staff", f"{GRANTS}?group=staff"):
        response = client.get(path, headers=alice)
        assert response.status_code == 403, path
        assert response.json() == {"detail": "admins only"}
    me = client.get("/api/v1/me", headers=alice).text
    assert str(allowed) not in me
    assert "staff" not in me
    # The refusal of a sibling of the granted folder names no other place.
    sibling = allowed.parent / "elsewhere"
    sibling.mkdir()
    refused = client.post(JOBS, json=_grep([str(sibling)]), headers=alice)
    assert refused.json()["detail"] == f"{sibling}: {NOT_GRANTED}"
    # Admins see them all.
    listed = client.get(GRANTS, headers=admin).json()
    assert [(g["location"], g["group"], g["granted_by"]) for g in listed] == [
        (str(allowed), "staff", "admin")
    ]


def test_grants_and_groups_are_managed_by_admins(
    client: TestClient, admin: dict[str, str], allowed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fusionflow.grants")
    dave = add_user(client, admin, "dave")
    (allowed / "team").mkdir()
    (allowed / "link").symlink_to(allowed / "team")
    made = grant(client, admin, f"{allowed}/link/", user_id=dave)
    assert made["location"] == str(allowed / "team")  # kept canonical, links resolved
    assert (made["user_id"], made["username"], made["group"]) == (dave, "dave", None)
    assert grant(client, admin, allowed / "team", user_id=dave)["id"] == made["id"]  # once
    assert client.get(f"{GRANTS}?user_id={dave}", headers=admin).json() == [made]

    def post(path: str, body: dict[str, Any]) -> tuple[int, str]:
        response = client.post(path, json=body, headers=admin)
        return response.status_code, response.json().get("detail", "")

    assert post(GRANTS, {"location": "logs", "user_id": dave})[0] == 422
    assert post(GRANTS, {"location": "/etc", "user_id": dave})[0] == 422
    assert post(GRANTS, {"location": str(allowed)})[0] == 422  # to nobody
    assert post(GRANTS, {"location": str(allowed), "user_id": dave, "group": "x"})[0] == 422
    assert post(GRANTS, {"location": str(allowed), "user_id": 999_999})[0] == 404
    assert post(GRANTS, {"location": str(allowed), "group": "nobody"})[0] == 404
    assert post(GROUPS, {"name": "team"})[0] == 201
    assert post(GROUPS, {"name": "team"}) == (
        409,
        "invalid parameter `name`: a group 'team' exists",
    )
    assert post(GROUPS, {"name": "../x"})[0] == 422
    assert client.put(f"{GROUPS}/team/members/{dave}", headers=admin).json()["members"] == ["dave"]
    assert client.put(f"{GROUPS}/team/members/999999", headers=admin).status_code == 404
    assert client.put(f"{GROUPS}/nope/members/{dave}", headers=admin).status_code == 404
    to_team = grant(client, admin, allowed, group="team")
    assert client.get(f"{GRANTS}?group=team", headers=admin).json() == [to_team]
    # Removing the group removes its grants; removing a grant twice is a 404.
    assert client.delete(f"{GROUPS}/team", headers=admin).status_code == 204
    assert client.get(f"{GROUPS}/team", headers=admin).status_code == 404
    assert to_team["id"] not in [g["id"] for g in client.get(GRANTS, headers=admin).json()]
    assert client.delete(f"{GRANTS}/{made['id']}", headers=admin).status_code == 204
    assert client.delete(f"{GRANTS}/{made['id']}", headers=admin).status_code == 404
    # Every change is a line in the log: who may read what, and who said so.
    assert [m for m in caplog.messages if m.startswith(f"grant {made['id']}")] == [
        f"grant {made['id']}: {allowed / 'team'} to user dave, by admin",
        f"grant {made['id']}: {allowed / 'team'} to user dave, by admin",  # granted again
        f"grant {made['id']} revoked: {allowed / 'team'}",
    ]
    assert f"group team: user {dave} added" in caplog.messages
    assert "group team deleted, with its grants" in caplog.messages


def test_a_removed_user_takes_their_grants_along(
    client: TestClient, admin: dict[str, str], allowed: Path
) -> None:
    erin = add_user(client, admin, "erin")
    grant(client, admin, allowed, user_id=erin)
    assert client.post(GROUPS, json={"name": "crew"}, headers=admin).status_code == 201
    join(client, admin, "crew", erin)
    assert client.delete(f"/api/v1/users/{erin}", headers=admin).status_code == 204
    # SQLite hands the id out again: the newcomer inherits nothing.
    frank = add_user(client, admin, "frank")
    assert client.get(f"{GRANTS}?user_id={frank}", headers=admin).json() == []
    assert client.get(f"{GROUPS}/crew", headers=admin).json()["members"] == []
    frank_headers = login(client, "frank", PASSWORD)
    refused = client.post(JOBS, json=_grep([str(allowed)]), headers=frank_headers)
    assert refused.status_code == 403
