"""Status changes shared by the lifecycle and the runner, each guarded by the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Update, func, select, update
from sqlalchemy.orm import Session

from fusionflow.db import Job, JobStatus, Notification, Shard, ShardStatus, User, utcnow
from fusionflow.delivery import plan_deliveries
from fusionflow.observability import JOBS_FINISHED

UNFINISHED = (JobStatus.PENDING, JobStatus.RUNNING)


def finish_job(
    session: Session,
    job_id: str,
    status: str,
    *,
    error: str | None = None,
    summary: dict[str, Any] | None = None,
) -> bool:
    """Move an unfinished job to ``status``. True for the one caller that did it: only
    that caller's notification and metrics count, however many workers race here."""
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": utcnow()}
    if summary is not None:
        values["summary"] = summary
    unfinished = (
        Shard.job_id == job_id,
        Shard.status.in_((ShardStatus.PENDING, ShardStatus.RUNNING)),
    )
    # The shards first, then the job: the order in which a shard's progress and completion
    # take them (the shard's row, then the job's counters). The other order deadlocks on
    # PostgreSQL when a cancel meets a shard finishing.
    session.execute(select(Shard.id).where(*unfinished).order_by(Shard.id).with_for_update())
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.status.in_(UNFINISHED)).values(**values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    # Shards not done never start now (their runs check the job first).
    session.execute(update(Shard).where(*unfinished).values(status=ShardStatus.CANCELLED))
    job = session.get(Job, job_id)
    assert job is not None
    owner = session.get(User, job.owner_id) if job.owner_id is not None else None
    if owner is not None:
        ran = (utcnow() - job.started_at).total_seconds() if job.started_at else 0.0
        session.add(
            Notification(
                user_id=owner.id,
                job_id=job_id,
                kind=f"job.{status}",
                message=_message(job, status, error),
                # E-mail and webhook, as the owner (or the job) asks; sent by a Notifier.
                deliveries=plan_deliveries(owner.settings, job.notify, ran),
            )
        )
    JOBS_FINISHED.labels(job.pipeline, status).inc()
    return True


def _message(job: Job, status: str, error: str | None) -> str:
    what = f"{job.pipeline} job {job.name or job.id}"
    return f"{what} failed: {error}" if error else f"{what} {status}"


def update_own_shard(shard_id: int, worker: str) -> Update:
    """An UPDATE of a shard that applies only while ``worker`` still runs it: once the
    shard was handed to another worker (this one presumed lost), it changes nothing."""
    return update(Shard).where(
        Shard.id == shard_id, Shard.worker == worker, Shard.status == ShardStatus.RUNNING
    )


def refresh_progress(session: Session, job_id: str) -> None:
    """Set the job's done counters to the sum over its shards."""
    in_job = Shard.job_id == job_id
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            bytes_done=select(func.coalesce(func.sum(Shard.bytes_done), 0))
            .where(in_job)
            .scalar_subquery(),
            files_done=select(func.coalesce(func.sum(Shard.files_done), 0))
            .where(in_job)
            .scalar_subquery(),
            shards_done=select(func.count())
            .where(in_job, Shard.status == ShardStatus.COMPLETED)
            .scalar_subquery(),
        )
    )
