"""What the jobs layer needs from an executor: a way to schedule each step of a job."""

from __future__ import annotations

from typing import Protocol


class Dispatcher(Protocol):
    """Schedules the steps of jobs. Each call may run its step more than once (a
    redelivered task); the steps are idempotent, and guarded by the database."""

    def plan(self, job_id: str) -> None:
        """Schedule listing the job's inputs and splitting them into shards."""

    def run_shard(self, job_id: str, index: int, *, delay: float = 0.0) -> None:
        """Schedule one shard, after ``delay`` seconds."""

    def finalize(self, job_id: str) -> None:
        """Schedule merging the shards' results into the job's outputs."""
