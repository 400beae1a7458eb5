"""Executors run the steps of jobs: ``LocalExecutor`` (threads in this process, the
embedded default) and ``CeleryExecutor`` (``fusionflow.executors.celery``: Redis broker,
``fusionflow worker`` processes on any number of hosts).

``open_executor()`` picks by the settings, as ``fusionflow serve`` does::

    from fusionflow.executors import open_executor

    with open_executor() as executor:
        job = executor.jobs.submit("grep", ["/var/log"], {"patterns": ["ERROR"]})
        print(executor.jobs.wait(job.id).status)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from fusionflow.executors.local import LocalExecutor

if TYPE_CHECKING:
    from fusionflow.config import Settings
    from fusionflow.jobs import JobService

__all__ = ["Executor", "LocalExecutor", "open_executor"]


class Executor(Protocol):
    jobs: JobService

    def close(self) -> None: ...


@contextmanager
def open_executor(settings: Settings | None = None) -> Iterator[Executor]:
    """The executor the settings call for, on a migrated database: Celery workers when
    ``REDIS_URL`` is set, else a local executor in this process. Closed on exit."""
    from fusionflow.config import get_settings
    from fusionflow.db import Database, migrate

    settings = settings or get_settings()
    migrate.upgrade_server(settings)
    db = Database(settings.database)
    executor: Executor
    if settings.redis_url:
        from fusionflow.executors.celery import CeleryExecutor

        executor = CeleryExecutor(db, settings)
    else:
        executor = LocalExecutor(db, settings).start()
    try:
        yield executor
    finally:
        executor.close()
        db.dispose()
