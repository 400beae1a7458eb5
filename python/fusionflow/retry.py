"""Which failures are worth retrying, and how long to wait between tries."""

from __future__ import annotations

import errno
import logging
import socket
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from fusionflow.config import Settings
from fusionflow.errors import TransientError, one_line

__all__ = ["backoff_s", "is_transient", "log_round_failure", "patiently"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """Storage timeouts and server errors, a database or broker out of reach, a full
    disk (other work frees space as it ends; another worker may have some): yes.
    Bad parameters, missing inputs and bugs fail at once: retrying changes nothing."""
    if isinstance(error, TransientError | ConnectionError | TimeoutError | socket.timeout):
        return True
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(error, PoolTimeout):  # every connection busy: a moment's wait
        return True
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated) or _database_unavailable(error.orig)
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis comes with celery[redis]
        return False
    return isinstance(error, RedisConnectionError | RedisTimeoutError)


def _database_unavailable(error: BaseException | None) -> bool:
    """PostgreSQL refusing connections, shutting down, starting up or cut off (psycopg's
    OperationalError: SQLSTATE classes 08, 53, 57); SQLite locked by another writer."""
    if isinstance(error, sqlite3.OperationalError):
        return any(word in str(error) for word in ("locked", "busy"))
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(error, psycopg.OperationalError)


def backoff_s(settings: Settings, attempt: int) -> float:
    """The wait after failed attempt ``attempt`` (1, 2, …): doubling from
    ``FUSIONFLOW_RETRY_BACKOFF``, at most ``FUSIONFLOW_RETRY_BACKOFF_MAX``. With the
    defaults (1 s to 15 s, ten attempts) the waits add up to 90 s: a database, broker or
    storage restart, or an outage of a minute, is waited out rather than reported."""
    return float(min(settings.retry_backoff_max_s, settings.retry_backoff_s * 2 ** (attempt - 1)))


def patiently(settings: Settings, what: str, work: Callable[[], T]) -> T:
    """``work()``, tried again after transient failures with ``backoff_s`` between tries,
    up to ``FUSIONFLOW_MAX_ATTEMPTS`` in all; the last failure is raised."""
    attempt = 1
    while True:
        try:
            return work()
        except Exception as e:
            if not is_transient(e) or attempt >= settings.max_attempts:
                raise
            wait = backoff_s(settings, attempt)
            log.warning(
                "%s failed (attempt %d of %d), trying again in %.1f s: %s",
                what,
                attempt,
                settings.max_attempts,
                wait,
                one_line(e),
            )
            time.sleep(wait)
            attempt += 1


def log_round_failure(logger: logging.Logger, what: str, error: BaseException) -> None:
    """A background loop's failed round: a line while a service is out of reach (every
    round, for its length), the traceback for anything else."""
    if is_transient(error):
        logger.warning("%s failed: %s", what, one_line(error))
    else:
        logger.error("%s failed", what, exc_info=error)
