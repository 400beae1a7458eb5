"""Which failures are worth retrying."""

from __future__ import annotations

import socket

from sqlalchemy.exc import DBAPIError

from fusionflow.errors import TransientError

__all__ = ["TransientError", "is_transient"]


def is_transient(error: BaseException) -> bool:
    """Storage timeouts and server errors, lost DB or broker connections: yes.
    Bad parameters, missing inputs and bugs fail at once: retrying changes nothing."""
    if isinstance(error, TransientError | ConnectionError | TimeoutError | socket.timeout):
        return True
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis comes with celery[redis]
        return False
    return isinstance(error, RedisConnectionError | RedisTimeoutError)
