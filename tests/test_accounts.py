"""Accounts on SQLite and PostgreSQL: Argon2 hashes, roles, disabling, and the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from fusionflow.accounts import Accounts, Overloaded, UserNotFound
from fusionflow.config import Settings
from fusionflow.db import Database, User
from fusionflow.errors import InvalidParameter


def test_passwords_are_argon2_hashes_and_check_out(db: Database) -> None:
    accounts = Accounts(db)
    ada = accounts.create("ada", "correct horse", "admin")
    assert (ada.username, ada.role, ada.active) == ("ada", "admin", True)
    with db.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ada"))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert accounts.authenticate("ada", "correct horse") == ada
    assert accounts.authenticate("ada", "wrong horse") is None
    assert accounts.authenticate("nobody", "correct horse") is None


def test_bad_input_is_refused_with_the_field_named(db: Database) -> None:
    accounts = Accounts(db)
    accounts.create("bob", "long enough")
    with pytest.raises(InvalidParameter, match="`username`: 'bob' is taken"):
        accounts.create("bob", "another password")
    with pytest.raises(InvalidParameter, match="`username`"):
        accounts.create("../etc", "long enough")
    with pytest.raises(InvalidParameter, match="`password`: 8 to 1024 characters"):
        accounts.create("carol", "short")
    with pytest.raises(InvalidParameter, match="`role`"):
        accounts.create("carol", "long enough", "root")
    with pytest.raises(UserNotFound, match="no user named 'zed'"):
        accounts.set_role("zed", "admin")


def test_roles_and_disabling(db: Database) -> None:
    accounts = Accounts(db)
    accounts.create("dan", "long enough")
    assert accounts.set_role("dan", "admin").role == "admin"
    accounts.set_active("dan", False)
    assert accounts.authenticate("dan", "long enough") is None  # disabled: no login
    accounts.set_active("dan", True)
    assert accounts.authenticate("dan", "long enough") is not None
    assert [u.username for u in accounts.list()] == ["dan"]


def run_cli(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("fusionflow")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database}
    return subprocess.run(
        [script, "users", *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )


def test_users_cli(settings: Settings) -> None:
    created = run_cli(
        settings, "create", "erin", "--role", "admin", "--password-stdin", stdin="s3cret-pass\n"
    )
    assert (created.returncode, created.stdout) == (0, "created admin erin\n"), created.stderr
    # The server's cost, argon2-cffi's defaults (RFC 9106's low-memory profile); the tests'
    # own processes hash at the cheapest (tests/conftest.py).
    database = Database(settings.database)
    with database.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "erin"))
    database.dispose()
    assert stored is not None
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    assert run_cli(settings, "set-role", "erin", "user").stdout == "erin is now user\n"
    assert run_cli(settings, "disable", "erin").returncode == 0
    assert run_cli(settings, "list").stdout == "erin\tuser (disabled)\n"
    again = run_cli(settings, "create", "erin", "--password-stdin", stdin="s3cret-pass\n")
    assert again.returncode == 2
    assert again.stderr == "error: invalid parameter `username`: 'erin' is taken\n"
    missing = run_cli(settings, "enable", "nobody")
    assert (missing.returncode, missing.stderr) == (2, "error: no user named 'nobody'\n")


class HeldHasher(PasswordHasher):
    """Argon2 whose checks wait for ``release`` (and say when one started): a password
    check caught in the middle."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.started.set()
        assert self.release.wait(30)
        return super().verify(hash, password)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldHasher]:
    import fusionflow.accounts

    hasher = HeldHasher()
    monkeypatch.setattr(fusionflow.accounts, "_hasher", hasher)
    yield hasher
    hasher.release.set()


@pytest.mark.parametrize("name", ["ada", "made-up-name"])
def test_a_password_check_holds_no_transaction(db: Database, held: HeldHasher, name: str) -> None:
    accounts = Accounts(db)
    ada = accounts.create("ada", "correct horse")
    with ThreadPoolExecutor(1) as pool:
        checking = pool.submit(accounts.authenticate, name, "correct horse")
        assert held.started.wait(10)
        # Mid-check, writes go through at once (the check used to hold SQLite's write
        # lock, and a flood of logins made every write wait, then fail "database is locked").
        started = time.monotonic()
        accounts.create_token(ada.id, "during a login")
        accounts.update(ada.id, role="admin")
        assert time.monotonic() - started < 2
        assert not checking.done()
        held.release.set()
        assert (checking.result(10) is not None) == (name == "ada")


def test_hashes_at_once_are_bounded_and_the_rest_told_to_come_back(
    db: Database, held: HeldHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fusionflow.accounts

    monkeypatch.setattr(fusionflow.accounts, "HASH_WAIT_S", 0.2)
    accounts = Accounts(db, hashes_at_once=1)
    accounts.create("ada", "correct horse")
    most = fusionflow.accounts.MAX_WAITING
    with ThreadPoolExecutor(1) as pool, ThreadPoolExecutor(most) as pool2:
        first = pool.submit(accounts.authenticate, "ada", "correct horse")
        assert held.started.wait(10)
        with pytest.raises(Overloaded):  # after HASH_WAIT_S, not queued without end
            accounts.authenticate("made-up", "whatever-password")
        # And never more waiting than MAX_WAITING: the rest at once.
        monkeypatch.setattr(fusionflow.accounts, "HASH_WAIT_S", 5.0)
        waiting = [pool2.submit(accounts.authenticate, "x", "y" * 9) for _ in range(most)]
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(Overloaded):
            accounts.authenticate("made-up", "whatever-password")
        assert time.monotonic() - started < 0.5
        monkeypatch.setattr(fusionflow.accounts, "HASH_WAIT_S", 0.2)
        with pytest.raises(Overloaded):  # setting a password needs a slot too
            accounts.create("bob", "long enough")
        held.release.set()
        assert first.result(10) is not None
        assert [w.result(10) for w in waiting] == [None] * most  # they got their turn
    assert accounts.authenticate("ada", "correct horse") is not None  # the slot came back


def test_an_overlong_password_is_refused_and_never_matches(db: Database) -> None:
    accounts = Accounts(db)
    with pytest.raises(InvalidParameter, match="8 to 1024 characters"):
        accounts.create("ada", "x" * 1025)
    accounts.create("ada", "x" * 1024)
    assert accounts.authenticate("ada", "x" * 1024) is not None
    assert accounts.authenticate("ada", "x" * 1_000_000) is None
