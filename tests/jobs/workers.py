"""Celery workers as separate processes, over a throwaway Redis: the fixtures of every test
that runs jobs on real workers (tests/jobs, tests/deploy). Registered in tests/conftest.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from fusionflow.config import Settings
from fusionflow.db import Database, Shard
from fusionflow.executors.celery import CeleryExecutor
from tests.servers import a_redis


class Workers:
    """`fusionflow worker` processes sharing the test's database, broker and storage."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, metrics_port: int | None = None) -> subprocess.Popen[bytes]:
        script = Path(sys.executable).with_name("fusionflow")
        metrics = ["--metrics-port", str(metrics_port)] if metrics_port else []
        with (self.logs / f"worker{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [script, "worker", "--loglevel", "INFO", *metrics],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed whole
            )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


@pytest.fixture
def celery_env(settings: Settings, db: Database, tmp_path: Path) -> Iterator[dict[str, str]]:
    with a_redis() as redis_url:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "DATABASE_URL": settings.database,
            "REDIS_URL": redis_url,
            "FUSIONFLOW_DATA_DIR": str(settings.data_dir),
            "FUSIONFLOW_SHARD_FILES": "1",
            "FUSIONFLOW_SHARD_LOST_AFTER": "3",
        }
        yield env


@pytest.fixture
def workers(celery_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(celery_env, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def celery(celery_env: dict[str, str], db: Database) -> Iterator[CeleryExecutor]:
    settings = Settings(
        database_url=celery_env["DATABASE_URL"],
        redis_url=celery_env["REDIS_URL"],
        data_dir=Path(celery_env["FUSIONFLOW_DATA_DIR"]),
    )
    executor = CeleryExecutor(db, settings)
    yield executor
    executor.close()


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def running_shard_of(db: Database, job_id: str, pid: int) -> int | None:
    with db.session() as session:
        return session.scalar(
            select(Shard.index).where(
                Shard.job_id == job_id,
                Shard.status == "running",
                Shard.worker.like(f"%:{pid}:%"),
            )
        )


def shards(db: Database, job_id: str) -> list[Shard]:
    with db.session() as session:
        return list(session.scalars(select(Shard).where(Shard.job_id == job_id)).all())
