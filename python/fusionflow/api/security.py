"""Access tokens and login throttling.

Logins get a short-lived JWT (HS256, signed with ``FUSIONFLOW_SECRET_KEY``, or a key
generated once into the data dir). Scripts may use long-lived API tokens instead
(``fusionflow.accounts``); both arrive as ``Authorization: Bearer …``.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from fusionflow.config import Settings

ALGORITHM = "HS256"


def signing_key(settings: Settings) -> str:
    """The configured secret, or one generated on first use and kept in the data dir
    (readable by this user only), so that tokens survive restarts."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    key = Path(path).read_text().strip()
    if not key:  # the other process is still writing it
        time.sleep(0.1)
        key = Path(path).read_text().strip()
    return key


class AccessTokens:
    """Issues and checks the JWTs of logins."""

    def __init__(self, key: str, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, user_id: int) -> str:
        now = datetime.now(UTC)
        claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(seconds=self.ttl_s)}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def user_id(self, token: str) -> int | None:
        """The user a valid, unexpired token names; None for anything else."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
            return int(claims["sub"])
        except (jwt.InvalidTokenError, ValueError):
            return None


class LoginThrottle:
    """Counts failed logins per (user name, client) in a sliding window; once the limit
    is reached, further attempts are refused until the oldest failure leaves the window.
    Per process: with several API processes the limit applies to each."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, username: str, client: str) -> float:
        """Seconds until the next attempt is allowed (0: now)."""
        with self._lock:
            recent = self._recent((username.lower(), client))
            if len(recent) < self.max_failures:
                return 0.0
            return max(0.0, recent[0] + self.window_s - time.monotonic())

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            key = (username.lower(), client)
            self._recent(key).append(time.monotonic())
            if len(self._failures) > 100_000:  # bounded memory under a spray of names
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), client), None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        cutoff = time.monotonic() - self.window_s
        while recent and recent[0] <= cutoff:
            recent.popleft()
        return recent
