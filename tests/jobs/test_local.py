"""Jobs on the local executor, on SQLite and PostgreSQL: same outputs as an in-process run,
progress, cancel, retries, redelivery, lost workers and restarts."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import fusionflow
from fusionflow import pipelines
from fusionflow.config import Settings
from fusionflow.db import Artifact, Database, Job, Notification, Shard, User, migrate, utcnow
from fusionflow.errors import InvalidParameter
from fusionflow.executors import LocalExecutor
from fusionflow.jobs import JobInfo, JobRunner, JobService, TransientError
from fusionflow.jobs.runner import MAX_LOST, NOT_UNDER_INPUTS
from fusionflow.pipelines import grep as grep_pipeline
from tests.jobs.helpers import SLOW_PATTERN, comparable, same_outputs, slow_corpus


def local_path(url: str) -> Path:
    return Path(url)


def patch_run_shard(monkeypatch: pytest.MonkeyPatch, run_shard: Callable[..., Any]) -> None:
    """Make the grep pipeline's shards run ``run_shard`` instead (fault injection)."""
    patched = dataclasses.replace(grep_pipeline.PIPELINE, run_shard=run_shard)
    real_get = pipelines.get
    monkeypatch.setattr(
        pipelines, "get", lambda name: patched if name == "grep" else real_get(name)
    )


def make_user(db: Database, name: str = "ada") -> int:
    with db.session() as session:
        user = User(username=name, password_hash="x")
        session.add(user)
        session.flush()
        return user.id


def test_grep_job_matches_an_in_process_run(
    executor: LocalExecutor, db: Database, log_corpus: Path, tmp_path: Path
) -> None:
    params = {"patterns": ["ERROR", "FATAL"], "context": 1}
    owner = make_user(db)
    info = executor.jobs.submit("grep", [str(log_corpus)], params, owner_id=owner, name="logs")
    assert info.status == "pending"
    done = executor.jobs.wait(info.id, timeout=60)
    assert done.status == "completed", done.error
    assert done.shards_total > 3  # two files a shard: really sharded
    assert done.shards_done == done.shards_total
    assert done.progress == 100.0
    assert done.bytes_done == done.bytes_total > 0
    assert done.files_done == done.files_total

    expected = fusionflow.run("grep", [str(log_corpus)], params, tmp_path / "run")
    output = local_path(done.output_url)
    same_outputs(output, tmp_path / "run", ["matches.txt"])
    summary = json.loads((output / "summary.json").read_text())
    assert comparable(summary) == comparable(expected)
    assert "matches:" in (output / "report.txt").read_text()

    with db.session() as session:
        artifacts = session.scalars(select(Artifact).where(Artifact.job_id == info.id)).all()
        notes = session.scalars(select(Notification).where(Notification.user_id == owner)).all()
    assert {a.name for a in artifacts} == {"matches.txt", "summary.json", "report.txt"}
    sizes = {a.name: a.size for a in artifacts}
    assert sizes["matches.txt"] == (output / "matches.txt").stat().st_size
    assert [(n.kind, n.job_id) for n in notes] == [("job.completed", info.id)]


def test_csv_job_matches_an_in_process_run(executor: LocalExecutor, tmp_path: Path) -> None:
    inputs = tmp_path / "csv"
    inputs.mkdir()
    for i in range(7):
        rows = "".join(f"{'ab'[j % 2]},{i * j},{j}.5\n" for j in range(50))
        (inputs / f"part{i}.csv").write_text("key,n,x\n" + rows + ("bad,\n" if i == 3 else ""))
    params = {
        "group_by": ["key"],
        "metrics": ["count", "sum:n", "mean:x", "count_distinct:n"],
        "parquet": True,
    }
    info = executor.jobs.submit("csv-aggregate", [str(inputs)], params)
    done = executor.jobs.wait(info.id, timeout=60)
    assert done.status == "completed", done.error
    assert done.shards_total == 4

    expected = fusionflow.run("csv-aggregate", [str(inputs)], params, tmp_path / "run")
    output = local_path(done.output_url)
    same_outputs(output, tmp_path / "run", ["aggregate.csv"])
    summary = json.loads((output / "summary.json").read_text())
    assert comparable(summary) == comparable(expected)
    assert summary["bad_rows"] == 1
    assert (output / "aggregate.parquet").stat().st_size > 0


def test_bad_params_are_refused_at_submit(executor: LocalExecutor, logs: Path) -> None:
    with pytest.raises(InvalidParameter, match="`patterns`"):
        executor.jobs.submit("grep", [str(logs)], {"patterns": []})
    with pytest.raises(InvalidParameter, match="unknown pipeline"):
        executor.jobs.submit("nope", [str(logs)], {})
    with pytest.raises(InvalidParameter, match="`inputs`"):
        executor.jobs.submit("grep", [], {"patterns": ["x"]})


def test_a_missing_input_fails_the_job_clearly_and_retry_runs_it_again(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    missing = tmp_path / "later"
    info = executor.jobs.submit("grep", [str(missing)], {"patterns": ["x"]})
    failed = executor.jobs.wait(info.id, timeout=30)
    assert failed.status == "failed"
    assert failed.error == f"planning: no such file or directory: {missing}"

    missing.mkdir()
    (missing / "a.log").write_text("x marks\n")
    executor.jobs.retry(info.id)
    done = executor.jobs.wait(info.id, timeout=30)
    assert done.status == "completed", done.error
    assert (local_path(done.output_url) / "matches.txt").read_text().endswith(":1:x marks\n")
    with pytest.raises(InvalidParameter, match="only failed or cancelled"):
        executor.jobs.retry(info.id)


def test_per_file_errors_go_to_the_report_and_the_job_completes(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "good.log").write_text("ERROR one\n")
    (root / "broken.log.gz").write_bytes(b"not gzip at all")
    info = executor.jobs.submit("grep", [str(root)], {"patterns": ["ERROR"]})
    done = executor.jobs.wait(info.id, timeout=30)
    assert done.status == "completed", done.error
    summary = executor.jobs.summary(info.id)
    assert summary is not None
    assert [e["path"] for e in summary["errors"]] == [str(root / "broken.log.gz")]
    assert summary["matches"] == 1


def test_cancel_stops_running_shards_quickly_and_starts_no_more(
    executor: LocalExecutor, db: Database, tmp_path: Path
) -> None:
    root = slow_corpus(tmp_path / "slow")
    params = {"patterns": [SLOW_PATTERN]}
    info = executor.jobs.submit("grep", [str(root)], params)
    deadline = time.monotonic() + 30
    while executor.jobs.get(info.id).bytes_done == 0:  # progress shows up while it runs
        assert time.monotonic() < deadline, "no progress reported"
        time.sleep(0.05)
    started = time.monotonic()
    assert executor.jobs.cancel(info.id).status == "cancelled"
    # Once the cancel is committed no shard starts (one may start while it commits).
    cancelled_at = utcnow()
    with db.session() as session:
        # the running shard notices within a beat or two and stops
        while session.scalar(
            select(Shard.id).where(Shard.job_id == info.id, Shard.status == "running")
        ):
            assert time.monotonic() - started < 3
            time.sleep(0.05)
            session.expire_all()
    time.sleep(0.5)
    with db.session() as session:
        shards = session.scalars(select(Shard).where(Shard.job_id == info.id)).all()
    assert {s.status for s in shards} <= {"completed", "cancelled"}
    assert any(s.status == "cancelled" for s in shards)
    assert all(s.started_at is None or s.started_at <= cancelled_at for s in shards)
    assert executor.jobs.get(info.id).status == "cancelled"


def test_transient_failures_are_retried_with_attempts_recorded(
    executor: LocalExecutor,
    db: Database,
    logs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failures = {"left": 2}
    real = grep_pipeline.PIPELINE.run_shard

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise TransientError("storage answered 503 Slow Down")
        return real(*args, **kwargs)

    patch_run_shard(monkeypatch, flaky)
    info = executor.jobs.submit("grep", [str(logs / "b.log")], {"patterns": ["x"]})
    done = executor.jobs.wait(info.id, timeout=30)
    assert done.status == "completed", done.error
    with db.session() as session:
        shard = session.scalars(select(Shard).where(Shard.job_id == info.id)).one()
    assert shard.attempts == 3
    assert shard.status == "completed"


def test_a_fourth_transient_failure_fails_the_job(
    executor: LocalExecutor, db: Database, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise TransientError("storage answered 503 Slow Down")

    patch_run_shard(monkeypatch, always)
    info = executor.jobs.submit("grep", [str(logs / "b.log")], {"patterns": ["x"]})
    done = executor.jobs.wait(info.id, timeout=30)
    assert done.status == "failed"
    assert done.error == "shard 0: storage answered 503 Slow Down (after 3 attempts)"


def test_deterministic_errors_fail_fast(
    executor: LocalExecutor, db: Database, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("a bug")

    patch_run_shard(monkeypatch, broken)
    info = executor.jobs.submit("grep", [str(logs / "b.log")], {"patterns": ["x"]})
    done = executor.jobs.wait(info.id, timeout=30)
    assert (done.status, done.error) == ("failed", "shard 0: a bug")
    with db.session() as session:
        assert session.scalars(select(Shard.attempts).where(Shard.job_id == info.id)).one() == 1


class Recorder:
    """A dispatcher that only records what would be scheduled."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def plan(self, job_id: str) -> None:
        self.calls.append(("plan", job_id))

    def run_shard(self, job_id: str, index: int, *, delay: float = 0.0) -> None:
        self.calls.append(("shard", job_id, str(index)))

    def finalize(self, job_id: str) -> None:
        self.calls.append(("finalize", job_id))


def test_redelivered_steps_count_once(db: Database, settings: Settings, logs: Path) -> None:
    recorder = Recorder()
    runner = JobRunner(db, settings, recorder)

    owner = make_user(db)
    info = JobService(db, settings, recorder).submit(
        "grep", [str(logs)], {"patterns": ["ERROR|FATAL"]}, owner_id=owner
    )
    runner.plan(info.id)
    runner.plan(info.id)  # a redelivered plan re-schedules, never re-plans
    with db.session() as session:
        assert session.scalar(select(Job.shards_total).where(Job.id == info.id)) == 1
    for _ in range(2):  # the same shard delivered twice
        runner.run_shard(info.id, 0)
    runner.finalize(info.id)
    runner.finalize(info.id)
    assert recorder.calls.count(("finalize", info.id)) == 1  # the second delivery did nothing
    with db.session() as session:
        shard = session.scalars(select(Shard).where(Shard.job_id == info.id)).one()
        job = session.get(Job, info.id)
        notes = session.scalars(select(Notification)).all()
        artifacts = session.scalars(select(Artifact)).all()
        assert job is not None
        assert (shard.attempts, shard.status, job.status) == (1, "completed", "completed")
    assert len(notes) == 1
    assert len(artifacts) == 3
    assert (local_path(info.output_url) / "matches.txt").read_text().count("\n") == 2


def test_a_shard_reads_only_what_lies_under_the_jobs_inputs(
    db: Database, settings: Settings, logs: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "app").mkdir(parents=True)
    (outside / "app" / "a.log").write_text("ERROR SECRET behind a link\n")
    (outside / "payroll.csv").write_text("ceo,ERROR SECRET\n")
    recorder = Recorder()
    runner = JobRunner(db, settings, recorder)
    info = JobService(db, settings, recorder).submit(
        "grep", [str(logs)], {"patterns": ["ERROR"]}, owner_id=make_user(db)
    )
    runner.plan(info.id)
    # After the plan: a file added to the shard, and a listed folder swapped for a link.
    with db.session() as session:
        shard = session.scalars(select(Shard).where(Shard.job_id == info.id)).one()
        shard.inputs = [*shard.inputs, [str(outside / "payroll.csv"), 17]]
    (logs / "app").rename(tmp_path / "app-moved")
    (logs / "app").symlink_to(outside / "app")
    runner.run_shard(info.id, 0)
    runner.finalize(info.id)
    output = local_path(info.output_url)
    assert "SECRET" not in (output / "matches.txt").read_text()
    skipped = json.loads((output / "summary.json").read_text())["skipped"]
    assert sorted(entry["path"] for entry in skipped) == [
        str(logs / "app" / "a.log"),
        str(outside / "payroll.csv"),
    ]
    assert {entry["reason"] for entry in skipped} == {NOT_UNDER_INPUTS}
    assert "not under the job's inputs" in (output / "report.txt").read_text()


def _planned(db: Database, settings: Settings, logs: Path) -> tuple[Recorder, JobRunner, JobInfo]:
    """A job planned by a runner whose dispatcher only records."""

    recorder = Recorder()
    runner = JobRunner(db, settings, recorder)
    info = JobService(db, settings, recorder).submit("grep", [str(logs)], {"patterns": ["x"]})
    runner.plan(info.id)
    return recorder, runner, info


def test_a_lost_shard_is_rescheduled_and_a_poison_shard_fails_the_job(
    db: Database, settings: Settings, logs: Path
) -> None:
    recorder, runner, info = _planned(db, settings, logs)

    def worker_dies_mid_shard() -> None:
        with db.session() as session:
            session.execute(
                update(Shard)
                .where(Shard.job_id == info.id)
                .values(
                    status="running", worker="gone:1:1", heartbeat_at=utcnow().replace(year=2020)
                )
            )

    worker_dies_mid_shard()
    assert runner.reap_lost() == 1
    assert runner.reap_lost() == 0  # once
    assert recorder.calls[-1] == ("shard", info.id, "0")
    for _ in range(MAX_LOST - 1):
        worker_dies_mid_shard()
        runner.reap_lost()
    runner.run_shard(info.id, 0)  # the last loss it is allowed: not run again
    job = JobService(db, settings, recorder).get(info.id)
    assert job.status == "failed"
    assert job.error is not None
    assert f"stopped its worker {MAX_LOST} times" in job.error
    assert str(logs / "b.log") in job.error


def test_a_finalize_lost_with_its_worker_is_sent_again(
    db: Database, settings: Settings, logs: Path
) -> None:
    recorder, runner, info = _planned(db, settings, logs)
    runner.run_shard(info.id, 0)
    assert recorder.calls.count(("finalize", info.id)) == 1
    # Its finalizer died mid-way: the claim is there, the heartbeat stopped.
    with db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == info.id)
            .values(finalizer="gone:1:1", heartbeat_at=utcnow().replace(year=2020))
        )
    assert runner.reap_lost() == 1
    assert runner.reap_lost() == 0  # once
    assert recorder.calls.count(("finalize", info.id)) == 2
    # A finalize alive (beating) is left alone.
    with db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == info.id)
            .values(finalizer="alive:1:1", heartbeat_at=utcnow())
        )
    assert runner.reap_lost() == 0
    runner.finalize(info.id)  # the one sent again takes the claim over and completes
    assert JobService(db, settings, recorder).get(info.id).status == "completed"
    assert runner.reap_lost() == 0  # a finished job is no finalizer's


def test_jobs_left_by_a_crash_are_resumed_at_start(
    db: Database, settings: Settings, logs: Path
) -> None:

    # Submitted while no executor ran (the process died before planning).
    info = JobService(db, settings, Recorder()).submit("grep", [str(logs)], {"patterns": ["E"]})
    executor = LocalExecutor(db, settings).start()
    try:
        assert executor.jobs.wait(info.id, timeout=30).status == "completed"
    finally:
        executor.close()


def test_delete_removes_the_job_and_its_outputs(executor: LocalExecutor, logs: Path) -> None:
    info = executor.jobs.submit("grep", [str(logs)], {"patterns": ["ERROR"]})
    done = executor.jobs.wait(info.id, timeout=30)
    assert local_path(done.output_url).is_dir()
    executor.jobs.delete(info.id)
    assert not local_path(done.output_url).exists()
    from fusionflow.jobs import JobNotFound

    with pytest.raises(JobNotFound):
        executor.jobs.get(info.id)


def test_progress_is_readable_from_another_thread_while_shards_run(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    root = slow_corpus(tmp_path / "slow")  # three shards of about 0.4 s
    info = executor.jobs.submit("grep", [str(root)], {"patterns": [SLOW_PATTERN]})
    seen: list[float] = []

    def watch() -> None:
        while True:
            job = executor.jobs.get(info.id)
            seen.append(job.progress)
            if job.finished:
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    watcher.join(60)
    assert seen[-1] == 100.0
    assert any(0 < p < 100 for p in seen), seen
    assert seen == sorted(seen)


def test_open_executor_runs_jobs_with_embedded_defaults(settings: Settings, logs: Path) -> None:
    from fusionflow.executors import open_executor

    with open_executor(settings) as executor:
        job = executor.jobs.submit("grep", [str(logs)], {"patterns": ["FATAL"]})
        assert executor.jobs.wait(job.id, timeout=30).status == "completed"
    assert (settings.data_dir / "storage" / "results" / job.id / "matches.txt").is_file()


def test_job_metrics_count_submissions_outcomes_shards_and_bytes(
    executor: LocalExecutor, logs: Path
) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {
        "submitted": value("fusionflow_jobs_submitted_total", pipeline="grep"),
        "completed": value("fusionflow_jobs_finished_total", pipeline="grep", status="completed"),
        "shards": value("fusionflow_shard_duration_seconds_count", pipeline="grep"),
        "bytes": value("fusionflow_bytes_processed_total", pipeline="grep"),
    }
    job = executor.jobs.submit("grep", [str(logs)], {"patterns": ["ERROR"]})
    done = executor.jobs.wait(job.id, timeout=30)
    assert value("fusionflow_jobs_submitted_total", pipeline="grep") == before["submitted"] + 1
    assert (
        value("fusionflow_jobs_finished_total", pipeline="grep", status="completed")
        == before["completed"] + 1
    )
    assert value("fusionflow_shard_duration_seconds_count", pipeline="grep") == (
        before["shards"] + done.shards_total
    )
    assert value("fusionflow_bytes_processed_total", pipeline="grep") == (
        before["bytes"] + done.bytes_total
    )


def test_resize_job_matches_an_in_process_run(executor: LocalExecutor, tmp_path: Path) -> None:
    from tests.pipelines.images import quadrants

    photos = tmp_path / "photos"
    for i, name in enumerate(["a/1.jpg", "a/2.png", "b/3.jpg", "b/c/4.webp", "5.gif"]):
        (photos / name).parent.mkdir(parents=True, exist_ok=True)
        quadrants(320 + 16 * i, 240).save(photos / name)
    (photos / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    params = {"max_width": 100, "max_height": 100, "format": "webp"}
    info = executor.jobs.submit("resize-images", [str(photos)], params)
    done = executor.jobs.wait(info.id, timeout=60)
    assert done.status == "completed", done.error
    assert done.shards_total == 3  # shard_files=2: the thumbnails come from three shards

    expected = fusionflow.run("resize-images", [str(photos)], params, tmp_path / "run")
    output = local_path(done.output_url)
    thumbnails = ["a/1.webp", "a/2.webp", "b/3.webp", "b/c/4.webp", "5.webp"]
    same_outputs(output, tmp_path / "run", ["manifest.jsonl", *thumbnails])
    summary = json.loads((output / "summary.json").read_text())
    assert comparable(summary) == comparable(expected)
    assert (summary["files_total"], summary["files_resized"]) == (6, 5)
    assert [Path(e["path"]).name for e in summary["errors"]] == ["broken.jpg"]
    assert not (output.parent.parent / "work" / info.id).exists()  # the parts are gone


def test_extract_job_matches_an_in_process_run(executor: LocalExecutor, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.html").write_text("<h1>Title</h1><p>body &amp; soul</p>")
    (docs / "b.md").write_text("# Notes\n\nsome words\n")
    (docs / "sub" / "c.txt").write_bytes("caf\xe9".encode("latin-1"))
    (docs / "sub" / "d.bin").write_bytes(b"\x00\x01binary")
    (docs / "sub" / "e.txt").write_text("last one")
    info = executor.jobs.submit("extract-text", [str(docs)], {})
    done = executor.jobs.wait(info.id, timeout=60)
    assert done.status == "completed", done.error
    assert done.shards_total == 3

    expected = fusionflow.run("extract-text", [str(docs)], {}, tmp_path / "run")
    output = local_path(done.output_url)
    texts = ["a.html.txt", "b.md.txt", "sub/c.txt.txt", "sub/e.txt.txt"]
    same_outputs(output, tmp_path / "run", ["documents.jsonl", *texts])
    summary = json.loads((output / "summary.json").read_text())
    assert comparable(summary) == comparable(expected)
    assert (summary["files_extracted"], len(summary["errors"])) == (4, 1)
    assert (output / "sub" / "c.txt.txt").read_text() == "café"
    # Jobs parse in worker processes even when asked not to: a worker serves everyone.
    in_process = executor.jobs.submit("extract-text", [str(docs / "a.html")], {"isolate": False})
    done = executor.jobs.wait(in_process.id, timeout=60)
    assert done.status == "completed", done.error
    assert json.loads((local_path(done.output_url) / "summary.json").read_text())["isolated"]


def test_a_second_process_on_one_sqlite_database_is_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = f"sqlite:///{tmp_path / 'data' / 'fusionflow.db'}"  # the embedded default
    settings = Settings(data_dir=tmp_path / "data", database_url=database)
    migrate.upgrade(settings.database)
    db = Database(settings.database)
    first = LocalExecutor(db, settings).start()
    with caplog.at_level(logging.WARNING, logger="fusionflow.executors.local"):
        second = LocalExecutor(db, settings).start()  # as a second `fusionflow serve` would
    second.close()
    first.close()
    (warning,) = [r.getMessage() for r in caplog.records if "already run" in r.getMessage()]
    assert f"already run in process {os.getpid()}" in warning
    assert "set DATABASE_URL to PostgreSQL" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fusionflow.executors.local"):
        LocalExecutor(db, settings).start().close()  # the first has let go
    assert not [r for r in caplog.records if "already run" in r.getMessage()]
    db.dispose()
