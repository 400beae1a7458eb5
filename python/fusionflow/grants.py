"""Who may read what: groups of users, and the locations (server folders and ``s3://``
prefixes) granted to a user or a group, read-only. Admins manage them; ``fusionflow.access``
checks inputs against them.

Locations are kept canonical (``access.canonical_location``) and only under
``FUSIONFLOW_ALLOWED_ROOTS``, the ceiling of every grant. Removing a grant or a membership
counts from the next submit: a job keeps what it was given when it was submitted.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fusionflow.access import canonical_location, under_ceiling
from fusionflow.accounts import UserNotFound
from fusionflow.config import Settings
from fusionflow.db import Database, Grant, Group, GroupMember, User
from fusionflow.errors import InvalidParameter

log = logging.getLogger(__name__)

GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# The group an upgrade from before grants puts every user in (migration 0006).
EVERYONE = "all-users"
MAX_LOCATION = 4096


class GroupInfo(BaseModel):
    name: str
    members: list[str]  # usernames
    created_at: datetime


class GrantInfo(BaseModel):
    id: int
    location: str
    user_id: int | None = None
    username: str | None = None
    group: str | None = None
    granted_by: str
    created_at: datetime

    @property
    def grantee(self) -> str:
        """``user <name>`` or ``group <name>``."""
        return f"group {self.group}" if self.group is not None else f"user {self.username}"


class GroupNotFound(LookupError):
    """No group has this name."""


class GrantNotFound(LookupError):
    """No grant has this id."""


class GroupExists(InvalidParameter):
    """A group of this name exists (HTTP 409)."""


class Grants:
    """Groups and grants on a database, for the server with these settings."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # -- what a user may read ----------------------------------------------------------

    def locations_for(self, user_id: int) -> list[str]:
        """The locations granted to the user, directly or through their groups."""
        their_groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(Grant.location)
                    .where(or_(Grant.user_id == user_id, Grant.group_id.in_(their_groups)))
                    .distinct()
                )
            )

    # -- grants ------------------------------------------------------------------------

    def grant(
        self,
        location: str,
        *,
        user_id: int | None = None,
        group: str | None = None,
        granted_by: str = "",
    ) -> GrantInfo:
        """Let the user, or the group's members, read ``location`` and what lies under
        it. Granting what is granted already returns that grant."""
        if (user_id is None) == (group is None):
            raise InvalidParameter("invalid parameter `user_id`: give a user or a group, not both")
        if len(location) > MAX_LOCATION:
            raise InvalidParameter(
                f"invalid parameter `location`: longer than {MAX_LOCATION} characters"
            )
        place = canonical_location(location)
        if not under_ceiling(self.settings, place):
            roots = os.pathsep.join(map(os.fspath, self.settings.allowed_roots)) or "none"
            raise InvalidParameter(
                f"invalid parameter `location`: {location} is outside FUSIONFLOW_ALLOWED_ROOTS "
                f"({roots}), the ceiling of what can be granted"
            )
        with self.db.session() as session:
            group_id = None
            if group is not None:
                group_id = _group(session, group).id
            elif session.get(User, user_id) is None:
                raise UserNotFound(f"no user with id {user_id}")
            found = session.scalar(  # (`== None` is IS NULL)
                select(Grant).where(
                    Grant.location == place, Grant.user_id == user_id, Grant.group_id == group_id
                )
            )
            if found is None:
                found = Grant(
                    location=place, user_id=user_id, group_id=group_id, granted_by=granted_by
                )
                session.add(found)
                session.flush()
            made = self._info(found)
        # Who may read what is worth a line in the log (an audit trail), each change.
        log.info("grant %d: %s to %s, by %s", made.id, made.location, made.grantee, granted_by)
        return made

    def find(self, *, user_id: int | None = None, group: str | None = None) -> list[GrantInfo]:
        """Every grant, or those to one user (directly) or one group."""
        query = select(Grant).order_by(Grant.location, Grant.id)
        with self.db.reading() as session:
            if user_id is not None:
                query = query.where(Grant.user_id == user_id)
            if group is not None:
                query = query.where(Grant.group_id == _group(session, group).id)
            return [self._info(g) for g in session.scalars(query)]

    def revoke(self, grant_id: int) -> None:
        with self.db.session() as session:
            found = session.get(Grant, grant_id)
            if found is None:
                raise GrantNotFound(f"no grant {grant_id}")
            session.delete(found)
        log.info("grant %d revoked: %s", grant_id, found.location)

    @staticmethod
    def _info(found: Grant) -> GrantInfo:
        return GrantInfo(
            id=found.id,
            location=found.location,
            user_id=found.user_id,
            username=found.user.username if found.user else None,
            group=found.group.name if found.group else None,
            granted_by=found.granted_by,
            created_at=found.created_at,
        )

    # -- groups ------------------------------------------------------------------------

    def create_group(self, name: str) -> GroupInfo:
        if not GROUP_NAME.fullmatch(name):
            raise InvalidParameter(
                "invalid parameter `name`: 1 to 64 letters, digits or . _ -, "
                "starting with a letter or digit"
            )
        try:
            with self.db.session() as session:
                group = Group(name=name)
                session.add(group)
                session.flush()
                return GroupInfo(name=group.name, members=[], created_at=group.created_at)
        except IntegrityError:
            raise GroupExists(f"invalid parameter `name`: a group {name!r} exists") from None

    def groups(self) -> list[GroupInfo]:
        with self.db.reading() as session:
            members = _members(session)
            return [
                GroupInfo(name=g.name, members=members[g.id], created_at=g.created_at)
                for g in session.scalars(select(Group).order_by(Group.name))
            ]

    def group(self, name: str) -> GroupInfo:
        with self.db.reading() as session:
            return self._group_info(session, _group(session, name))

    def delete_group(self, name: str) -> None:
        """Remove the group, its memberships and its grants."""
        with self.db.session() as session:
            session.delete(_group(session, name))
        log.info("group %s deleted, with its grants", name)

    def add_member(self, name: str, user_id: int) -> GroupInfo:
        with self.db.session() as session:
            group = _group(session, name)
            if session.get(User, user_id) is None:
                raise UserNotFound(f"no user with id {user_id}")
            if session.get(GroupMember, (group.id, user_id)) is None:
                session.add(GroupMember(group_id=group.id, user_id=user_id))
                session.flush()
            info = self._group_info(session, group)
        log.info("group %s: user %d added", name, user_id)
        return info

    def remove_member(self, name: str, user_id: int) -> GroupInfo:
        with self.db.session() as session:
            group = _group(session, name)
            session.execute(
                delete(GroupMember).where(
                    GroupMember.group_id == group.id, GroupMember.user_id == user_id
                )
            )
            info = self._group_info(session, group)
        log.info("group %s: user %d removed", name, user_id)
        return info

    def groups_of(self, user_id: int) -> list[str]:
        """The names of the user's groups."""
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(Group.name)
                    .join(GroupMember, GroupMember.group_id == Group.id)
                    .where(GroupMember.user_id == user_id)
                    .order_by(Group.name)
                )
            )

    @staticmethod
    def _group_info(session: Session, group: Group) -> GroupInfo:
        members = _members(session, GroupMember.group_id == group.id)[group.id]
        return GroupInfo(name=group.name, members=members, created_at=group.created_at)


def _members(session: Session, *where: ColumnElement[bool]) -> defaultdict[int, list[str]]:
    """The usernames of the members of each group (of those ``where`` selects), sorted."""
    found: defaultdict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        select(GroupMember.group_id, User.username)
        .join(User, User.id == GroupMember.user_id)
        .where(*where)
        .order_by(User.username)
    )
    for group_id, username in rows:
        found[group_id].append(username)
    return found


def _group(session: Session, name: str) -> Group:
    found = session.scalar(select(Group).where(Group.name == name))
    if found is None:
        raise GroupNotFound(f"no group named {name!r}")
    return found
