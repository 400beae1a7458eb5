"""``fusionflow users ...``: manage accounts (for admins of the server)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from fusionflow.accounts import Accounts
    from fusionflow.config import Settings
    from fusionflow.db import Database


@contextmanager
def server_database() -> Iterator[tuple[Database, Settings]]:
    """The server's database (migrated) and settings, for the admin commands."""
    from fusionflow.config import get_settings
    from fusionflow.db import Database, migrate

    settings = get_settings()
    migrate.upgrade_server(settings)
    db = Database(settings.database)
    try:
        yield db, settings
    finally:
        db.dispose()


@contextmanager
def _accounts() -> Iterator[Accounts]:
    from fusionflow.accounts import Accounts

    with server_database() as (db, _):
        yield Accounts(db)


@click.group()
def users() -> None:
    """User accounts of the server (the database of DATABASE_URL or the data dir)."""


@users.command()
@click.argument("username")
@click.option("--role", type=click.Choice(["user", "admin"]), default="user", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(username: str, role: str, password_stdin: bool) -> None:
    """Create a user; asks for the password unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _accounts() as accounts:
        user = accounts.create(username, password, role)
    click.echo(f"created {user.role} {user.username}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
def list_users(as_json: bool) -> None:
    """List the users."""
    with _accounts() as accounts:
        found = accounts.list()
    if as_json:
        click.echo(json.dumps([u.model_dump() for u in found], indent=2))
        return
    for user in found:
        state = "" if user.active else " (disabled)"
        click.echo(f"{user.username}\t{user.role}{state}")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(["user", "admin"]))
def set_role(username: str, role: str) -> None:
    """Make a user an admin, or a user again."""
    with _accounts() as accounts:
        user = accounts.set_role(username, role)
    click.echo(f"{user.username} is now {user.role}")


@users.command()
@click.argument("username")
def disable(username: str) -> None:
    """Stop a user from logging in (their jobs and results are kept)."""
    _set_active(username, False)


@users.command()
@click.argument("username")
def enable(username: str) -> None:
    """Let a disabled user log in again."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    with _accounts() as accounts:
        accounts.set_active(username, active)
    click.echo(f"{username} {'enabled' if active else 'disabled'}")
