"""PostgreSQL going away under a running job: stopped for 20 s, and restarted at once.
Workers wait it out (claims, heartbeats and completions are retried with backoff), and
no shard is taken for lost because every heartbeat was late at once."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from fusionflow.db import Shard
from tests.faults.conftest import Stack
from tests.servers import PostgresServer


def test_postgres_stopped_for_20_s_mid_job(
    stack: Stack, postgres: PostgresServer, corpus: Path, expected: tuple[Path, dict]
) -> None:
    def outage() -> None:
        postgres.stop()
        time.sleep(20)
        postgres.start()

    job = stack.survives("PostgreSQL stopped for 20 s mid-job", outage, corpus, expected)
    with stack.db.session() as session:
        lost = session.scalars(select(Shard.lost).where(Shard.job_id == job)).all()
    assert set(lost) == {0}, lost


def test_postgres_restarted_mid_job(
    stack: Stack, postgres: PostgresServer, corpus: Path, expected: tuple[Path, dict]
) -> None:
    def restart() -> None:
        postgres.stop()  # fast shutdown: every session cut off
        postgres.start()

    stack.survives("PostgreSQL restarted (fast shutdown) mid-job", restart, corpus, expected)
