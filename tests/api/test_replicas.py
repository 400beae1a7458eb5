"""Two `fusionflow serve` processes on one PostgreSQL and one Redis behave as one API:
a login made on either works on both, a password change or a disabled account ends
sessions on both, the login limit counts failures wherever they were answered, and a
job's events stream from either."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg
import pytest

from fusionflow.config import normalize_database_url
from tests.api.conftest import ADMIN_PASSWORD
from tests.api.processes import base_env, serve
from tests.jobs.helpers import slow_corpus
from tests.jobs.workers import Workers
from tests.servers import a_redis

PASSWORD = "carol's long password"
TOKEN = "/api/v1/auth/token"


@pytest.fixture
def replica_env(tmp_path: Path, postgres_admin_url: str) -> Iterator[dict[str, str]]:
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    with a_redis() as redis_url:
        yield {
            **base_env(tmp_path / "data"),
            "DATABASE_URL": normalize_database_url(f"{postgres_admin_url}/{name}"),
            "REDIS_URL": redis_url,
            "FUSIONFLOW_SECRET_KEY": "one key for every replica, 40 characters",
            "FUSIONFLOW_ALLOWED_ROOTS": str(tmp_path),
        }


@pytest.fixture
def replicas(replica_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[httpx.Client, ...]]:
    with ExitStack() as stack:
        urls = [stack.enter_context(serve(replica_env, tmp_path)) for _ in range(2)]
        yield tuple(
            stack.enter_context(httpx.Client(base_url=f"{url}/api/v1", timeout=30)) for url in urls
        )


def _login(api: httpx.Client, username: str, password: str) -> httpx.Response:
    return api.post("/auth/token", data={"username": username, "password": password})


def _bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_sessions_begin_and_end_on_either_replica(replicas: tuple[httpx.Client, ...]) -> None:
    a, b = replicas
    admin = _bearer(_login(a, "admin", ADMIN_PASSWORD))
    carol = a.post("/users", json={"username": "carol", "password": PASSWORD}, headers=admin)
    assert carol.status_code == 201, carol.text
    on_b = _bearer(_login(b, "carol", PASSWORD))
    assert a.get("/me", headers=on_b).json()["username"] == "carol"
    api_token = a.post("/tokens", json={"name": "script"}, headers=on_b).json()["token"]
    assert b.get("/me", headers={"Authorization": f"Bearer {api_token}"}).status_code == 200

    # A password change on A ends the session made on B, there and on A.
    change = {"current_password": PASSWORD, "new_password": PASSWORD + "!"}
    assert a.post("/me/password", json=change, headers=on_b).status_code == 204
    assert b.get("/me", headers=on_b).status_code == 401
    assert a.get("/me", headers=on_b).status_code == 401

    # Disabled on B: the new session and the API token end on A at once.
    fresh = _bearer(_login(a, "carol", PASSWORD + "!"))
    scripted = {"Authorization": f"Bearer {api_token}"}
    assert b.patch(f"/users/{carol.json()['id']}", json={"active": False}, headers=admin).is_success
    assert a.get("/me", headers=fresh).status_code == 401
    assert a.get("/me", headers=scripted).status_code == 401


def test_the_login_limit_counts_failures_on_every_replica(
    replicas: tuple[httpx.Client, ...],
) -> None:
    a, b = replicas
    # Five failures allowed per name and client (FUSIONFLOW_LOGIN_MAX_FAILURES): three
    # answered by A and two by B are five for both.
    for api in (a, b, a, b, a):
        assert _login(api, "admin", "wrong guess").status_code == 401
    for api in (a, b):
        refused = _login(api, "admin", "wrong guess")
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) > 0
    # Other names are untouched.
    assert _login(b, "nobody", "wrong guess").status_code == 401


def test_a_job_submitted_on_one_replica_streams_from_the_other(
    replicas: tuple[httpx.Client, ...], replica_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = replicas
    workers = Workers(replica_env, tmp_path)
    try:
        admin = _bearer(_login(a, "admin", ADMIN_PASSWORD))
        root = slow_corpus(tmp_path / "logs", files=4)
        body = {"pipeline": "grep", "inputs": [str(root)], "params": {"patterns": ["ERROR"]}}
        # No worker yet: the job waits until the stream on the other replica has shown it
        # pending, however slow the machine (a worker started first may finish it before).
        job = a.post("/jobs", json=body, headers=admin).json()
        seen = []
        with b.stream("GET", f"/jobs/{job['id']}/events", headers=admin) as events:
            for line in events.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: "))["status"])
                    if len(seen) == 1:
                        workers.start()
        assert seen[0] == "pending", seen
        assert seen[-1] == "completed", seen
        assert a.get(f"/jobs/{job['id']}", headers=admin).json()["files_done"] == 4
    finally:
        workers.stop_all()
