"""The steps executors run: plan a job, run its shards, finalize it; and recovery of
shards whose worker vanished. Every step is idempotent: a redelivered task repeats
nothing that counts (a shard's partial is overwritten, its completion recorded once)."""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import exists, select, update

from fusionflow import _core, access, pipelines, storage
from fusionflow.config import Settings
from fusionflow.db import Artifact, Database, Job, JobStatus, Shard, ShardStatus, utcnow
from fusionflow.errors import Cancelled, one_line
from fusionflow.jobs import isolated, planning, report
from fusionflow.jobs.dispatch import Dispatcher
from fusionflow.jobs.monitor import FinalizeMonitor, ShardMonitor
from fusionflow.jobs.transitions import finish_job, refresh_progress, update_own_shard
from fusionflow.observability import BYTES_PROCESSED, SHARD_DURATION, SHARD_RETRIES
from fusionflow.retry import backoff_s, is_transient, patiently

log = logging.getLogger(__name__)

# A shard whose worker died running it runs again in a process of its own (see
# jobs/isolated.py), where a death names the files that caused it and costs no worker.
# Its worker dying this many times all the same is no bystander's luck: the shard is not
# run again, rather than take down worker after worker.
MAX_LOST = 5

# The keys of a shard's summary that list the files it quarantined, and those it refused
# to read because they do not lie under the job's inputs.
QUARANTINED = "quarantined"
REFUSED = "refused"
NOT_UNDER_INPUTS = "not under the job's inputs (moved or linked since submit): not read"


@dataclass(frozen=True)
class _Claim:
    shard_id: int
    pipeline: str
    params: dict[str, Any]
    files: list[str]
    inputs: list[str]  # the job's
    attempt: int
    lost: int  # how often its worker died running it


def work_url(settings: Settings, job_id: str, index: int | None = None) -> str:
    """Where a job's shards keep their partial results."""
    parts = ["work", job_id] + ([] if index is None else [str(index)])
    return storage.join(settings.storage, *parts)


class JobRunner:
    """Runs the steps of jobs in this process, for whichever executor calls it."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        dispatcher: Dispatcher,
        *,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.db = db
        self.settings = settings
        self.dispatcher = dispatcher
        self.should_stop = should_stop
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        # When the reaper last read the database (a runner starts as if it just had: one
        # made during an outage waits like the others), whether a read failed since, and
        # before when it reschedules nothing.
        self._last_reap = time.monotonic()
        self._cut_off = False
        self._reap_from = 0.0
        storage.configure(settings)

    def _worker_id(self) -> str:
        # Threads of one process run different shards: tell them apart.
        return f"{self.worker}:{threading.get_ident()}"

    # -- plan ------------------------------------------------------------------------

    def plan(self, job_id: str) -> None:
        """List the inputs once, split them into shards, record them, schedule them."""
        self._retrying("planning", job_id, self._plan)

    def _plan(self, job_id: str) -> None:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.status in JobStatus.FINISHED:
                return
            if job.status == JobStatus.RUNNING:  # planned already: a redelivered task
                self._dispatch_unfinished(job)
                return
            name, inputs, raw_params = job.pipeline, list(job.inputs), dict(job.params)
        try:
            entries, skipped = planning.discover(
                name, inputs, raw_params, self.settings.shard_threads
            )
        except Exception as e:  # the inputs or params are bad: no retry helps
            if is_transient(e):
                raise
            with self.db.session() as session:
                finish_job(session, job_id, JobStatus.FAILED, error=f"planning: {one_line(e)}")
            return
        shards = planning.split(entries, self.settings.shard_bytes, self.settings.shard_files)
        with self.db.session() as session:
            started = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.PENDING)
                .values(
                    status=JobStatus.RUNNING,
                    started_at=utcnow(),
                    attempts=Job.attempts + 1,
                    shards_total=len(shards),
                    files_total=len(entries),
                    bytes_total=sum(size for _, size in entries),
                    plan={"skipped": [{"path": p, "reason": r} for p, r in skipped]},
                )
            )
            if started.rowcount != 1:  # type: ignore[attr-defined]
                return  # cancelled meanwhile, or planned by a twin delivery
            session.add_all(
                Shard(
                    job_id=job_id,
                    index=index,
                    inputs=[list(entry) for entry in shard],
                    files=len(shard),
                    bytes=sum(size for _, size in shard),
                )
                for index, shard in enumerate(shards)
            )
        for index in range(len(shards)):
            self.dispatcher.run_shard(job_id, index)
        if not shards:
            self.dispatcher.finalize(job_id)

    def _dispatch_unfinished(self, job: Job) -> None:
        pending = [s.index for s in job.shards if s.status == ShardStatus.PENDING]
        for index in pending:
            self.dispatcher.run_shard(job.id, index)
        if all(s.status == ShardStatus.COMPLETED for s in job.shards):
            self.dispatcher.finalize(job.id)

    def _retrying(self, step: str, job_id: str, work: Callable[[str], None]) -> None:
        """Run a job-level step; transient failures (storage, database) are tried again
        with backoff, and after the last attempt the job fails saying why."""
        try:
            patiently(self.settings, f"job {job_id}: {step}", lambda: work(job_id))
        except Exception as e:
            if not is_transient(e):
                raise
            error = f"{step}: {one_line(e)} (after {self.settings.max_attempts} attempts)"
            self._patiently(
                f"job {job_id}: recording the failure",
                lambda: self._fail_job(job_id, error),
            )

    def _fail_job(self, job_id: str, error: str) -> None:
        with self.db.session() as session:
            finish_job(session, job_id, JobStatus.FAILED, error=error)

    def _patiently(self, what: str, work: Callable[[], Any]) -> Any:
        """A database write that must not be lost to a short outage: tried through it."""
        return patiently(self.settings, what, work)

    # -- shards ----------------------------------------------------------------------

    def run_shard(self, job_id: str, index: int) -> None:
        """Run one shard unless it is done, owned by a live worker, or its job is over."""
        worker = self._worker_id()
        what = f"job {job_id} shard {index}"
        claim = self._patiently(f"{what}: claim", lambda: self._claim(job_id, index, worker))
        if claim is None:
            return
        # Only what lies under the inputs that were checked at submit is read: a plan
        # changed since, or a folder swapped for a link, cannot widen what the job reads.
        refused = access.outside_inputs(claim.files, claim.inputs)
        if refused:
            log.warning("%s: %d files not under the job's inputs, not read", what, len(refused))
            kept = set(claim.files) - set(refused)
            claim = replace(claim, files=[f for f in claim.files if f in kept])
        part_url = work_url(self.settings, job_id, index)
        progress = isolated.ChildProgress() if claim.lost else _core.Progress()
        started = time.monotonic()
        # The heartbeat goes on until the outcome is recorded: a completion that waits out
        # a database outage is not taken for a worker lost.
        with ShardMonitor(
            self.db, job_id, claim.shard_id, worker, progress, should_stop=self.should_stop
        ):
            try:
                with storage.writable_dir(part_url) as part:
                    if isinstance(progress, isolated.ChildProgress):
                        summary = self._run_isolated(claim, part, progress)
                    else:
                        pipeline = pipelines.get(claim.pipeline)
                        params = pipeline.validate(claim.params, self.settings)
                        summary = pipeline.run_shard(
                            claim.files, params, part, progress, claim.inputs
                        )
            except Cancelled:
                self._after_cancel(job_id, index, claim.shard_id, worker)
                return
            except Exception as e:  # noqa: BLE001 (recorded; the job decides what next)
                self._after_failure(job_id, index, claim, worker, e)
                return
            duration = time.monotonic() - started
            summary[REFUSED] = [{"path": path, "reason": NOT_UNDER_INPUTS} for path in refused]
            recorded = self._patiently(
                f"{what}: recording its completion",
                lambda: self._complete(job_id, claim, worker, part_url, summary, duration),
            )
        if recorded is None:
            return  # handed to another worker meanwhile; its run counts
        remaining, shard_bytes = recorded
        SHARD_DURATION.labels(claim.pipeline).observe(duration)
        BYTES_PROCESSED.labels(claim.pipeline).inc(shard_bytes or 0)
        if remaining is None:
            self.dispatcher.finalize(job_id)

    def _complete(
        self,
        job_id: str,
        claim: _Claim,
        worker: str,
        part_url: str,
        summary: dict[str, Any],
        duration: float,
    ) -> tuple[int | None, int | None] | None:
        """Record the shard done; None if it is no longer this worker's. Else whether
        any shard of the job remains, and the shard's bytes."""
        with self.db.session() as session:
            done = session.execute(
                update_own_shard(claim.shard_id, worker).values(
                    status=ShardStatus.COMPLETED,
                    summary=summary,
                    result_url=part_url,
                    bytes_done=Shard.bytes,
                    files_done=Shard.files,
                    error=None,
                    duration_s=duration,
                    finished_at=utcnow(),
                )
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return None
            refresh_progress(session, job_id)
            remaining = session.scalar(
                select(Shard.id)
                .where(Shard.job_id == job_id, Shard.status != ShardStatus.COMPLETED)
                .limit(1)
            )
            shard_bytes = session.scalar(select(Shard.bytes).where(Shard.id == claim.shard_id))
        return remaining, shard_bytes

    def _run_isolated(
        self, claim: _Claim, part: Path, progress: isolated.ChildProgress
    ) -> dict[str, Any]:
        """Run the shard in a process of its own. A file that kills that process (alone,
        when several were being read) is quarantined: left out, and named in the report
        with the signal, while the rest of the shard runs again."""
        files, quarantined = list(claim.files), []
        while True:
            _empty(part)  # nothing half-written by a killed run is kept
            request = isolated.Request(
                self.settings, claim.pipeline, files, claim.params, part, claim.inputs
            )
            try:
                summary = isolated.run(request, progress)
            except isolated.Killed as death:
                killers = isolated.culprits(request, death)
                reason = (
                    f"killed the process reading it ({death.signal_name}: out of memory, "
                    "or a crash), as it had its worker before; not read again"
                )
                quarantined += [{"path": path, "reason": reason} for path in killers]
                files = [path for path in files if path not in killers]
                continue
            summary[QUARANTINED] = quarantined
            return summary

    def _claim(self, job_id: str, index: int, worker: str) -> _Claim | None:
        now = utcnow()
        lost_before = now - timedelta(seconds=self.settings.shard_lost_after_s)
        with self.db.session() as session:
            row = session.execute(
                select(Shard, Job)
                .join(Job)
                .where(Shard.job_id == job_id, Shard.index == index)
                .with_for_update(of=Shard)
            ).first()
            if row is None:
                return None
            shard, job = row
            if job.status != JobStatus.RUNNING or shard.status not in (
                ShardStatus.PENDING,
                ShardStatus.RUNNING,
            ):
                return None
            if shard.status == ShardStatus.RUNNING and shard.worker != worker:
                heartbeat = shard.heartbeat_at
                if heartbeat is not None and heartbeat > lost_before:
                    return None  # a live worker has it: this is a duplicate delivery
                shard.lost += 1  # its worker died without a word
            if shard.lost >= MAX_LOST:
                reason = (
                    f"shard {index} stopped its worker {shard.lost} times (killed, or out of "
                    f"memory?) and was not run again; its files: {_names(shard.inputs)}"
                )
                shard.status, shard.error = ShardStatus.FAILED, reason
                finish_job(session, job_id, JobStatus.FAILED, error=reason)
                return None
            shard.status = ShardStatus.RUNNING
            shard.attempts += 1
            shard.worker = worker
            shard.heartbeat_at = now
            shard.started_at = now
            shard.bytes_done = shard.files_done = 0
            return _Claim(
                shard_id=shard.id,
                pipeline=job.pipeline,
                params=dict(job.params),
                files=[path for path, _ in shard.inputs],
                inputs=[str(i) for i in job.inputs],
                attempt=shard.attempts,
                lost=shard.lost,
            )

    def _after_cancel(self, job_id: str, index: int, shard_id: int, worker: str) -> None:
        """The run stopped: the job ended, the shard was taken over, or this worker is
        shutting down — then the shard goes back to the queue, neither lost nor doubled."""
        if not self.should_stop():
            return

        def hand_back() -> bool:
            with self.db.session() as session:
                handed_back = session.execute(
                    update_own_shard(shard_id, worker).values(
                        status=ShardStatus.PENDING, worker=None, attempts=Shard.attempts - 1
                    )
                )
            return handed_back.rowcount == 1  # type: ignore[attr-defined,no-any-return]

        if self._patiently(f"job {job_id} shard {index}: handing it back", hand_back):
            self.dispatcher.run_shard(job_id, index)

    def _after_failure(
        self, job_id: str, index: int, claim: _Claim, worker: str, error: Exception
    ) -> None:
        message = f"shard {index}: {one_line(error)}"
        retry = is_transient(error) and claim.attempt < self.settings.max_attempts
        delay = backoff_s(self.settings, claim.attempt)
        if retry:  # kept on the pending shard: the attempts show while it waits
            message += (
                f" (attempt {claim.attempt} of {self.settings.max_attempts}; "
                f"trying again in {delay:g} s)"
            )
        elif is_transient(error):
            message += f" (after {claim.attempt} attempts)"
        log.warning("job %s %s", job_id, message)

        def record() -> bool:
            with self.db.session() as session:
                mine = session.execute(
                    update_own_shard(claim.shard_id, worker).values(
                        status=ShardStatus.PENDING if retry else ShardStatus.FAILED,
                        worker=None,
                        error=message,
                    )
                )
                if mine.rowcount != 1:  # type: ignore[attr-defined]
                    return False
                if not retry:
                    finish_job(session, job_id, JobStatus.FAILED, error=message)
            return True

        if self._patiently(f"job {job_id} shard {index}: recording its failure", record) and retry:
            SHARD_RETRIES.labels(claim.pipeline, "error").inc()
            self.dispatcher.run_shard(job_id, index, delay=delay)

    # -- finalize --------------------------------------------------------------------

    def finalize(self, job_id: str) -> None:
        """Merge the shards' results in shard order into the outputs, once all are done.

        Running twice writes the same files twice (each atomically); only one run
        completes the job and records artifacts and the notification.
        """
        # Beating through the retries too: a finalize waiting out an outage is not lost.
        with FinalizeMonitor(self.db, job_id, self._worker_id()):
            self._retrying("finalize", job_id, self._finalize)

    def _finalize(self, job_id: str) -> None:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != JobStatus.RUNNING:
                return
            shards = list(job.shards)
            if any(s.status != ShardStatus.COMPLETED for s in shards):
                return
            name, raw_params, inputs = job.pipeline, dict(job.params), list(job.inputs)
            output_url, plan, started = job.output_url, dict(job.plan), job.started_at
            part_urls = [s.result_url or "" for s in shards]
            summaries = [s.summary or {} for s in shards]
            # Claimed, so that a worker dying here is noticed (``reap_lost``). A twin run
            # (a message redelivered) takes the claim over: both write the same outputs.
            job.finalizer, job.heartbeat_at = self._worker_id(), utcnow()
        try:
            with ExitStack() as stack:
                parts = [stack.enter_context(storage.readable_dir(url)) for url in part_urls]
                output = stack.enter_context(storage.writable_dir(output_url))
                summary = self._write_outputs(
                    job_id, name, inputs, raw_params, plan, started, parts, summaries, output
                )
                artifacts = _artifacts(output, output_url)
        except Exception as e:
            if is_transient(e):
                raise
            with self.db.session() as session:
                finish_job(session, job_id, JobStatus.FAILED, error=f"finalize: {one_line(e)}")
            return
        with self.db.session() as session:
            if finish_job(session, job_id, JobStatus.COMPLETED, summary=summary):
                session.add_all(Artifact(job_id=job_id, **a) for a in artifacts)
                session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(bytes_done=Job.bytes_total, files_done=Job.files_total)
                )
        storage.remove_tree(work_url(self.settings, job_id))

    def _write_outputs(
        self,
        job_id: str,
        name: str,
        inputs: list[Any],
        raw_params: dict[str, Any],
        plan: dict[str, Any],
        started: datetime | None,
        parts: list[Path],
        summaries: list[dict[str, Any]],
        output: Path,
    ) -> dict[str, Any]:
        """The pipeline's merged outputs, ``summary.json`` and ``report.txt`` in ``output``."""
        pipeline = pipelines.get(name)
        params = pipeline.validate(raw_params, self.settings)
        fields = pipeline.finalize(parts, summaries, params, output)
        left_out = [e for s in summaries for key in (QUARANTINED, REFUSED) for e in s.get(key, [])]
        fields["skipped"] = plan.get("skipped", []) + fields.get("skipped", []) + left_out
        if started is not None:
            fields["elapsed_s"] = (utcnow() - started).total_seconds()
        summary = {
            "pipeline": name,
            "job": job_id,
            "inputs": inputs,
            "params": params.model_dump(mode="json"),
            **fields,
        }
        (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (output / "report.txt").write_text(report.render(summary))
        return summary

    # -- recovery --------------------------------------------------------------------

    def reap_lost(self) -> int:
        """Schedule again every running shard, and every finalize, whose heartbeat
        stopped: its worker died (killed, out of memory, host gone). Returns how many
        were scheduled again.

        After the database was out of reach for longer than a heartbeat may be late, every
        heartbeat is late: live workers get that long to write theirs before any counts."""
        lost_after = self.settings.shard_lost_after_s
        lost_before = utcnow() - timedelta(seconds=lost_after)
        try:
            with self.db.session() as session:
                stale = session.execute(
                    select(Shard.id, Shard.job_id, Shard.index, Shard.heartbeat_at, Job.pipeline)
                    .join(Job)
                    .where(
                        Job.status == JobStatus.RUNNING,
                        Shard.status == ShardStatus.RUNNING,
                        Shard.heartbeat_at < lost_before,
                    )
                ).all()
        except Exception:
            self._cut_off = True
            raise
        now = time.monotonic()
        if self._cut_off and now - self._last_reap > lost_after:
            self._reap_from = now + lost_after
        self._last_reap, self._cut_off = now, False
        if now < self._reap_from:
            return 0
        rescheduled = self._reap_finalizers(lost_before)
        for shard_id, job_id, index, heartbeat, pipeline in stale:
            with self.db.session() as session:
                # Conditional on the heartbeat seen, so that two reapers reschedule once.
                taken = session.execute(
                    update(Shard)
                    .where(
                        Shard.id == shard_id,
                        Shard.status == ShardStatus.RUNNING,
                        Shard.heartbeat_at == heartbeat,
                    )
                    .values(status=ShardStatus.PENDING, lost=Shard.lost + 1, worker=None)
                )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                log.warning("job %s: shard %s lost with its worker; rescheduled", job_id, index)
                SHARD_RETRIES.labels(pipeline, "lost").inc()
                self.dispatcher.run_shard(job_id, index)
                rescheduled += 1
        return rescheduled

    def _reap_finalizers(self, lost_before: datetime) -> int:
        """Send again the finalize of every running job whose finalizer's heartbeat
        stopped; its outputs are written again, whole."""
        with self.db.session() as session:
            stale = session.execute(
                select(Job.id, Job.heartbeat_at).where(
                    Job.status == JobStatus.RUNNING,
                    Job.finalizer.is_not(None),
                    Job.heartbeat_at < lost_before,
                )
            ).all()
        resent = 0
        for job_id, heartbeat in stale:
            with self.db.session() as session:
                taken = session.execute(
                    update(Job)
                    .where(
                        Job.id == job_id,
                        Job.status == JobStatus.RUNNING,
                        Job.heartbeat_at == heartbeat,
                    )
                    .values(finalizer=None, heartbeat_at=None)
                )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                log.warning("job %s: finalize lost with its worker; sent again", job_id)
                self.dispatcher.finalize(job_id)
                resent += 1
        return resent

    def resume_all(self) -> None:
        """Schedule every step the database says is due: after a restart of an in-process
        executor (what was in its queue), or when the broker lost its messages. A
        finalize a worker has claimed is left to it (and to ``reap_lost``)."""
        unfinished = exists().where(Shard.job_id == Job.id, Shard.status != ShardStatus.COMPLETED)
        with self.db.session() as session:
            pending = session.scalars(select(Job.id).where(Job.status == JobStatus.PENDING)).all()
            shards = session.execute(
                select(Shard.job_id, Shard.index)
                .join(Job)
                .where(Job.status == JobStatus.RUNNING, Shard.status == ShardStatus.PENDING)
            ).all()
            merging = session.scalars(
                select(Job.id).where(
                    Job.status == JobStatus.RUNNING, Job.finalizer.is_(None), ~unfinished
                )
            ).all()
        for job_id in pending:
            self.dispatcher.plan(job_id)
        for job_id, index in shards:
            self.dispatcher.run_shard(job_id, index)
        for job_id in merging:
            self.dispatcher.finalize(job_id)


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def _names(inputs: list[Any], shown: int = 5) -> str:
    paths = [str(path) for path, _ in inputs]
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def _artifacts(output: Path, output_url: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(output.rglob("*")):
        if path.is_file():
            name = path.relative_to(output).as_posix()
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if name.endswith(".jsonl"):
                content_type = "application/x-ndjson"
            found.append(
                {
                    "name": name,
                    "size": path.stat().st_size,
                    "content_type": content_type,
                    "url": storage.join(output_url, name),
                }
            )
    return found
