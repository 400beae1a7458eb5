"""User accounts: create, list, change role, enable/disable, and check passwords.

Passwords are hashed with Argon2id (argon2-cffi's defaults); a hash made with older
parameters is replaced by a current one at the next successful login.
"""

from __future__ import annotations

import contextlib
import re
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fusionflow.db import Database, User
from fusionflow.errors import InvalidParameter

Role = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
MIN_PASSWORD = 8

_hasher = PasswordHasher()


class UserInfo(BaseModel):
    id: int
    username: str
    role: str
    active: bool


class UserNotFound(LookupError):
    """No user has this name."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class Accounts:
    """User management on a database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, username: str, password: str, role: str = "user") -> UserInfo:
        """A new active user; ``InvalidParameter`` for a bad or taken name, a short
        password or an unknown role."""
        if not USERNAME.fullmatch(username):
            raise InvalidParameter(
                "invalid parameter `username`: 1 to 100 letters, digits or . _ @ -, "
                "starting with a letter or digit"
            )
        if len(password) < MIN_PASSWORD:
            raise InvalidParameter(
                f"invalid parameter `password`: at least {MIN_PASSWORD} characters"
            )
        _check_role(role)
        user = User(username=username, password_hash=hash_password(password), role=role)
        try:
            with self.db.session() as session:
                session.add(user)
                session.flush()
                return _info(user)
        except IntegrityError:
            raise InvalidParameter(f"invalid parameter `username`: {username!r} is taken") from None

    def list(self) -> list[UserInfo]:
        with self.db.session() as session:
            return [_info(u) for u in session.scalars(select(User).order_by(User.username))]

    def get(self, username: str) -> UserInfo:
        with self.db.session() as session:
            return _info(self._find(session, username))

    def set_role(self, username: str, role: str) -> UserInfo:
        _check_role(role)
        with self.db.session() as session:
            user = self._find(session, username)
            user.role = role
            return _info(user)

    def set_active(self, username: str, active: bool) -> UserInfo:
        with self.db.session() as session:
            user = self._find(session, username)
            user.active = active
            return _info(user)

    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """The user, if ``password`` is theirs and they are active; None otherwise."""
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                _burn(password)  # as long as a real check: timing does not reveal names
                return None
            try:
                _hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            return _info(user) if user.active else None

    @staticmethod
    def _find(session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise UserNotFound(f"no user named {username!r}")
        return user


_DUMMY_HASH = _hasher.hash("not a real password")


def _burn(password: str) -> None:
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, password)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidParameter(f"invalid parameter `role`: {role!r} is not one of user, admin")


def _info(user: User) -> UserInfo:
    return UserInfo(id=user.id, username=user.username, role=user.role, active=user.active)
