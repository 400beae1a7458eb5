"""The job lifecycle as callers see it: submit, look up, wait, cancel, retry, delete."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import update

from fusionflow import pipelines, storage
from fusionflow.config import Settings
from fusionflow.db import Database, Job, JobStatus, Shard, ShardStatus
from fusionflow.errors import InvalidParameter
from fusionflow.jobs.dispatch import Dispatcher
from fusionflow.jobs.runner import work_url
from fusionflow.jobs.transitions import finish_job
from fusionflow.jobs.views import JobInfo
from fusionflow.observability import JOBS_SUBMITTED


class JobNotFound(LookupError):
    """No job has this id."""


class JobService:
    """Submits jobs to an executor (through its ``Dispatcher``) and manages them."""

    def __init__(self, db: Database, settings: Settings, dispatcher: Dispatcher) -> None:
        self.db = db
        self.settings = settings
        self.dispatcher = dispatcher
        storage.configure(settings)

    def submit(
        self,
        pipeline: str,
        inputs: Sequence[str],
        params: Mapping[str, Any] | None = None,
        *,
        owner_id: int | None = None,
        name: str = "",
        notify: Mapping[str, Any] | None = None,
    ) -> JobInfo:
        """Validate and record a job, then hand it to the executor. Returns at once;
        listing the inputs happens on the executor. ``InvalidParameter`` names the
        first bad field."""
        validated = pipelines.get(pipeline).validate(params or {})
        if not inputs:
            raise InvalidParameter("invalid parameter `inputs`: at least one input is required")
        job = Job(
            owner_id=owner_id,
            name=name[:200],
            pipeline=pipeline,
            params=validated.model_dump(mode="json"),
            inputs=[str(i) for i in inputs],
            notify=dict(notify or {}),
        )
        with self.db.session() as session:
            session.add(job)
            session.flush()
            job.output_url = storage.join(self.settings.storage, "results", job.id)
            info = JobInfo.of(job)
        JOBS_SUBMITTED.labels(pipeline).inc()
        self.dispatcher.plan(info.id)
        return info

    def get(self, job_id: str) -> JobInfo:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise JobNotFound(job_id)
            return JobInfo.of(job)

    def summary(self, job_id: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise JobNotFound(job_id)
            return job.summary

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.05) -> JobInfo:
        """Block until the job has finished (or ``timeout`` passed); return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.get(job_id)
            if info.finished or (deadline is not None and time.monotonic() >= deadline):
                return info
            time.sleep(poll)

    def cancel(self, job_id: str) -> JobInfo:
        """Stop the job: running shards stop within a second or so, none start."""
        with self.db.session() as session:
            if session.get(Job, job_id) is None:
                raise JobNotFound(job_id)
            finish_job(session, job_id, JobStatus.CANCELLED)
        return self.get(job_id)

    def retry(self, job_id: str) -> JobInfo:
        """Run a failed or cancelled job again; shards already completed are kept."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise JobNotFound(job_id)
            if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
                raise InvalidParameter(
                    f"invalid parameter `job`: only failed or cancelled jobs can be retried "
                    f"(this one is {job.status})"
                )
            planned = bool(job.shards)
            job.status = JobStatus.RUNNING if planned else JobStatus.PENDING
            job.error = None
            job.finished_at = None
            if planned:
                job.attempts += 1
            session.execute(
                update(Shard)
                .where(Shard.job_id == job_id, Shard.status != ShardStatus.COMPLETED)
                .values(status=ShardStatus.PENDING, attempts=0, lost=0, error=None, worker=None)
            )
            pending = [s.index for s in job.shards if s.status != ShardStatus.COMPLETED]
        if not planned:
            self.dispatcher.plan(job_id)
        elif pending:
            for index in pending:
                self.dispatcher.run_shard(job_id, index)
        else:
            self.dispatcher.finalize(job_id)
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        """Cancel the job if it runs, then remove it and everything it wrote."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise JobNotFound(job_id)
            finish_job(session, job_id, JobStatus.CANCELLED)
            output_url = job.output_url
            session.delete(job)
        storage.remove_tree(output_url)
        storage.remove_tree(work_url(self.settings, job_id))
