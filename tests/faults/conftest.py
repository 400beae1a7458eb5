"""The fault suite's stack: PostgreSQL and Redis servers of the test's own (so that it may
stop them), storage on S3 (moto's server), two `fusionflow worker` processes, and a job
long enough to be hit mid-way. Each case checks the job's outputs against an in-process
run of the same inputs, byte for byte, or its clear failure; and that no job is left
pending or running."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

import fusionflow
from fusionflow.config import Settings, normalize_database_url
from fusionflow.db import Database, Job, JobStatus, Shard, migrate
from fusionflow.executors.celery import CeleryExecutor
from fusionflow.jobs import JobInfo
from tests.conftest import S3_CREDENTIALS
from tests.jobs.helpers import SLOW_PATTERN, comparable, same_outputs, slow_corpus
from tests.jobs.workers import Workers
from tests.servers import FaultyProxy, PostgresServer, RedisServer

# Forty files, one a shard, on two workers: a few seconds of work, so that the fault
# finds shards done, running and waiting.
FILES, LINES = 40, 100_000
PARAMS: dict[str, Any] = {"patterns": [SLOW_PATTERN, "ERROR"]}


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return slow_corpus(tmp_path_factory.mktemp("faults") / "logs", files=FILES, lines=LINES)


@pytest.fixture(scope="session")
def expected(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The ground truth: ``fusionflow run`` on the same inputs, in this process."""
    out = tmp_path_factory.mktemp("faults") / "run"
    return out, fusionflow.run("grep", [str(corpus)], PARAMS, out)


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    db: Database
    executor: CeleryExecutor
    workers: Workers
    s3: Any
    bucket: str
    tmp_path: Path
    storage: FaultyProxy  # what the workers reach S3 through
    storage_down: list[bool]  # [True]: it answers 503 to everything
    report: Callable[..., None]
    job_id: str = ""  # the job ``running_job`` started

    def start_workers(self, count: int = 2, **env: str) -> None:
        self.workers.env = {**self.env, **env}
        for _ in range(count):
            self.workers.start()

    def survives(
        self, fault: str, inflict: Callable[[], None], corpus: Path, expected: tuple[Path, dict]
    ) -> str:
        """A running job hit by ``inflict()``, which returns when the fault is over,
        completes with exact outputs and leaves nothing stuck; the time from the fault's
        end to the job's is reported."""
        job = self.running_job(corpus)
        inflict()
        over = time.monotonic()
        done = self.wait(job)
        recovered = time.monotonic() - over
        self.assert_exact(done, expected)
        self.assert_nothing_stuck()
        self.report(fault, "completed", recovered, True)
        return job

    def running_job(self, corpus: Path) -> str:
        """Workers started, and a job on ``corpus`` with two of its shards done."""
        self.start_workers()
        job = self.job_id = self.submit([str(corpus)])
        self.wait_until(lambda: self.shards_done(job) >= 2, 60, "two shards done")
        return job

    def submit(self, inputs: list[str], params: dict[str, Any] = PARAMS) -> str:
        return self.executor.jobs.submit("grep", inputs, params).id

    def job(self, job_id: str) -> JobInfo | None:
        """The job as the database has it; None while the database is out of reach."""
        try:
            return self.executor.jobs.get(job_id)
        except SQLAlchemyError:
            return None

    def wait(self, job_id: str, timeout: float = 240) -> JobInfo:
        """The finished job, through any outage of the database on the way."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.job(job_id)
            if info is not None and info.finished:
                return info
            assert time.monotonic() < deadline, f"job {job_id} unfinished: {info}"
            time.sleep(0.2)

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except SQLAlchemyError:
                pass
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def shards_done(self, job_id: str) -> int:
        with self.db.session() as session:
            return len(
                session.scalars(
                    select(Shard.id).where(Shard.job_id == job_id, Shard.status == "completed")
                ).all()
            )

    def assert_exact(self, done: JobInfo, expected: tuple[Path, dict], files: int = FILES) -> None:
        """Completed, and its outputs (kept on S3) those of the in-process run."""
        assert done.status == JobStatus.COMPLETED, done.error
        run_dir, run_summary = expected
        local = self.tmp_path / f"out-{done.id}"
        prefix = done.output_url.removeprefix(f"s3://{self.bucket}/")
        for name in ("matches.txt", "summary.json"):
            local.mkdir(exist_ok=True)
            self.s3.download_file(self.bucket, f"{prefix}/{name}", str(local / name))
        same_outputs(local, run_dir, ["matches.txt"])
        summary = json.loads((local / "summary.json").read_text())
        assert comparable(summary) == comparable(run_summary)
        assert done.files_done == done.files_total == files

    def assert_nothing_stuck(self) -> None:
        with self.db.session() as session:
            unfinished = session.scalars(
                select(Job.id).where(Job.status.in_((JobStatus.PENDING, JobStatus.RUNNING)))
            ).all()
        assert unfinished == []


# Where ``bench/faults.py`` collects what each case measured (unset: nowhere).
REPORT_ENV = "FUSIONFLOW_FAULT_REPORT"


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a case's outcome and time to recover, for the README's Reliability table."""

    def record(fault: str, outcome: str, recovered_s: float | None, exact: bool) -> None:
        if path := os.environ.get(REPORT_ENV):
            line = {
                "test": request.node.name,
                "fault": fault,
                "outcome": outcome,
                "recovered_s": None if recovered_s is None else round(recovered_s, 1),
                "exact": exact,
            }
            with Path(path).open("a") as out:
                out.write(json.dumps(line) + "\n")

    return record


@pytest.fixture
def stack(
    postgres: PostgresServer,
    broker: RedisServer,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    report: Callable[..., None],
) -> Iterator[Stack]:
    down = [False]
    proxy = FaultyProxy(s3_endpoint, lambda _method, _path: down[0])
    name = f"f_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres.url}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = normalize_database_url(f"{postgres.url}/{name}")
    migrate.upgrade(database_url)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "DATABASE_URL": database_url,
        "REDIS_URL": broker.url,
        "FUSIONFLOW_DATA_DIR": str(tmp_path / "data"),
        "FUSIONFLOW_STORAGE_URL": f"s3://{bucket}/ff",
        "S3_ENDPOINT_URL": proxy.url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": S3_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS["aws_secret_access_key"],
        "FUSIONFLOW_SHARD_FILES": "1",
        "FUSIONFLOW_SHARD_LOST_AFTER": "3",
    }
    settings = Settings(
        database_url=database_url,
        redis_url=broker.url,
        data_dir=tmp_path / "data",
        storage_url=env["FUSIONFLOW_STORAGE_URL"],
        s3_endpoint_url=proxy.url,
        aws_region="us-east-1",
        **S3_CREDENTIALS,
    )
    db = Database(database_url)
    executor = CeleryExecutor(db, settings)
    workers = Workers(env, tmp_path)
    with proxy:
        yield Stack(
            settings, env, db, executor, workers, s3_client, bucket, tmp_path, proxy, down, report
        )
        workers.stop_all()
    executor.close()
    db.dispose()
