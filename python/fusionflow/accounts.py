"""User accounts: create, list, change role, enable/disable, check passwords, and the
long-lived API tokens of scripts.

Passwords are hashed with Argon2id (argon2-cffi's defaults); a hash made with older
parameters is replaced by a current one at the next successful login. API tokens are
random secrets shown once; only their SHA-256 is stored.

Hashing never runs inside a database transaction (on SQLite a write transaction would hold
the database's one write lock through the whole ~64 MiB, ~50 ms computation), and only a
few hashes run at once, with a short, bounded queue: past it a caller gets ``Overloaded``
instead of waiting (and holding a server thread) without bound.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fusionflow.db import ApiToken, Database, User, utcnow
from fusionflow.errors import InvalidParameter

Role = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
MIN_PASSWORD = 8
# Longer passwords are refused when set, and cannot be right when logging in.
MAX_PASSWORD = 1024
# A password check waits this long at most for a free hashing slot, and no more than
# MAX_WAITING checks wait in all (each holds one of the server's 40 request threads): past
# either, Overloaded. Enough that ten people signing in at once all get in on one slot.
HASH_WAIT_S = 5.0
MAX_WAITING = 16
# API tokens look like this, so that they are told apart from JWTs (and found by scanners).
TOKEN_PREFIX = "ff_"

_hasher = PasswordHasher()


class UserInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    credential_version: int = 0


class TokenInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class UserNotFound(LookupError):
    """No user has this name or id."""


class TokenNotFound(LookupError):
    """The user has no API token with this id."""


class Overloaded(RuntimeError):
    """Every password-hashing slot is taken; the caller should retry in a moment."""

    retry_after_s = 1


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class Accounts:
    """User management on a database. At most ``hashes_at_once`` password hashes run at
    once in this process."""

    def __init__(self, db: Database, hashes_at_once: int = 4) -> None:
        self.db = db
        self._hash_slots = threading.BoundedSemaphore(hashes_at_once)
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    @contextlib.contextmanager
    def _hashing(self) -> Iterator[None]:
        with self._waiting_lock:
            full = self._waiting >= MAX_WAITING
            self._waiting += not full
        if full:
            raise Overloaded("too many password checks at once; try again in a moment")
        try:
            got = self._hash_slots.acquire(timeout=HASH_WAIT_S)
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        if not got:
            raise Overloaded("too many password checks at once; try again in a moment")
        try:
            yield
        finally:
            self._hash_slots.release()

    def _hash(self, password: str) -> str:
        with self._hashing():
            return hash_password(password)

    def create(self, username: str, password: str, role: str = "user") -> UserInfo:
        """A new active user; ``InvalidParameter`` for a bad or taken name, a short
        password or an unknown role."""
        if not USERNAME.fullmatch(username):
            raise InvalidParameter(
                "invalid parameter `username`: 1 to 100 letters, digits or . _ @ -, "
                "starting with a letter or digit"
            )
        _check_password(password)
        _check_role(role)
        user = User(username=username, password_hash=self._hash(password), role=role)
        try:
            with self.db.session() as session:
                session.add(user)
                session.flush()
                return UserInfo.model_validate(user)
        except IntegrityError:
            raise InvalidParameter(f"invalid parameter `username`: {username!r} is taken") from None

    def list(self) -> list[UserInfo]:
        with self.db.reading() as session:
            return [
                UserInfo.model_validate(u)
                for u in session.scalars(select(User).order_by(User.username))
            ]

    def get(self, username: str) -> UserInfo:
        with self.db.reading() as session:
            return UserInfo.model_validate(self._find(session, username))

    def get_by_id(self, user_id: int) -> UserInfo:
        with self.db.reading() as session:
            return UserInfo.model_validate(self._find_id(session, user_id))

    def has_users(self) -> bool:
        with self.db.reading() as session:
            return session.scalar(select(User.id).limit(1)) is not None

    def update(
        self,
        user_id: int,
        *,
        role: str | None = None,
        active: bool | None = None,
        password: str | None = None,
    ) -> UserInfo:
        """Change what is given; the rest stays."""
        if role is not None:
            _check_role(role)
        new_hash = None
        if password is not None:
            _check_password(password)
            new_hash = self._hash(password)  # before the transaction, not inside it
        with self.db.session() as session:
            user = self._find_id(session, user_id)
            if role is not None:
                user.role = role
            if active is not None:
                user.active = active
            if new_hash is not None:
                user.password_hash = new_hash
                user.credential_version += 1  # ends every session made before
            return UserInfo.model_validate(user)

    def delete(self, user_id: int) -> None:
        """Remove the user with their tokens and notifications; their jobs stay (for admins)."""
        with self.db.session() as session:
            session.delete(self._find_id(session, user_id))

    def ensure_admin(self, password: str | None, username: str = "admin") -> str | None:
        """On a database without users, create an admin. Returns the password when it
        was generated here (to be shown once), None otherwise."""
        if self.has_users():
            return None
        generated = None if password else secrets.token_urlsafe(12)
        try:
            self.create(username, password or generated or "", "admin")
        except InvalidParameter:
            if self.has_users():  # another server process created it first
                return None
            raise
        return generated

    def active_user(self, user_id: int) -> UserInfo | None:
        """The user with this id if they exist and are active."""
        with self.db.reading() as session:
            user = session.get(User, user_id)
            return UserInfo.model_validate(user) if user is not None and user.active else None

    def set_role(self, username: str, role: str) -> UserInfo:
        _check_role(role)
        with self.db.session() as session:
            user = self._find(session, username)
            user.role = role
            return UserInfo.model_validate(user)

    def set_active(self, username: str, active: bool) -> UserInfo:
        with self.db.session() as session:
            user = self._find(session, username)
            user.active = active
            return UserInfo.model_validate(user)

    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """The user, if ``password`` is theirs and they are active; None otherwise.
        ``Overloaded`` when no hashing slot frees up in time."""
        if len(password) > MAX_PASSWORD:
            return None
        found = None
        if USERNAME.fullmatch(username):
            with self.db.reading() as session:
                found = session.execute(
                    select(User.id, User.password_hash).where(User.username == username)
                ).first()
        with self._hashing():
            if found is None:
                _burn(password)  # as long as a real check: timing does not reveal names
                return None
            user_id, stored = found
            try:
                _hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            rehashed = hash_password(password) if _hasher.check_needs_rehash(stored) else None
        if rehashed is not None:
            with self.db.session() as session:  # unless the password changed meanwhile
                session.execute(
                    update(User)
                    .where(User.id == user_id, User.password_hash == stored)
                    .values(password_hash=rehashed)
                )
        return self.active_user(user_id)

    def notify_prefs(self, user_id: int) -> dict[str, Any]:
        """The user's notification settings (see ``fusionflow.delivery.NotifyPrefs``)."""
        with self.db.reading() as session:
            prefs: dict[str, Any] = self._find_id(session, user_id).settings.get("notify", {})
            return prefs

    def set_notify_prefs(self, user_id: int, prefs: dict[str, Any]) -> None:
        with self.db.session() as session:
            user = self._find_id(session, user_id)
            user.settings = {**user.settings, "notify": prefs}  # a new dict: JSON is replaced

    # -- API tokens -------------------------------------------------------------------

    def create_token(
        self, user_id: int, name: str, expires_at: datetime | None = None
    ) -> tuple[TokenInfo, str]:
        """A new token for the user: its description and the secret (shown only now)."""
        name = name.strip()
        if not 1 <= len(name) <= 100 or not name.isprintable():
            raise InvalidParameter("invalid parameter `name`: 1 to 100 printable characters")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.session() as session:
            user = self._find_id(session, user_id)
            token = ApiToken(
                user_id=user_id,
                name=name,
                token_hash=_digest(secret),
                expires_at=expires_at,
                credential_version=user.credential_version,
            )
            session.add(token)
            session.flush()
            return TokenInfo.model_validate(token), secret

    def list_tokens(self, user_id: int) -> builtins.list[TokenInfo]:
        with self.db.reading() as session:
            found = session.scalars(
                select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
            )
            return [TokenInfo.model_validate(t) for t in found]

    def revoke_token(self, user_id: int, token_id: int) -> None:
        with self.db.session() as session:
            token = session.get(ApiToken, token_id)
            if token is None or token.user_id != user_id:
                raise TokenNotFound(f"no API token {token_id}")
            session.delete(token)

    def user_for_token(self, secret: str) -> UserInfo | None:
        """The active user a valid, unexpired token belongs to; None otherwise."""
        now = utcnow()
        with self.db.reading() as session:
            token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
            if token is None or (token.expires_at is not None and token.expires_at <= now):
                return None
            user = session.get(User, token.user_id)
            if user is None or not user.active:
                return None
            if token.credential_version != user.credential_version:
                return None  # made before a password change
            stale = token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60
            found = UserInfo.model_validate(user)
        if stale:  # written at most once a minute: a busy script does not write per request
            with self.db.session() as session:
                session.execute(
                    update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                )
        return found

    @staticmethod
    def _find_id(session: Session, user_id: int) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise UserNotFound(f"no user with id {user_id}")
        return user

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


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidParameter(
            f"invalid parameter `password`: {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidParameter(f"invalid parameter `role`: {role!r} is not one of user, admin")
