"""A running step's link to the database: a shard's heartbeat, progress and
cancellation; a finalize's heartbeat."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from fusionflow._core import Progress
from fusionflow.db import Database, Job, JobStatus, utcnow
from fusionflow.jobs.isolated import ChildProgress
from fusionflow.jobs.transitions import refresh_progress, update_own_shard

log = logging.getLogger(__name__)


class Heartbeat:
    """While a step runs, a thread calls ``_beat()`` every ``interval`` seconds, so any
    process can tell the step is alive. A database out of reach is logged once an
    outage: the step goes on, and recording its outcome is retried."""

    def __init__(self, name: str, *, interval: float = 0.5) -> None:
        self._name = name
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Heartbeat:
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

    def _beat(self) -> None:
        raise NotImplementedError

    def _between(self) -> None:
        """Called every 50 ms between beats: for checks of a local flag."""

    def _run(self) -> None:
        next_beat = time.monotonic() + self._interval
        unreachable = False
        while not self._done.wait(0.05):
            self._between()
            if time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + self._interval
            try:
                self._beat()
                if unreachable:
                    log.warning("%s: heartbeat recorded again", self._name)
                unreachable = False
            except SQLAlchemyError as e:
                if not unreachable:  # once an outage, not twice a second
                    log.warning("%s: heartbeat failed: %s", self._name, e)
                unreachable = True


class ShardMonitor(Heartbeat):
    """While a shard runs, its heartbeat and progress are written to the database a few
    times a second, and the Rust run is stopped (through its cancellation flag) as soon
    as the job is no longer running, the shard was handed to another worker, or
    ``should_stop()`` says so (a worker shutting down)."""

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
        super().__init__(f"shard {shard_id}", interval=interval)
        self._db = db
        self._job_id = job_id
        self._shard_id = shard_id
        self._worker = worker
        self._progress = progress
        self._should_stop = should_stop

    def _between(self) -> None:
        if self._should_stop():
            self._progress.cancel()

    def _beat(self) -> None:
        """Record progress; stop the run when the shard should stop."""
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
        if mine.rowcount != 1 or status != JobStatus.RUNNING:  # type: ignore[attr-defined]
            self._progress.cancel()


class FinalizeMonitor(Heartbeat):
    """While a worker merges a job's results, the job's heartbeat (``Job.heartbeat_at``,
    under ``Job.finalizer``) is written every interval."""

    def __init__(self, db: Database, job_id: str, worker: str, *, interval: float = 0.5):
        super().__init__(f"job {job_id} finalize", interval=interval)
        self._db = db
        self._job_id = job_id
        self._worker = worker

    def _beat(self) -> None:
        with self._db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == self._job_id, Job.finalizer == self._worker)
                .values(heartbeat_at=utcnow())
            )
