"""The job lifecycle as callers see it: submit, look up, list, wait, cancel, retry, delete.

Methods that take ``visible_to`` treat a job owned by someone else as missing: pass the
caller's user id for a user, None for an admin or a local script.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, defer

from fusionflow import access, pipelines, storage
from fusionflow.config import Settings
from fusionflow.db import Artifact, Database, Job, JobStatus, Shard, ShardStatus
from fusionflow.errors import InvalidParameter, one_line
from fusionflow.jobs import planning
from fusionflow.jobs.dispatch import Dispatcher
from fusionflow.jobs.runner import work_url
from fusionflow.jobs.transitions import finish_job
from fusionflow.jobs.views import ArtifactInfo, InputsPreview, JobInfo, JobPage, JobQuery
from fusionflow.observability import JOBS_SUBMITTED


class JobNotFound(LookupError):
    """No job has this id (that the caller may see)."""


class JobConflict(InvalidParameter):
    """The job's state does not allow this (retrying a running job, cancelling a finished one)."""


class ArtifactNotFound(LookupError):
    """The job has no output of this name."""


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
        validated = pipelines.get(pipeline).validate(params or {}, self.settings)
        self._check_inputs(inputs)
        # As its shards will compare their files with them (access.outside_inputs).
        inputs = [access.canonical_input(str(item)) for item in inputs]
        params_json = validated.model_dump(mode="json")
        if len(json.dumps(params_json)) > self.settings.max_params_bytes:
            raise InvalidParameter(
                f"invalid parameter `params`: more than {self.settings.max_params_bytes} bytes "
                "as JSON (this server's FUSIONFLOW_MAX_PARAMS_BYTES)"
            )
        _no_nul(name=name, inputs=list(inputs), params=params_json, notify=dict(notify or {}))
        job = Job(
            owner_id=owner_id,
            name=(name.strip() or _default_name(pipeline, inputs))[:200],
            pipeline=pipeline,
            params=params_json,
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

    def preview(
        self, pipeline: str, inputs: Sequence[str], params: Mapping[str, Any] | None = None
    ) -> InputsPreview:
        """How many files and bytes a job would read (listing the inputs now)."""
        self._check_inputs(inputs)
        try:
            files, skipped = planning.discover(
                pipeline, inputs, params or {}, self.settings.shard_threads
            )
        except OSError as e:  # missing, not a folder, not readable
            raise InvalidParameter(f"invalid parameter `inputs`: {one_line(e)}") from None
        return InputsPreview(
            files=len(files),
            bytes=sum(size for _, size in files),
            skipped=len(skipped),
            sample=[path for path, _ in files[:10]],
        )

    def _check_inputs(self, inputs: Sequence[str]) -> None:
        """A job's inputs are stored with it: at least one, and a bounded number and size."""
        if not inputs:
            raise InvalidParameter("invalid parameter `inputs`: at least one input is required")
        most = self.settings.max_job_inputs
        if len(inputs) > most:
            raise InvalidParameter(
                f"invalid parameter `inputs`: at most {most} per job (this server's "
                "FUSIONFLOW_MAX_JOB_INPUTS); give their folder or prefix instead"
            )
        if any(len(str(i)) > INPUT_MAX_CHARS for i in inputs):
            raise InvalidParameter(
                f"invalid parameter `inputs`: an input longer than {INPUT_MAX_CHARS} characters"
            )

    def get(self, job_id: str, *, visible_to: int | None = None) -> JobInfo:
        with self.db.reading() as session:
            return JobInfo.of(_load(session, job_id, visible_to))

    def get_many(self, job_ids: Collection[str]) -> dict[str, JobInfo]:
        """Those of these jobs that exist, in one query (for watchers of many jobs)."""
        with self.db.reading() as session:
            found = session.scalars(select(Job).where(Job.id.in_(list(job_ids)))).all()
            return {job.id: JobInfo.of(job) for job in found}

    def summary(self, job_id: str, *, visible_to: int | None = None) -> dict[str, Any] | None:
        with self.db.reading() as session:
            return _load(session, job_id, visible_to).summary

    def find(self, query: JobQuery) -> JobPage:
        """One page of the jobs ``query`` selects, and how many it selects in all."""
        conditions = []
        if query.owner_id is not None:
            conditions.append(Job.owner_id == query.owner_id)
        if query.status:
            conditions.append(Job.status.in_(query.status))
        if query.pipeline:
            conditions.append(Job.pipeline.in_(query.pipeline))
        if query.created_after is not None:
            conditions.append(Job.created_at >= query.created_after)
        if query.created_before is not None:
            conditions.append(Job.created_at < query.created_before)
        if query.text:
            pattern = "%" + _escape_like(query.text) + "%"
            conditions.append(
                or_(Job.name.ilike(pattern, escape="\\"), Job.id.ilike(pattern, escape="\\"))
            )
        column = getattr(Job, query.sort.lstrip("-"))
        order = column.desc() if query.sort.startswith("-") else column.asc()
        with self.db.reading() as session:
            total = session.scalar(select(func.count()).select_from(Job).where(*conditions))
            # List items are summaries: no params, the first few inputs.
            jobs = session.scalars(
                select(Job)
                .options(defer(Job.params))
                .where(*conditions)
                .order_by(order, Job.id)
                .limit(query.limit)
                .offset(query.offset)
            )
            items = [JobInfo.of(job, brief=True) for job in jobs]
        return JobPage(items=items, total=total or 0, limit=query.limit, offset=query.offset)

    def artifacts(self, job_id: str, *, visible_to: int | None = None) -> list[ArtifactInfo]:
        """The job's outputs (recorded when it completes)."""
        with self.db.reading() as session:
            return [
                ArtifactInfo.model_validate(a) for a in _load(session, job_id, visible_to).artifacts
            ]

    def artifact(self, job_id: str, name: str, *, visible_to: int | None = None) -> ArtifactInfo:
        with self.db.reading() as session:
            _load(session, job_id, visible_to)
            found = (
                None
                if "\x00" in name
                else session.scalar(
                    select(Artifact).where(Artifact.job_id == job_id, Artifact.name == name)
                )
            )
            if found is None:
                raise ArtifactNotFound(f"job {job_id} has no output named {name!r}")
            return ArtifactInfo.model_validate(found)

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.05) -> JobInfo:
        """Block until the job has finished (or ``timeout`` passed); return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.get(job_id)
            if info.finished or (deadline is not None and time.monotonic() >= deadline):
                return info
            time.sleep(poll)

    def cancel(self, job_id: str, *, visible_to: int | None = None) -> JobInfo:
        """Stop the job: running shards stop within a second or so, none start."""
        with self.db.session() as session:
            job = _load(session, job_id, visible_to)
            if job.status in JobStatus.FINISHED:
                raise JobConflict(f"job {job_id} has already finished ({job.status})")
            finish_job(session, job_id, JobStatus.CANCELLED)
        return self.get(job_id)

    def retry(self, job_id: str, *, visible_to: int | None = None) -> JobInfo:
        """Run a failed or cancelled job again; shards already completed are kept."""
        with self.db.session() as session:
            job = _load(session, job_id, visible_to)
            if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
                raise JobConflict(
                    f"invalid parameter `job`: only failed or cancelled jobs can be retried "
                    f"(this one is {job.status})"
                )
            planned = bool(job.shards)
            job.status = JobStatus.RUNNING if planned else JobStatus.PENDING
            job.error = None
            job.finished_at = None
            job.finalizer = job.heartbeat_at = None  # a finalize is due afresh
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

    def delete(self, job_id: str, *, visible_to: int | None = None) -> None:
        """Cancel the job if it runs, then remove it and everything it wrote."""
        with self.db.session() as session:
            job = _load(session, job_id, visible_to)
            finish_job(session, job_id, JobStatus.CANCELLED)
            output_url = job.output_url
            session.delete(job)
        storage.remove_tree(output_url)
        storage.remove_tree(work_url(self.settings, job_id))


def _load(session: Session, job_id: str, visible_to: int | None) -> Job:
    job = session.get(Job, job_id) if _JOB_ID.fullmatch(job_id) else None
    if job is None or (visible_to is not None and job.owner_id != visible_to):
        raise JobNotFound(f"no job {job_id}")
    return job


# As long as an S3 key may be, and as a path most systems take.
INPUT_MAX_CHARS = 4096

_JOB_ID = re.compile(r"[0-9a-f]{1,32}")


def _no_nul(**fields: Any) -> None:
    """PostgreSQL cannot store NUL characters in text or JSON: refuse them up front."""
    for field, value in fields.items():
        if "\\u0000" in json.dumps(value):
            raise InvalidParameter(f"invalid parameter `{field}`: NUL characters are not allowed")


def _default_name(pipeline: str, inputs: Sequence[str]) -> str:
    first = str(inputs[0]).rstrip("/").rsplit("/", 1)[-1] if inputs else ""
    more = f" and {len(inputs) - 1} more" if len(inputs) > 1 else ""
    return f"{pipeline} {first}{more}".strip()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
