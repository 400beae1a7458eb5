"""Logins, tokens (JWT and API tokens), the rate limit, and the first admin."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import jwt
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from fusionflow.api import create_app
from fusionflow.api.security import signing_key
from fusionflow.api.throttle import FailureBudget, LoginThrottle
from fusionflow.config import Settings
from fusionflow.errors import InvalidParameter
from tests.api.conftest import ADMIN_PASSWORD, PASSWORD, add_user, login
from tests.servers import redis_server

ME = "/api/v1/me"


def test_login_gives_an_expiring_token_for_the_user(
    client: TestClient, api_settings: Settings, alice: dict[str, str]
) -> None:
    me = client.get(ME, headers=alice).json()
    assert (me["username"], me["role"], me["active"]) == ("alice", "user", True)
    claims = jwt.decode(
        alice["Authorization"].split()[1], api_settings.secret_key, algorithms=["HS256"]
    )
    assert claims["exp"] - claims["iat"] == api_settings.token_ttl_s


def test_requests_without_a_valid_token_are_401(
    client: TestClient, api_settings: Settings, alice: dict[str, str]
) -> None:
    assert client.get(ME).status_code == 401
    assert client.get(ME).headers["www-authenticate"] == "Bearer"
    assert client.get(ME, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    user_id = client.get(ME, headers=alice).json()["id"]
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = jwt.encode(
        {"sub": str(user_id), "iat": past - timedelta(hours=1), "exp": past},
        api_settings.secret_key,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {"sub": str(user_id), "exp": datetime.now(UTC) + timedelta(hours=1)}, "x" * 40
    )
    for token in (expired, forged):
        response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json() == {"detail": "invalid or expired token"}


def test_wrong_passwords_are_401_then_rate_limited(
    client: TestClient, alice: dict[str, str]
) -> None:
    def attempt(password: str, client_headers: dict[str, str] | None = None) -> int:
        data = {"username": "alice", "password": password}
        return client.post("/api/v1/auth/token", data=data, headers=client_headers).status_code

    assert attempt("wrong-one") == 401
    assert attempt(PASSWORD) == 200  # a success clears the count
    assert [attempt("wrong") for _ in range(3)] == [401, 401, 401]
    response = client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 429  # even the right password, for a while
    assert int(response.headers["retry-after"]) > 0
    # Other users are not locked out by alice's failures.
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "nope"}
        ).status_code
        == 401
    )


def test_disabled_users_lose_access_at_once(
    client: TestClient, admin: dict[str, str], alice: dict[str, str]
) -> None:
    alice_id = client.get(ME, headers=alice).json()["id"]
    assert (
        client.patch(f"/api/v1/users/{alice_id}", json={"active": False}, headers=admin).status_code
        == 200
    )
    assert client.get(ME, headers=alice).status_code == 401
    response = client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 401


def test_api_tokens_work_until_revoked_and_are_stored_hashed(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    created = client.post("/api/v1/tokens", json={"name": "nightly script"}, headers=alice)
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("ff_")
    script = {"Authorization": f"Bearer {secret}"}
    assert client.get(ME, headers=script).json()["username"] == "alice"
    listed = client.get("/api/v1/tokens", headers=alice).json()
    assert [t["name"] for t in listed] == ["nightly script"]
    assert "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    token_id = listed[0]["id"]
    # Not bob's to see or revoke.
    assert client.get("/api/v1/tokens", headers=bob).json() == []
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=bob).status_code == 404
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=alice).status_code == 204
    assert client.get(ME, headers=script).status_code == 401


def test_api_tokens_stored_as_digests(client: TestClient, alice: dict[str, str], db) -> None:
    from sqlalchemy import select

    from fusionflow.db import ApiToken

    secret = client.post("/api/v1/tokens", json={"name": "t"}, headers=alice).json()["token"]
    with db.session() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert len(stored) == 1
    assert secret not in stored[0]
    assert len(stored[0]) == 64


def test_an_expired_api_token_is_refused(client: TestClient, alice: dict[str, str], db) -> None:
    from sqlalchemy import update

    from fusionflow.db import ApiToken

    secret = client.post(
        "/api/v1/tokens", json={"name": "short", "expires_in_days": 1}, headers=alice
    ).json()["token"]
    assert client.get(ME, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    with db.session() as session:
        session.execute(
            update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert client.get(ME, headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_changing_ones_password(client: TestClient, alice: dict[str, str]) -> None:
    url = "/api/v1/me/password"
    wrong = {"current_password": "not it", "new_password": "a new password"}
    assert client.post(url, json=wrong, headers=alice).status_code == 403
    short = {"current_password": PASSWORD, "new_password": "short"}
    response = client.post(url, json=short, headers=alice)
    assert response.status_code == 422
    assert "`password`" in response.json()["detail"]
    good = {"current_password": PASSWORD, "new_password": "a new password"}
    assert client.post(url, json=good, headers=alice).status_code == 204
    assert login(client, "alice", "a new password")


def test_a_password_change_ends_every_session_and_token_made_before_it(
    client: TestClient, admin: dict[str, str]
) -> None:
    alice_id = add_user(client, admin, "alice")
    laptop = login(client, "alice", PASSWORD)
    phone = login(client, "alice", PASSWORD)
    made = client.post("/api/v1/tokens", json={"name": "cron"}, headers=laptop).json()
    script = {"Authorization": f"Bearer {made['token']}"}
    assert client.get(ME, headers=script).status_code == 200
    # A role change is not a credential change: everything still holds.
    client.patch(f"/api/v1/users/{alice_id}", json={"role": "user"}, headers=admin)
    assert client.get(ME, headers=phone).status_code == 200

    change = {"current_password": PASSWORD, "new_password": "a new password"}
    assert client.post("/api/v1/me/password", json=change, headers=laptop).status_code == 204
    for headers in (laptop, phone, script):  # 200 with the old credentials before
        assert client.get(ME, headers=headers).status_code == 401
    fresh = login(client, "alice", "a new password")
    assert client.get(ME, headers=fresh).status_code == 200
    renewed = client.post("/api/v1/tokens", json={"name": "cron 2"}, headers=fresh).json()
    assert (
        client.get(ME, headers={"Authorization": f"Bearer {renewed['token']}"}).status_code == 200
    )

    # An admin's reset ends them too.
    reset = client.patch(
        f"/api/v1/users/{alice_id}", json={"password": "reset by admin"}, headers=admin
    )
    assert reset.status_code == 200
    assert client.get(ME, headers=fresh).status_code == 401
    assert (
        client.get(ME, headers={"Authorization": f"Bearer {renewed['token']}"}).status_code == 401
    )
    assert client.get(ME, headers=admin).status_code == 200  # other users are untouched


def test_first_start_creates_an_admin_with_a_generated_password(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(settings)) as client:
        printed = capfd.readouterr().err
        assert "created user 'admin' with password " in printed
        password = printed.split("with password ")[1].split()[0]
        headers = login(client, "admin", password)
        assert client.get(ME, headers=headers).json()["role"] == "admin"
    # Printed once: a second start finds the admin and says nothing.
    with TestClient(create_app(settings)):
        assert "created user" not in capfd.readouterr().err


def test_first_admin_from_the_environment(client: TestClient, admin: dict[str, str]) -> None:
    users = client.get("/api/v1/users", headers=admin).json()
    assert [(u["username"], u["role"]) for u in users] == [("admin", "admin")]
    add_user(client, admin, "carol")
    assert len(client.get("/api/v1/users", headers=admin).json()) == 2


def test_a_deleted_users_token_does_not_pass_to_the_next_holder_of_the_id(
    client: TestClient, admin: dict[str, str]
) -> None:
    carol_id = add_user(client, admin, "carol")
    carol = login(client, "carol", PASSWORD)
    assert client.delete(f"/api/v1/users/{carol_id}", headers=admin).status_code == 204
    dave_id = add_user(client, admin, "dave")  # SQLite hands out carol's id again
    assert client.get(ME, headers=carol).status_code == 401
    assert client.get(ME, headers=login(client, "dave", PASSWORD)).json()["id"] == dave_id


def test_failures_slow_a_client_down_without_locking_anyone_out() -> None:
    throttle = LoginThrottle(max_failures=5, window_s=60, name_max_failures=20)
    for _ in range(5):
        assert throttle.wait("eve", "10.0.0.1", now=0) == 0
        throttle.failed("eve", "10.0.0.1", now=0)
    # Past the budget: one more try per 60 / 5 = 12 s, not a 60 s lockout.
    assert throttle.wait("eve", "10.0.0.1", now=0) == pytest.approx(12)
    assert throttle.wait("eve", "10.0.0.1", now=12) == 0
    assert throttle.wait("EVE", "10.0.0.2", now=0) == 0  # another client; names fold case
    throttle.succeeded("eve", "10.0.0.1")
    assert throttle.wait("eve", "10.0.0.1", now=0) == 0


def test_guessers_everywhere_slow_the_name_but_its_owner_still_gets_in() -> None:
    throttle = LoginThrottle(max_failures=5, window_s=60, name_max_failures=20)
    for i in range(20):  # a botnet: four failures from each of five addresses
        throttle.failed("ada", f"10.0.1.{i // 4}", now=0)
    # Ada at home has never failed, yet waits for the name's slower refill: 60 / 20 = 3 s.
    assert throttle.wait("ada", "192.0.2.7", now=0) == pytest.approx(3)
    assert throttle.wait("ada", "192.0.2.7", now=3) == 0
    assert throttle.wait("bob", "10.0.1.0", now=0) == 0  # other names are untouched


def test_checks_in_progress_are_not_failures() -> None:
    throttle = LoginThrottle(max_failures=5, window_s=60, name_max_failures=20)
    # Ten correct logins at once all start: nothing failed (they were 5 x 429 before).
    assert [throttle.wait("ada", "10.0.0.1", now=0) for _ in range(10)] == [0] * 10


def test_the_throttle_keeps_small_keys_for_any_name() -> None:
    throttle = LoginThrottle(max_failures=5, window_s=60, name_max_failures=20)
    for i in range(150):
        throttle.failed(f"{i}" + "x" * (1 << 20), "10.0.0.1", now=0)  # 1 MB names
    budgets = (throttle._per_client._buckets, throttle._per_name._buckets)
    assert all(len(key) == 16 for key in budgets[1])
    assert all(len(name) == 16 for name, _ in budgets[0])
    small = FailureBudget(1, 60, max_keys=100)
    for i in range(1000):
        small.spend(i, now=0)
    assert len(small._buckets) == 100


def test_throttles_on_one_redis_count_together() -> None:
    with redis_server() as (url, server):
        one, two = (LoginThrottle(5, 60, 20, redis_url=url) for _ in range(2))
        for throttle in (one, two, one, two, one):
            throttle.failed("eve", "10.0.0.1")
        # On Redis's clock: one more try per 12 s, whichever process asks.
        assert one.wait("eve", "10.0.0.1") == pytest.approx(12, abs=0.5)
        assert two.wait("eve", "10.0.0.1") == pytest.approx(12, abs=0.5)
        assert two.wait("eve", "10.0.0.2") == 0
        two.succeeded("eve", "10.0.0.1")
        assert one.wait("eve", "10.0.0.1") == 0
        server.terminate()
        server.wait(10)
        # Redis gone: each process counts alone, and still counts.
        for _ in range(5):
            one.failed("ada", "10.0.0.1")
        assert one.wait("ada", "10.0.0.1") == pytest.approx(12, abs=0.5)
        assert two.wait("ada", "10.0.0.1") == 0


def test_simultaneous_correct_logins_all_succeed(client: TestClient, admin: dict[str, str]) -> None:
    add_user(client, admin, "carol")
    with ThreadPoolExecutor(10) as pool:
        codes = list(
            pool.map(
                lambda _: (
                    client.post(
                        "/api/v1/auth/token", data={"username": "carol", "password": PASSWORD}
                    ).status_code
                ),
                range(10),
            )
        )
    assert codes == [200] * 10


def test_a_full_house_of_password_checks_is_503_with_retry_after(
    api_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fusionflow.accounts

    release = threading.Event()
    started = threading.Event()

    class Held(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            started.set()
            assert release.wait(30)
            return super().verify(hash, password)

    monkeypatch.setattr(fusionflow.accounts, "HASH_WAIT_S", 0.2)
    settings = api_settings.model_copy(update={"password_hashes": 1})
    with TestClient(create_app(settings)) as client, ThreadPoolExecutor(1) as pool:
        monkeypatch.setattr(fusionflow.accounts, "_hasher", Held())
        form = {"username": "admin", "password": ADMIN_PASSWORD}
        first = pool.submit(client.post, "/api/v1/auth/token", data=form)
        assert started.wait(10)
        busy = client.post("/api/v1/auth/token", data={"username": "x", "password": "y" * 9})
        release.set()
        assert first.result(10).status_code == 200
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert "too many password checks" in busy.json()["detail"]


def test_the_generated_signing_key_is_kept_whole_and_short_keys_are_refused(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = signing_key(settings)
    assert len(key) >= 32
    assert signing_key(settings) == key
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]
    with pytest.raises(InvalidParameter, match="at least 32 characters"):
        signing_key(Settings(data_dir=tmp_path, secret_key="short"))
