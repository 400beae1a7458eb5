"""Schema migrations (Alembic), run programmatically: ``fusionflow db upgrade``."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from fusionflow.config import Settings

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(
    url: str, revision: str = "head", *, allowed_roots: Sequence[str] | None = None
) -> None:
    """Bring the database at ``url`` up to ``revision``. ``allowed_roots``: the server's
    (read from the environment when not given), which an upgrade from before grants
    grants to every user that exists (migration 0006)."""
    config = alembic_config(url)
    config.attributes["allowed_roots"] = allowed_roots
    with _one_at_a_time(url):
        command.upgrade(config, revision)


@contextmanager
def _one_at_a_time(url: str) -> Iterator[None]:
    """Processes migrating one SQLite file take turns, on a lock file beside it: SQLite
    has no advisory lock (PostgreSQL's is taken in env.py), and Alembic runs SQLite's DDL
    outside one transaction, so two processes starting at once both created a table."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        yield
        return
    lock = Path(f"{parsed.database}.migrating")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)  # private, as the database is
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (releases the lock)


def upgrade_server(settings: Settings) -> None:
    """Bring the database of a server with these settings up to date."""
    upgrade(settings.database, allowed_roots=settings.allowed_roots)


def current(url: str) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    from fusionflow.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
