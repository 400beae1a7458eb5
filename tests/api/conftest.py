"""An API on an isolated installation (both databases), and logged-in clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fusionflow import storage
from fusionflow.api import create_app
from fusionflow.config import Settings

ADMIN_PASSWORD = "admin-password"
PASSWORD = "user-password"


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    """The one server folder jobs may read, with a few logs in it."""
    root = tmp_path / "allowed"
    (root / "logs" / "app").mkdir(parents=True)
    (root / "logs" / "app" / "a.log").write_text("start\nERROR disk full\nok\nFATAL oom\n")
    (root / "logs" / "b.log").write_text("nothing\nERROR again\n")
    return root


@pytest.fixture
def api_settings(settings: Settings, allowed: Path) -> Settings:
    return settings.model_copy(
        update={
            "admin_password": ADMIN_PASSWORD,
            "allowed_roots": [allowed],
            "secret_key": "test-secret-key-of-enough-length-for-hs256",
            "login_max_failures": 3,
        }
    )


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    """The API with its lifespan run (executor started, first admin created)."""
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    """Headers of the first admin."""
    return login(client, "admin", ADMIN_PASSWORD)


def add_user(client: TestClient, admin: dict[str, str], name: str, role: str = "user") -> int:
    response = client.post(
        "/api/v1/users", json={"username": name, "password": PASSWORD, "role": role}, headers=admin
    )
    assert response.status_code == 201, response.text
    user_id: int = response.json()["id"]
    return user_id


@pytest.fixture
def staff(client: TestClient, admin: dict[str, str], allowed: Path) -> str:
    """A group granted the allowed folder."""
    assert client.post("/api/v1/groups", json={"name": "staff"}, headers=admin).status_code == 201
    grant(client, admin, allowed, group="staff")
    return "staff"


def grant(client: TestClient, admin: dict[str, str], location: object, **grantee: object) -> dict:
    """Grant ``location`` to ``user_id=…`` or ``group=…``."""
    response = client.post(
        "/api/v1/grants", json={"location": str(location), **grantee}, headers=admin
    )
    assert response.status_code == 201, response.text
    found: dict = response.json()
    return found


def join(client: TestClient, admin: dict[str, str], group: str, user_id: int) -> None:
    response = client.put(f"/api/v1/groups/{group}/members/{user_id}", headers=admin)
    assert response.status_code == 200, response.text


@pytest.fixture
def alice(client: TestClient, admin: dict[str, str], staff: str) -> dict[str, str]:
    """Headers of an ordinary user, in the group ``staff``."""
    join(client, admin, staff, add_user(client, admin, "alice"))
    return login(client, "alice", PASSWORD)


@pytest.fixture
def bob(client: TestClient, admin: dict[str, str], staff: str) -> dict[str, str]:
    """Headers of another ordinary user, in the group ``staff``."""
    join(client, admin, staff, add_user(client, admin, "bob"))
    return login(client, "bob", PASSWORD)


def wait_for(client: TestClient, job_id: str, headers: dict[str, str], timeout: float = 30) -> dict:
    """Poll the job until it has finished; return it."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def results_of(settings: Settings, job_id: str) -> Path:
    """Where a job's outputs are stored (local storage), which the API does not show."""
    return storage.local_path(storage.join(settings.storage, "results", job_id))


def submit_grep(
    client: TestClient, headers: dict[str, str], inputs: list[str], **params: object
) -> dict:
    body = {"pipeline": "grep", "inputs": inputs, "params": {"patterns": ["ERROR"], **params}}
    response = client.post("/api/v1/jobs", json=body, headers=headers)
    assert response.status_code == 202, response.text
    job: dict = response.json()
    return job
