"""The embedded executor: runs job steps on a thread pool inside this process.

Shards run one at a time by default (``FUSIONFLOW_LOCAL_CONCURRENCY``): each already
uses every core through the Rust core's thread pool. Jobs that a crash left pending
or running are scheduled again at start, and shards whose heartbeat stopped are
rescheduled by a janitor thread.

One process runs a database's jobs this way. A second one on the same SQLite file (a
second ``fusionflow serve``) finds the first's lock and says so: both would run the same
jobs, and SQLite serves one host. Several API processes want PostgreSQL and ``REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from fusionflow.config import Settings
from fusionflow.db import Database
from fusionflow.delivery import Notifier
from fusionflow.jobs import JobRunner, JobService
from fusionflow.retry import log_round_failure

log = logging.getLogger(__name__)


class LocalExecutor:
    """A ``Dispatcher`` whose tasks are threads of this process."""

    def __init__(self, db: Database, settings: Settings, *, janitor_interval: float = 2.0):
        self._pool = ThreadPoolExecutor(
            max_workers=settings.local_concurrency, thread_name_prefix="fusionflow-shard"
        )
        # Planning and finalizing are short: their own thread, never queued behind shards.
        self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fusionflow-job")
        self._closing = threading.Event()
        self._timers: set[threading.Timer] = set()
        self.runner = JobRunner(db, settings, self, should_stop=self._closing.is_set)
        self.jobs = JobService(db, settings, self)
        self._janitor = threading.Thread(
            target=self._reap, args=(janitor_interval,), name="fusionflow-janitor", daemon=True
        )
        self._notifier = Notifier(db, settings, self._closing, settings.notify_interval_s)
        self._lock: IO[str] | None = None

    def start(self) -> LocalExecutor:
        """Resume unfinished jobs; start the janitor and the notifier (e-mail, webhooks)."""
        self._lock = _claim_sqlite(self.runner.db.url)
        self.runner.resume_all()
        self._janitor.start()
        self._notifier.start()
        return self

    # -- Dispatcher ------------------------------------------------------------------

    def plan(self, job_id: str) -> None:
        self._submit(self._control, self.runner.plan, job_id)

    def run_shard(self, job_id: str, index: int, *, delay: float = 0.0) -> None:
        if delay <= 0:
            self._submit(self._pool, self.runner.run_shard, job_id, index)
            return
        timer = threading.Timer(delay, self.run_shard, (job_id, index))
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def finalize(self, job_id: str) -> None:
        self._submit(self._control, self.runner.finalize, job_id)

    # --------------------------------------------------------------------------------

    def _submit(self, pool: ThreadPoolExecutor, step: Callable[..., None], *args: object) -> None:
        if self._closing.is_set():
            return  # left in the database; resumed at the next start
        future: Future[None] = pool.submit(step, *args)
        future.add_done_callback(_log_failure)

    def _reap(self, interval: float) -> None:
        while not self._closing.wait(interval):
            try:
                self.runner.reap_lost()
            except Exception as e:  # noqa: BLE001 (the janitor outlives a failed round)
                log_round_failure(log, "reaping lost shards", e)

    def close(self, wait: bool = True) -> None:
        """Stop: running shards are handed back (rescheduled at the next start)."""
        self._closing.set()
        for timer in self._timers:
            timer.cancel()
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._control.shutdown(wait=wait, cancel_futures=True)
        if wait and self._janitor.is_alive():
            self._janitor.join()
        if self._lock is not None:
            self._lock.close()  # and with it the lock


def _claim_sqlite(url: str) -> IO[str] | None:
    """Hold ``<database>.executor`` locked while this process runs the database's jobs;
    warn if another process holds it already. None for databases other than SQLite
    files."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(f"{parsed.database}.executor")
    lock = path.open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        log.warning(
            "jobs on %s already run in process %s: with two processes both run them; one "
            "process serves a SQLite database (for several, set DATABASE_URL to PostgreSQL "
            "and REDIS_URL)",
            parsed.database,
            holder,
        )
        return lock
    with contextlib.suppress(OSError):
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
    return lock


def _log_failure(future: Future[None]) -> None:
    error = future.exception()
    if error is not None:
        log.error("job step failed", exc_info=error)
