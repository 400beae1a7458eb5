"""What callers see of jobs: plain, serializable snapshots with derived progress, and
the query that selects a page of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fusionflow.db import Job, JobStatus

SortKey = Literal[
    "created_at", "-created_at", "name", "-name", "status", "-status", "pipeline", "-pipeline"
]


# Inputs a job's summary (an item of a listing) shows.
BRIEF_INPUTS = 5


class JobInfo(BaseModel):
    """A job. As an item of a listing (brief), ``params`` is None and ``inputs`` holds
    the first few; ``inputs_total`` says how many there are."""

    id: str
    name: str
    owner_id: int | None
    pipeline: str
    params: dict[str, Any] | None
    inputs: list[Any]
    inputs_total: int
    status: str
    error: str | None
    attempts: int
    # Where the outputs are stored: for the code that reads them, never shown (an API
    # user's names for them are the artifacts' download URLs, not the server's layout).
    output_url: str = Field(exclude=True)
    shards_total: int
    shards_done: int
    files_total: int
    files_done: int
    bytes_total: int
    bytes_done: int
    progress: float  # percent of bytes (of shards, before the plan is known)
    throughput_bytes_s: float | None
    eta_s: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None

    @property
    def finished(self) -> bool:
        return self.status in JobStatus.FINISHED

    @classmethod
    def of(cls, job: Job, now: datetime | None = None, *, brief: bool = False) -> JobInfo:
        now = now or datetime.now(UTC)
        started, finished = job.started_at, job.finished_at
        elapsed = ((finished or now) - started).total_seconds() if started else None
        if job.status == JobStatus.COMPLETED:
            progress = 100.0
        elif job.bytes_total:
            progress = min(100.0, 100.0 * job.bytes_done / job.bytes_total)
        elif job.shards_total:
            progress = 100.0 * job.shards_done / job.shards_total
        else:
            progress = 0.0
        throughput = job.bytes_done / elapsed if elapsed and job.bytes_done else None
        eta = None
        if throughput and job.status == JobStatus.RUNNING:
            eta = max(0.0, (job.bytes_total - job.bytes_done) / throughput)
        return cls(
            id=job.id,
            name=job.name,
            owner_id=job.owner_id,
            pipeline=job.pipeline,
            params=None if brief else job.params,
            inputs=job.inputs[:BRIEF_INPUTS] if brief else job.inputs,
            inputs_total=len(job.inputs),
            status=job.status,
            error=job.error,
            attempts=job.attempts,
            output_url=job.output_url,
            shards_total=job.shards_total,
            shards_done=job.shards_done,
            files_total=job.files_total,
            files_done=job.files_done,
            bytes_total=job.bytes_total,
            bytes_done=job.bytes_done,
            progress=round(progress, 2),
            throughput_bytes_s=throughput,
            eta_s=eta,
            created_at=job.created_at,
            started_at=started,
            finished_at=finished,
            duration_s=elapsed if finished else None,
        )


class JobQuery(BaseModel):
    """Which jobs to list: every condition given must hold."""

    owner_id: int | None = None
    status: list[str] = Field(default_factory=list)
    pipeline: list[str] = Field(default_factory=list)
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = Field(None, description="Part of the job's name or id.")
    sort: SortKey = "-created_at"
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=2**31 - 1)


class JobPage(BaseModel):
    items: list[JobInfo]
    total: int
    limit: int
    offset: int


class ArtifactInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    size: int
    content_type: str
    url: str
    created_at: datetime


class InputsPreview(BaseModel):
    """What a job would read, before it is submitted."""

    files: int
    bytes: int
    skipped: int = Field(description="Paths the selection left out (hidden, binary, ...).")
    sample: list[str] = Field(description="The first files, in the order they would be read.")
