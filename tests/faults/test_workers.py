"""Workers dying under a running job: the one merging the results killed mid-way, and
every worker killed at once, new ones started later. Heartbeats stop with their worker;
the janitors of the workers alive send the step again, and the outputs are written whole."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sqlalchemy import select

from fusionflow.db import Job
from tests.faults.conftest import FILES, Stack


def test_worker_killed_while_finalizing(
    stack: Stack, corpus: Path, expected: tuple[Path, dict]
) -> None:
    def kill_the_finalizer() -> None:
        job = stack.job_id
        # Storage made slow for the last shards and the merge (40 parts to read): a
        # finalize long enough to be caught in.
        stack.wait_until(lambda: stack.shards_done(job) >= FILES - 2, 120, "most shards done")
        stack.storage.delay_s = 0.2
        stack.wait_until(lambda: finalizer(stack, job) is not None, 120, "a finalize started")
        pid = int(str(finalizer(stack, job)).split(":")[1])  # host:pid:thread
        group = os.getpgid(pid)  # the worker's process group: the pool's parent and all
        os.killpg(group, signal.SIGKILL)
        stack.storage.delay_s = 0.0
        [killed] = [p for p in stack.workers.processes if p.pid == group]
        assert killed.wait(10) == -signal.SIGKILL

    stack.survives("A worker SIGKILLed while finalizing", kill_the_finalizer, corpus, expected)
    assert "finalize lost with its worker; sent again" in worker_logs(stack)


def test_every_worker_killed_and_new_ones_started_later(
    stack: Stack, corpus: Path, expected: tuple[Path, dict]
) -> None:
    def kill_all_then_restart() -> None:
        stack.workers.stop_all()  # SIGKILL: running shards hold their messages unacked
        time.sleep(10)
        stack.start_workers()

    stack.survives(
        "Both workers SIGKILLed, new ones started 10 s later",
        kill_all_then_restart,
        corpus,
        expected,
    )
    assert "lost with its worker; rescheduled" in worker_logs(stack)


def finalizer(stack: Stack, job_id: str) -> str | None:
    with stack.db.session() as session:
        return session.scalar(select(Job.finalizer).where(Job.id == job_id))


def worker_logs(stack: Stack) -> str:
    return "".join(path.read_text() for path in stack.tmp_path.glob("worker*.log"))
