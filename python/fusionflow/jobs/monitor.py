"""A running shard's link to the database: heartbeat, progress and cancellation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from fusionflow._core import Progress
from fusionflow.db import Database, Job, JobStatus, utcnow
from fusionflow.jobs.isolated import ChildProgress
from fusionflow.jobs.transitions import refresh_progress, update_own_shard

log = logging.getLogger(__name__)


class ShardMonitor:
    """While a shard runs, a thread writes its heartbeat and progress to the database a
    few times a second, so any process can read them, and stops the Rust run (through
    its cancellation flag) as soon as the job is no longer running, the shard was handed
    to another worker, or ``should_stop()`` says so (a worker shutting down)."""

    def __init__(
        self,
        db: Database,
        job_id: str,
        shard_id: int,
        worker: str,
        progress: Progress | ChildProgress,
        *,
        interval: float = 0.5,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._db = db
        self._job_id = job_id
        self._shard_id = shard_id
        self._worker = worker
        self._progress = progress
        self._interval = interval
        self._should_stop = should_stop
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"shard-{shard_id}", daemon=True)

    def __enter__(self) -> ShardMonitor:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        next_beat = time.monotonic() + self._interval
        unreachable = False
        # A local flag is checked often; the database only every interval.
        while not self._done.wait(0.05):
            if self._should_stop():
                self._progress.cancel()
            if time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + self._interval
            try:
                if not self._beat():
                    self._progress.cancel()
                if unreachable:
                    log.warning("shard %s: progress recorded again", self._shard_id)
                unreachable = False
            except SQLAlchemyError as e:  # the shard goes on; its completion retries the DB
                if not unreachable:  # once an outage, not twice a second
                    log.warning("shard %s: progress update failed: %s", self._shard_id, e)
                unreachable = True

    def _beat(self) -> bool:
        """Record progress; False when the shard should stop."""
        snapshot = self._progress.snapshot()
        with self._db.session() as session:
            mine = session.execute(
                update_own_shard(self._shard_id, self._worker).values(
                    heartbeat_at=utcnow(),
                    bytes_done=snapshot["bytes_done"],
                    files_done=snapshot["files_done"],
                )
            )
            refresh_progress(session, self._job_id)
            status = session.scalar(select(Job.status).where(Job.id == self._job_id))
        return mine.rowcount == 1 and status == JobStatus.RUNNING  # type: ignore[attr-defined]
