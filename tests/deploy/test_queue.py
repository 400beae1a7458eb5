"""What KEDA sees, measured on a real worker and a real Redis: the length of the Redis list
the ScaledObject names is the number of shards waiting, and a busy worker told to stop
(SIGTERM: a scale-in or a spot reclaim) puts its shard back in that list, well within the
grace period the manifests give it, so scaling in loses and doubles nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

import fusionflow
from fusionflow.db import Database, Shard
from fusionflow.executors.celery import CeleryExecutor
from tests.deploy.conftest import compose_config, kustomize
from tests.deploy.test_compose import duration_s
from tests.jobs.helpers import SLOW_PATTERN, same_outputs
from tests.jobs.workers import Workers, running_shard_of, shards, wait_for

SHARDS = 20


def waiting_shards(db: Database, job_id: str) -> int:
    with db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Shard)
                .where(Shard.job_id == job_id, Shard.status == "pending")
            )
            or 0
        )


def the_list_keda_watches() -> str:
    (trigger,) = next(o for o in kustomize("prod") if o["kind"] == "ScaledObject")["spec"][
        "triggers"
    ]
    return str(trigger["metadata"]["listName"])


def grace_periods() -> dict[str, float]:
    worker = next(
        o
        for o in kustomize("prod")
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "fusionflow-worker"
    )
    compose = compose_config()["services"]["worker"]
    return {
        "kubernetes": float(worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]),
        "compose": duration_s(compose["stop_grace_period"]),
    }


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_keda_sees_the_waiting_shards_and_scale_in_hands_them_back(
    celery: CeleryExecutor,
    workers: Workers,
    db: Database,
    celery_env: dict[str, str],
    tmp_path: Path,
) -> None:
    root = tmp_path / "logs"
    root.mkdir()
    # One shard per file (FUSIONFLOW_SHARD_FILES=1); the first keeps a worker busy ~3 s.
    busy_line = "2026-11-28 12:00:00 INFO request handled in 12 ms by worker seven\n"
    (root / "00-busy.log").write_text(busy_line * 2_000_000 + "ERROR at the end\n")
    for i in range(1, SHARDS):
        (root / f"{i:02}.log").write_text(f"ok\nERROR number {i}\n")
    params = {"patterns": [SLOW_PATTERN, "ERROR"]}
    queue = redis.Redis.from_url(celery_env["REDIS_URL"])
    listed = the_list_keda_watches()

    busy = workers.start()
    job = celery.jobs.submit("grep", [str(root)], params)
    wait_for(lambda: running_shard_of(db, job.id, busy.pid) == 0, 60, "the busy shard")
    # The worker holds the shard it runs (acks_late, prefetch 1); the rest wait in the list.
    wait_for(lambda: waiting_shards(db, job.id) == SHARDS - 1, 10, "the other shards")
    assert queue.llen(listed) == waiting_shards(db, job.id) == SHARDS - 1

    told = time.monotonic()
    busy.send_signal(signal.SIGTERM)
    busy.wait(60)
    hand_back_s = time.monotonic() - told
    # Back in the list: KEDA now counts it too, and another worker will take it.
    assert running_shard_of(db, job.id, busy.pid) is None
    assert queue.llen(listed) == waiting_shards(db, job.id) == SHARDS
    for where, grace in grace_periods().items():
        assert hand_back_s < grace / 4, f"hand-back {hand_back_s:.1f} s against {where}'s {grace} s"
    print(f"SIGTERM to exit with the shard handed back: {hand_back_s:.2f} s")

    workers.start()  # scaled out again
    done = celery.jobs.wait(job.id, timeout=180)
    assert done.status == "completed", done.error
    assert queue.llen(listed) == 0
    final = shards(db, job.id)
    assert len(final) == SHARDS
    assert all((s.status, s.lost, s.attempts) == ("completed", 0, 1) for s in final), [
        (s.index, s.status, s.lost, s.attempts) for s in final
    ]
    fusionflow.run("grep", [str(root)], params, tmp_path / "run")
    same_outputs(Path(done.output_url), tmp_path / "run", ["matches.txt"])
