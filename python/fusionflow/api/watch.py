"""What the event streams of one API process read: the jobs they watch, fetched in one
query per interval however many streams are open (a hundred browsers on one job cost
one row read, not a hundred). Each API process watches for its own clients; the
database, which every runner writes, makes them agree."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.concurrency import run_in_threadpool

from fusionflow.jobs import JobInfo, JobService
from fusionflow.retry import log_round_failure

log = logging.getLogger(__name__)


class JobWatch:
    def __init__(self, jobs: JobService, interval_s: float) -> None:
        self._jobs = jobs
        self._interval_s = interval_s
        self._streams: Counter[str] = Counter()  # watched job id -> streams open on it
        self._latest: dict[str, JobInfo | None] = {}  # None: deleted
        self._polled = asyncio.Condition()
        self._poller: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def watching(self, job_id: str) -> AsyncIterator[None]:
        """While open, the job is fetched every interval."""
        self._streams[job_id] += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            yield
        finally:
            self._streams[job_id] -= 1
            if self._streams[job_id] <= 0:
                del self._streams[job_id]
                self._latest.pop(job_id, None)

    async def next(self, job_id: str, current: JobInfo, timeout_s: float) -> JobInfo | None:
        """The job as the next poll finds it (None: deleted); ``current`` if no poll
        came within ``timeout_s`` (the database out of reach)."""
        async with self._polled:
            try:
                await asyncio.wait_for(self._polled.wait(), timeout_s)
            except TimeoutError:
                return current
        return self._latest.get(job_id, current)

    async def _poll(self) -> None:
        while self._streams:
            await asyncio.sleep(self._interval_s)
            watched = list(self._streams)
            try:
                found = await run_in_threadpool(self._jobs.get_many, watched)
            except Exception as e:  # noqa: BLE001 (the streams wait; the next round retries)
                log_round_failure(log, "reading watched jobs", e)
                continue
            for job_id in watched:
                if job_id in self._streams:
                    self._latest[job_id] = found.get(job_id)
            async with self._polled:
                self._polled.notify_all()
