"""Admins manage users: create, list, change role or password, disable, delete."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD, add_user, login

USERS = "/api/v1/users"


def test_admin_creates_lists_updates_and_deletes_users(
    client: TestClient, admin: dict[str, str]
) -> None:
    dave = add_user(client, admin, "dave")
    assert client.get(f"{USERS}/{dave}", headers=admin).json()["username"] == "dave"
    promoted = client.patch(f"{USERS}/{dave}", json={"role": "admin"}, headers=admin)
    assert promoted.json()["role"] == "admin"
    dave_headers = login(client, "dave", PASSWORD)
    assert client.get(USERS, headers=dave_headers).status_code == 200  # now an admin
    reset = client.patch(f"{USERS}/{dave}", json={"password": "reset password"}, headers=admin)
    assert reset.status_code == 200
    assert login(client, "dave", "reset password")
    assert client.delete(f"{USERS}/{dave}", headers=admin).status_code == 204
    assert client.get(f"{USERS}/{dave}", headers=admin).status_code == 404
    assert client.get("/api/v1/me", headers=dave_headers).status_code == 401
    assert [u["username"] for u in client.get(USERS, headers=admin).json()] == ["admin"]


def test_bad_user_input_is_422_naming_the_field(client: TestClient, admin: dict[str, str]) -> None:
    add_user(client, admin, "erin")
    cases = [
        ({"username": "erin", "password": PASSWORD}, "`username`: 'erin' is taken"),
        ({"username": "../x", "password": PASSWORD}, "`username`"),
        ({"username": "fred", "password": "short"}, "`password`"),
    ]
    for body, expected in cases:
        response = client.post(USERS, json=body, headers=admin)
        assert response.status_code == 422
        assert expected in response.json()["detail"]
    response = client.post(
        USERS, json={"username": "fred", "password": PASSWORD, "role": "root"}, headers=admin
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "role"]


def test_admins_cannot_lock_themselves_out(client: TestClient, admin: dict[str, str]) -> None:
    me = client.get("/api/v1/me", headers=admin).json()["id"]
    assert client.patch(f"{USERS}/{me}", json={"role": "user"}, headers=admin).status_code == 409
    assert client.patch(f"{USERS}/{me}", json={"active": False}, headers=admin).status_code == 409
    assert client.delete(f"{USERS}/{me}", headers=admin).status_code == 409
    assert client.get("/api/v1/me", headers=admin).json()["role"] == "admin"


def test_unknown_users_are_404(client: TestClient, admin: dict[str, str]) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, f"{USERS}/9999", headers=admin, json={})
        assert response.status_code == 404
        assert response.json() == {"detail": "no user with id 9999"}
