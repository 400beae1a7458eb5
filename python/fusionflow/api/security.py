"""Access tokens.

Logins get a short-lived JWT (HS256, signed with ``FUSIONFLOW_SECRET_KEY``, or a key
generated once into the data dir). Scripts may use long-lived API tokens instead
(``fusionflow.accounts``); both arrive as ``Authorization: Bearer …``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from fusionflow.config import Settings
from fusionflow.errors import InvalidParameter

ALGORITHM = "HS256"
MIN_KEY = 32  # characters; HS256 wants at least 256 bits


def signing_key(settings: Settings) -> str:
    """The configured secret, or one generated on first use and kept in the data dir
    (readable by this user only), so that tokens survive restarts."""
    if settings.secret_key:
        if len(settings.secret_key) < MIN_KEY:
            raise InvalidParameter(
                f"invalid parameter `FUSIONFLOW_SECRET_KEY`: at least {MIN_KEY} characters"
            )
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a private name, then linked into place: the key file is
        # complete whenever it exists, and when two processes race, the first link wins.
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):
            os.link(scratch, path)
        Path(scratch).unlink()
    key = path.read_text().strip()
    if len(key) < MIN_KEY:
        raise InvalidParameter(f"invalid parameter `FUSIONFLOW_SECRET_KEY`: {path} is too short")
    return key


class AccessTokens:
    """Issues and checks the JWTs of logins."""

    def __init__(self, key: str, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, user_id: int, user_since: datetime, version: int = 0) -> str:
        """A token for the user created at ``user_since``: it names that user, not a later
        one given the same id (SQLite reuses the highest id after a delete), and holds only
        while their credentials are at ``version`` (a password change ends it)."""
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "usr": incarnation(user_since),
            "ver": version,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_s),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def claims(self, token: str) -> tuple[int, int, int] | None:
        """The user id a valid, unexpired login token names, that user's ``incarnation``
        and credential version; None for anything else (download links included)."""
        claims = self._decode(token)
        if claims is None or "file" in claims:
            return None
        return _identity(claims)

    def issue_link(
        self, user_id: int, user_since: datetime, file: str, ttl_s: int, version: int = 0
    ) -> str:
        """A token that lets a browser fetch one file (``job/name``) for a short while,
        without the user's bearer token (a plain link cannot send headers)."""
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "usr": incarnation(user_since),
            "ver": version,
            "file": file,
            "iat": now,
            "exp": now + timedelta(seconds=ttl_s),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def link_claims(self, token: str, file: str) -> tuple[int, int, int] | None:
        """The user id, incarnation and credential version of a valid link token for
        exactly ``file``."""
        claims = self._decode(token)
        if claims is None or claims.get("file") != file:
            return None
        return _identity(claims)

    def _decode(self, token: str) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "usr"]},
            )
            _identity(claims)
        except (jwt.InvalidTokenError, ValueError, TypeError):
            return None
        return claims


def _identity(claims: dict[str, Any]) -> tuple[int, int, int]:
    """(user id, incarnation, credential version); tokens from before credential versions
    carry none and count as version 0, which holds until the first password change."""
    return int(claims["sub"]), int(claims["usr"]), int(claims.get("ver", 0))


def incarnation(created_at: datetime) -> int:
    """A user's creation time in microseconds: tells apart users who shared an id."""
    return int(created_at.timestamp() * 1_000_000)
