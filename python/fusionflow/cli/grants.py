"""``fusionflow grants ...`` and ``fusionflow groups ...``: which locations users may read
(for admins of the server, on its database, as ``fusionflow users`` works)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from fusionflow.cli.users import server_database

if TYPE_CHECKING:
    from fusionflow.accounts import Accounts
    from fusionflow.grants import Grants


@contextmanager
def _services() -> Iterator[tuple[Grants, Accounts]]:
    from fusionflow.accounts import Accounts
    from fusionflow.grants import Grants

    with server_database() as (db, settings):
        yield Grants(db, settings), Accounts(db)


@click.group()
def grants() -> None:
    """Server folders and s3:// prefixes that users, or groups of them, may read."""


@grants.command("list")
@click.option("--user", "username", help="Only those granted to this user (directly).")
@click.option("--group", help="Only those granted to this group.")
@click.option("--json", "as_json", is_flag=True, help="Print the grants as JSON.")
def list_grants(username: str | None, group: str | None, as_json: bool) -> None:
    """List the grants: id, location, and to whom."""
    with _services() as (store, accounts):
        user_id = accounts.get(username).id if username else None
        found = store.find(user_id=user_id, group=group)
    if as_json:
        click.echo(json.dumps([g.model_dump(mode="json") for g in found], indent=2))
        return
    for item in found:
        click.echo(f"{item.id}\t{item.location}\t{item.grantee}")


@grants.command("add")
@click.argument("location")
@click.option("--user", "username", help="Grant it to this user…")
@click.option("--group", help="…or to the members of this group.")
def add(location: str, username: str | None, group: str | None) -> None:
    """Let a user or a group read LOCATION (a server folder or s3:// prefix under
    FUSIONFLOW_ALLOWED_ROOTS) and all under it, read-only."""
    if (username is None) == (group is None):
        raise click.UsageError("give --user or --group")
    with _services() as (store, accounts):
        user_id = accounts.get(username).id if username else None
        made = store.grant(location, user_id=user_id, group=group, granted_by="cli")
    click.echo(f"granted {made.location} to {made.grantee} (grant {made.id})")


@grants.command("remove")
@click.argument("grant_id", type=int)
def remove(grant_id: int) -> None:
    """Take back a grant (by its id, from `grants list`). Jobs submitted before keep it."""
    with _services() as (store, _):
        store.revoke(grant_id)
    click.echo(f"removed grant {grant_id}")


@click.group()
def groups() -> None:
    """Groups of users: a grant to a group is a grant to each of its members."""


@groups.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
def list_groups(as_json: bool) -> None:
    """List the groups and their members."""
    with _services() as (store, _):
        found = store.groups()
    if as_json:
        click.echo(json.dumps([g.model_dump(mode="json") for g in found], indent=2))
        return
    for group in found:
        click.echo(f"{group.name}\t{' '.join(group.members)}")


@groups.command("create")
@click.argument("name")
def create(name: str) -> None:
    """Make an empty group."""
    with _services() as (store, _):
        store.create_group(name)
    click.echo(f"created group {name}")


@groups.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Remove a group, with its memberships and its grants."""
    with _services() as (store, _):
        store.delete_group(name)
    click.echo(f"deleted group {name}")


@groups.command("add")
@click.argument("name")
@click.argument("usernames", nargs=-1, required=True)
def add_members(name: str, usernames: tuple[str, ...]) -> None:
    """Add users to a group."""
    _change_members(name, usernames, lambda store, user: store.add_member(name, user), "added")


@groups.command("remove")
@click.argument("name")
@click.argument("usernames", nargs=-1, required=True)
def remove_members(name: str, usernames: tuple[str, ...]) -> None:
    """Take users out of a group (from their next submit)."""
    _change_members(name, usernames, lambda store, user: store.remove_member(name, user), "removed")


def _change_members(
    name: str, usernames: tuple[str, ...], change: Callable[[Grants, int], object], done: str
) -> None:
    with _services() as (store, accounts):
        for username in usernames:
            change(store, accounts.get(username).id)
    click.echo(f"{name}: {done} {' '.join(usernames)}")
