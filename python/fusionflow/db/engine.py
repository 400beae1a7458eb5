"""Engines and sessions: SQLite (WAL) by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL mode, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pre_ping: a connection dropped by a restarted server is replaced, not an error.
        # Up to 40 connections: the API's 40 request threads never wait for one.
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)
    if parsed.database and parsed.database != ":memory:":
        _create_private(Path(parsed.database))
    # A pool as large as the API's request threads (40) plus the executor's: a connection
    # beyond the pool would be opened (PRAGMAs and all) and closed for every session.
    engine = create_engine(url, connect_args={"timeout": 30}, pool_size=48, max_overflow=16)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite does (with the
    umask, usually 0644): it holds password hashes and token digests. SQLite gives its WAL
    and shared-memory files the same mode as the database file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # Transactions are begun by _begin_immediate, not by the driver.
    connection.isolation_level = None
    cursor = connection.cursor()
    # WAL: readers never block the writer, so progress polls don't stall shards.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # Take the write lock up front: a deferred transaction that reads and then writes
    # fails with "database is locked" (no busy wait) when another writer got in between.
    # Read-only sessions begin deferred: they never wait for writers (WAL).
    if connection.get_execution_options().get(_READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_READ_ONLY = "fusionflow_read_only"


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only. On SQLite it does not take the write lock, so
        status polls never queue behind job updates; it must not write."""
        with self._readers.begin() as session:
            yield session

    def ping(self) -> None:
        """One round trip to the database (raises when it does not answer)."""
        with self.reading() as session:
            session.execute(text("SELECT 1"))

    def after_fork(self) -> None:
        """Drop connections inherited over a fork (Celery's prefork pool)."""
        self.engine.dispose(close=False)

    def dispose(self) -> None:
        self.engine.dispose()
