"""Every route's permissions: who may call it, and whose resources it reaches.

The table below must name every route of the API (a test checks it), so a new route
cannot go without a permission test.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import submit_grep, wait_for

# (method, path, who): "public", "user" (any logged-in user, own data only),
# "owner" (a resource of the caller's: someone else's is 404; admins reach all jobs),
# "admin".
ROUTES = [
    ("POST", "/api/v1/auth/token", "public"),
    ("GET", "/api/v1/me", "user"),
    ("POST", "/api/v1/me/password", "user"),
    ("GET", "/api/v1/me/notify", "user"),
    ("PUT", "/api/v1/me/notify", "user"),
    ("GET", "/api/v1/tokens", "user"),
    ("POST", "/api/v1/tokens", "user"),
    ("DELETE", "/api/v1/tokens/{token_id}", "owner"),
    ("GET", "/api/v1/users", "admin"),
    ("POST", "/api/v1/users", "admin"),
    ("GET", "/api/v1/users/{user_id}", "admin"),
    ("PATCH", "/api/v1/users/{user_id}", "admin"),
    ("DELETE", "/api/v1/users/{user_id}", "admin"),
    ("GET", "/api/v1/grants", "admin"),
    ("POST", "/api/v1/grants", "admin"),
    ("DELETE", "/api/v1/grants/{grant_id}", "admin"),
    ("GET", "/api/v1/groups", "admin"),
    ("POST", "/api/v1/groups", "admin"),
    ("GET", "/api/v1/groups/{name}", "admin"),
    ("DELETE", "/api/v1/groups/{name}", "admin"),
    ("PUT", "/api/v1/groups/{name}/members/{user_id}", "admin"),
    ("DELETE", "/api/v1/groups/{name}/members/{user_id}", "admin"),
    ("POST", "/api/v1/uploads", "user"),
    ("GET", "/api/v1/uploads", "user"),
    ("DELETE", "/api/v1/uploads/{batch}", "owner"),
    ("GET", "/api/v1/pipelines", "user"),
    ("GET", "/api/v1/pipelines/{name}", "user"),
    ("POST", "/api/v1/jobs", "user"),
    ("POST", "/api/v1/jobs/preview", "user"),
    ("GET", "/api/v1/jobs", "user"),
    ("GET", "/api/v1/jobs/{job_id}", "owner"),
    ("GET", "/api/v1/jobs/{job_id}/events", "owner"),
    ("POST", "/api/v1/jobs/{job_id}/cancel", "owner"),
    ("POST", "/api/v1/jobs/{job_id}/retry", "owner"),
    ("DELETE", "/api/v1/jobs/{job_id}", "owner"),
    ("GET", "/api/v1/jobs/{job_id}/summary", "owner"),
    ("GET", "/api/v1/jobs/{job_id}/artifacts", "owner"),
    ("GET", "/api/v1/jobs/{job_id}/artifacts/{name}", "owner"),
    ("POST", "/api/v1/jobs/{job_id}/links", "owner"),
    ("GET", "/api/v1/notifications", "user"),
    ("POST", "/api/v1/notifications/read-all", "user"),
    ("POST", "/api/v1/notifications/{notification_id}/read", "owner"),
    ("GET", "/healthz", "public"),
    ("GET", "/readyz", "public"),
    ("GET", "/metrics", "public"),
]


def test_the_table_names_every_route(client: TestClient) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in client.get("/openapi.json").json()["paths"].items()
        for method in operations
    }
    assert documented == {(method, path) for method, path, _ in ROUTES}


def test_every_route_but_the_public_ones_needs_a_token(client: TestClient) -> None:
    for method, path, who in ROUTES:
        if who == "public":
            continue
        url = _fill(
            path,
            job_id="x",
            token_id=1,
            user_id=1,
            batch="x",
            name="x",
            notification_id=1,
            grant_id=1,
        )
        response = client.request(method, url)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"detail": "not authenticated"}


def test_admin_routes_are_403_for_users(client: TestClient, alice: dict[str, str]) -> None:
    for method, path, who in ROUTES:
        if who == "admin":
            url = _fill(path, user_id=1, grant_id=1, name="staff")
            response = client.request(method, url, headers=alice, json={})
            assert response.status_code == 403, (method, path)


def test_other_users_resources_are_404(
    client: TestClient,
    admin: dict[str, str],
    alice: dict[str, str],
    bob: dict[str, str],
    allowed: Path,
) -> None:
    job = wait_for(client, submit_grep(client, alice, [str(allowed / "logs")])["id"], alice)
    assert job["status"] == "completed"
    ids = {
        "job_id": job["id"],
        "name": "matches.txt",
        "token_id": client.post("/api/v1/tokens", json={"name": "t"}, headers=alice).json()["id"],
        "batch": client.post(
            "/api/v1/uploads", files={"files": ("a.log", b"x\n")}, headers=alice
        ).json()[0]["batch"],
        "notification_id": client.get("/api/v1/notifications", headers=alice).json()["items"][0][
            "id"
        ],
    }
    owner_routes = [(m, p) for m, p, who in ROUTES if who == "owner"]
    body = {"name": "matches.txt"}  # for the routes that take one
    for method, path in owner_routes:
        response = client.request(method, _fill(path, **ids), headers=bob, json=body)
        assert response.status_code == 404, (method, path, response.text)
    # Admins reach every job (read-only routes here; the rest have their own tests).
    for method, path in owner_routes:
        if path.startswith("/api/v1/jobs/") and method == "GET":
            response = client.request(method, _fill(path, **ids), headers=admin)
            assert response.status_code == 200, (method, path, response.text)
    # And alice still has everything.
    for method, path in owner_routes:
        if method == "GET":
            assert client.request(method, _fill(path, **ids), headers=alice).status_code == 200
    # Lists hold only the caller's own.
    assert client.get("/api/v1/jobs", headers=bob).json()["total"] == 0
    assert client.get("/api/v1/jobs", headers=alice).json()["total"] == 1
    assert client.get("/api/v1/jobs", headers=admin).json()["total"] == 1
    assert client.get("/api/v1/uploads", headers=bob).json() == []
    assert client.get("/api/v1/notifications", headers=bob).json()["items"] == []
    # An admin may narrow the list to one owner; a user's owner filter is always themself.
    alice_id = client.get("/api/v1/me", headers=alice).json()["id"]
    bob_id = client.get("/api/v1/me", headers=bob).json()["id"]
    assert client.get(f"/api/v1/jobs?owner={bob_id}", headers=admin).json()["total"] == 0
    assert client.get(f"/api/v1/jobs?owner={alice_id}", headers=admin).json()["total"] == 1
    assert client.get(f"/api/v1/jobs?owner={alice_id}", headers=bob).json()["total"] == 0
    # Admins manage every job: delete alice's.
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=alice).status_code == 404


def _fill(path: str, **values: object) -> str:
    for key, value in values.items():
        path = path.replace("{" + key + "}", str(value))
    return path
