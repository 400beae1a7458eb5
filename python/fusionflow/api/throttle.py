"""Login throttling: failed logins counted per (name, client) and per name.

Per process by default. With ``REDIS_URL`` the counts live in Redis, so that several API
processes behind one address apply one limit: a guesser gains nothing by being answered
by another replica. Should Redis be out of reach, each process counts on its own until
it is back (a login is never refused for want of Redis).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Budget(Protocol):
    def wait(self, key: Hashable, now: float) -> float: ...
    def spend(self, key: Hashable, now: float) -> None: ...
    def forget(self, key: Hashable) -> None: ...


class FailureBudget:
    """Failures allowed per key: ``burst`` at first, then one more each ``window_s / burst``
    seconds (a token bucket that only failures drain). Being over it delays the next attempt
    by one refill at most: a slow-down, never a lockout. The table keeps the ``max_keys``
    keys touched last, so a spray of keys costs bounded memory."""

    def __init__(self, burst: int, window_s: float, max_keys: int = 100_000) -> None:
        self.burst = burst
        self.rate = burst / window_s
        self.max_keys = max_keys
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def wait(self, key: Hashable, now: float) -> float:
        """Seconds until an attempt for ``key`` may run (0: now)."""
        tokens = self._tokens(key, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def spend(self, key: Hashable, now: float) -> None:
        self._buckets[key] = (self._tokens(key, now) - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._buckets.pop(key, None)

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, since = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - since) * self.rate)


class LoginThrottle:
    """Failed logins, counted per (user name, client) and, more loosely, per user name:
    ``max_failures`` per client and name in ``window_s`` (a guesser at one address), and
    ``name_max_failures`` per name from anywhere (guessers at many). Only failures count;
    a check in progress does not. Past a budget the name can still be tried, at the budget's
    refill rate, so nobody can lock its owner out. Names are kept as 16-byte digests.
    With ``redis_url``, shared by every process using that Redis."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        name_max_failures: int,
        redis_url: str | None = None,
    ) -> None:
        self._per_client: Budget = FailureBudget(max_failures, window_s)
        self._per_name: Budget = FailureBudget(name_max_failures, window_s)
        if redis_url:
            client = _redis_client(redis_url)
            self._per_client = SharedBudget(client, "client", max_failures, window_s)
            self._per_name = SharedBudget(client, "name", name_max_failures, window_s)
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, client: str) -> tuple[bytes, tuple[bytes, str]]:
        name = hashlib.blake2b(username.casefold().encode(), digest_size=16).digest()
        return name, (name, client[:64])

    def wait(self, username: str, client: str, now: float | None = None) -> float:
        """Seconds until this client may try this name again (0: now)."""
        name, pair = self._keys(username, client)
        now = time.monotonic() if now is None else now
        with self._lock:
            return max(self._per_client.wait(pair, now), self._per_name.wait(name, now))

    def failed(self, username: str, client: str, now: float | None = None) -> None:
        name, pair = self._keys(username, client)
        now = time.monotonic() if now is None else now
        with self._lock:
            self._per_client.spend(pair, now)
            self._per_name.spend(name, now)

    def succeeded(self, username: str, client: str) -> None:
        """The password was right: this client's failures for the name are forgotten
        (not the name's: others' guesses still count)."""
        _, pair = self._keys(username, client)
        with self._lock:
            self._per_client.forget(pair)


# The token bucket of FailureBudget, in Redis: read (and with ARGV[3] == "1", spent from)
# atomically, on the server's clock, expiring once it would be full again. Replies are
# strings: Redis would truncate a Lua number to an integer.
_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local burst, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'since')
local tokens = tonumber(state[1]) or burst
local since = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - since) * rate)
if ARGV[3] == '1' then
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'since', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
end
if tokens >= 1 then return '0' end
return tostring((1 - tokens) / rate)
"""

# A login waits this long for Redis at most before its process counts alone.
REDIS_TIMEOUT_S = 0.5


def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


class SharedBudget:
    """A ``FailureBudget`` kept in Redis (keys ``fusionflow:login:<kind>:<digest>``), with
    one of this process's own to fall back on while Redis does not answer."""

    def __init__(self, client: Any, kind: str, burst: int, window_s: float) -> None:
        self._client = client
        self._script = client.register_script(_BUCKET)
        self._prefix = f"fusionflow:login:{kind}:"
        self._burst, self._rate = burst, burst / window_s
        self._fallback = FailureBudget(burst, window_s)
        self._unreachable = False

    def wait(self, key: Hashable, now: float) -> float:
        answer = self._call(key, spend=False)
        return self._fallback.wait(key, now) if answer is None else answer

    def spend(self, key: Hashable, now: float) -> None:
        if self._call(key, spend=True) is None:
            self._fallback.spend(key, now)

    def forget(self, key: Hashable) -> None:
        self._fallback.forget(key)
        self._call(key, spend=None)

    def _call(self, key: Hashable, spend: bool | None) -> float | None:
        """Seconds to wait, as Redis says; None when it cannot be asked."""
        import redis

        name = self._prefix + _key_text(key)
        try:
            if spend is None:
                self._client.delete(name)
                answer = 0.0
            else:
                args = [self._burst, self._rate, "1" if spend else "0"]
                answer = float(self._script(keys=[name], args=args))
        except redis.RedisError as e:
            if not self._unreachable:
                log.warning("login limits counted per process: Redis unreachable: %s", e)
            self._unreachable = True
            return None
        if self._unreachable:
            log.warning("login limits shared through Redis again")
        self._unreachable = False
        return answer


def _key_text(key: Hashable) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return ":".join(part.hex() if isinstance(part, bytes) else str(part) for part in parts)
