"""The event streams of one process share their reads: twenty streams on a job cost one
query per interval, not twenty; a deleted job ends them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event

from fusionflow.api.watch import JobWatch
from fusionflow.config import Settings
from fusionflow.db import Database
from fusionflow.executors import LocalExecutor


def test_streams_on_a_job_share_one_read_per_interval(
    db: Database, settings: Settings, logs: Path
) -> None:
    executor = LocalExecutor(db, settings).start()
    try:
        job = executor.jobs.submit("grep", [str(logs)], {"patterns": ["ERROR"]})
        executor.jobs.wait(job.id, timeout=30)
        reads = []

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT") and "FROM jobs" in statement:
                reads.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        watch = JobWatch(executor.jobs, interval_s=0.05)
        first = executor.jobs.get(job.id)

        async def stream() -> list[str]:
            seen = []
            async with watch.watching(job.id):
                info = first
                for _ in range(10):
                    latest = await watch.next(job.id, info, timeout_s=5)
                    assert latest is not None
                    seen.append(latest.status)
                    info = latest
            return seen

        async def twenty_then_deleted() -> tuple[list[list[str]], object]:
            seen = await asyncio.gather(*(stream() for _ in range(20)))
            event.remove(db.engine, "before_cursor_execute", count)
            async with watch.watching(job.id):
                executor.jobs.delete(job.id)
                return seen, await watch.next(job.id, first, timeout_s=5)

        seen, after_delete = asyncio.run(twenty_then_deleted())
        assert seen == [["completed"] * 10] * 20
        assert 10 <= len(reads) <= 12, len(reads)  # one a poll, not one a stream
        assert after_delete is None
    finally:
        executor.close()
