"""Accounts on SQLite and PostgreSQL: Argon2 hashes, roles, disabling, and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from fusionflow.accounts import Accounts, UserNotFound
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
    with pytest.raises(InvalidParameter, match="`password`: at least 8"):
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
    assert run_cli(settings, "set-role", "erin", "user").stdout == "erin is now user\n"
    assert run_cli(settings, "disable", "erin").returncode == 0
    assert run_cli(settings, "list").stdout == "erin\tuser (disabled)\n"
    again = run_cli(settings, "create", "erin", "--password-stdin", stdin="s3cret-pass\n")
    assert again.returncode == 2
    assert again.stderr == "error: invalid parameter `username`: 'erin' is taken\n"
    missing = run_cli(settings, "enable", "nobody")
    assert (missing.returncode, missing.stderr) == (2, "error: no user named 'nobody'\n")
