"""Access tokens and login throttling.

Logins get a short-lived JWT (HS256, signed with ``FUSIONFLOW_SECRET_KEY``, or a key
generated once into the data dir). Scripts may use long-lived API tokens instead
(``fusionflow.accounts``); both arrive as ``Authorization: Bearer …``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import threading
import time
from collections import deque
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

    def issue(self, user_id: int, user_since: datetime) -> str:
        """A token for the user created at ``user_since``: it names that user, not a later
        one given the same id (SQLite reuses the highest id after a delete)."""
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "usr": incarnation(user_since),
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_s),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def claims(self, token: str) -> tuple[int, int] | None:
        """The user id a valid, unexpired login token names and that user's
        ``incarnation``; None for anything else (download links included)."""
        claims = self._decode(token)
        if claims is None or "file" in claims:
            return None
        return int(claims["sub"]), int(claims["usr"])

    def issue_link(self, user_id: int, user_since: datetime, file: str, ttl_s: int) -> str:
        """A token that lets a browser fetch one file (``job/name``) for a short while,
        without the user's bearer token (a plain link cannot send headers)."""
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "usr": incarnation(user_since),
            "file": file,
            "iat": now,
            "exp": now + timedelta(seconds=ttl_s),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def link_claims(self, token: str, file: str) -> tuple[int, int] | None:
        """The user id and incarnation of a valid link token for exactly ``file``."""
        claims = self._decode(token)
        if claims is None or claims.get("file") != file:
            return None
        return int(claims["sub"]), int(claims["usr"])

    def _decode(self, token: str) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "usr"]},
            )
            int(claims["sub"]), int(claims["usr"])
        except (jwt.InvalidTokenError, ValueError, TypeError):
            return None
        return claims


def incarnation(created_at: datetime) -> int:
    """A user's creation time in microseconds: tells apart users who shared an id."""
    return int(created_at.timestamp() * 1_000_000)


class LoginThrottle:
    """Counts failed logins per (user name, client) in a sliding window; once the limit
    is reached, further attempts are refused until the oldest failure leaves the window.
    Per process: with several API processes the limit applies to each."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, username: str, client: str) -> float:
        """Count an attempt as failed before the password is checked (so that parallel
        guesses cannot all get past the limit), and return 0; or, when the limit is
        reached, count nothing and return the seconds until the next attempt is allowed."""
        with self._lock:
            recent = self._recent((username.lower(), client))
            if len(recent) >= self.max_failures:
                return max(0.001, recent[0] + self.window_s - time.monotonic())
            recent.append(time.monotonic())
            if len(self._failures) > 100_000:  # bounded memory under a spray of names
                self._failures.pop(next(iter(self._failures)))
            return 0.0

    def succeeded(self, username: str, client: str) -> None:
        """The password was right: forget the failures."""
        with self._lock:
            self._failures.pop((username.lower(), client), None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        cutoff = time.monotonic() - self.window_s
        while recent and recent[0] <= cutoff:
            recent.popleft()
        return recent
