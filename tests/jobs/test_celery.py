"""Jobs on real Celery workers (separate processes) over a real Redis broker, on SQLite and
PostgreSQL: same outputs as an in-process run, a worker killed outright, a worker told to
stop (SIGTERM), every message lost with the broker's keys, and the queue length."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

import fusionflow
from fusionflow.db import Database
from fusionflow.executors.celery import QUEUE, CeleryExecutor
from fusionflow.jobs import JobInfo
from tests.jobs.helpers import SLOW_PATTERN, comparable, same_outputs, slow_corpus
from tests.jobs.workers import Workers, running_shard_of, shards, wait_for
from tests.servers import free_port


def slow_grep(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """Six files, one a shard, about 1 s each: time to act while shards run and wait."""
    root = slow_corpus(tmp_path / "slow", files=6, lines=600_000)
    return root, {"patterns": [SLOW_PATTERN, "ERROR"]}


def assert_same_as_a_run(done: JobInfo, root: Path, params: dict[str, Any], tmp_path: Path) -> None:
    """The job's outputs are those of ``fusionflow run`` on the same inputs."""
    expected = fusionflow.run("grep", [str(root)], params, tmp_path / "run")
    same_outputs(Path(done.output_url), tmp_path / "run", ["matches.txt"])
    summary = json.loads((Path(done.output_url) / "summary.json").read_text())
    assert comparable(summary) == comparable(expected)


def test_queue_length_counts_waiting_tasks(celery: CeleryExecutor, logs: Path) -> None:
    assert celery.queue_length() == 0
    celery.jobs.submit("grep", [str(logs)], {"patterns": ["ERROR"]})
    celery.jobs.submit("grep", [str(logs)], {"patterns": ["FATAL"]})
    assert celery.queue_length() == 2  # two plan tasks, no worker to take them


def test_celery_jobs_give_the_same_outputs_as_in_process_runs(
    celery: CeleryExecutor, workers: Workers, log_corpus: Path, tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    for port in ports:
        workers.start(metrics_port=port)
    grep_params = {"patterns": ["ERROR", "FATAL"], "context": 2}
    job = celery.jobs.submit("grep", [str(log_corpus)], grep_params)
    done = celery.jobs.wait(job.id, timeout=120)
    assert done.status == "completed", done.error
    assert done.shards_total == done.files_total > 10  # one file a shard
    assert_same_as_a_run(done, log_corpus, grep_params, tmp_path)

    # Each worker exports its own job metrics; together they count every shard once.
    shard_counts = []
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
            text = response.read().decode()
        match = re.search(
            r'^fusionflow_shard_duration_seconds_count\{pipeline="grep"\} (\S+)$', text, re.M
        )
        shard_counts.append(float(match.group(1)) if match else 0.0)
        assert "fusionflow_queue_length" in text
    assert sum(shard_counts) == done.shards_total


def test_a_killed_worker_loses_nothing_and_doubles_nothing(
    celery: CeleryExecutor, workers: Workers, db: Database, tmp_path: Path
) -> None:
    root, params = slow_grep(tmp_path)
    victim = workers.start()
    job = celery.jobs.submit("grep", [str(root)], params)
    wait_for(lambda: running_shard_of(db, job.id, victim.pid) is not None, 60, "a shard")
    os.killpg(victim.pid, signal.SIGKILL)  # the whole worker, at once
    killed_at = time.monotonic()
    lost_index = running_shard_of(db, job.id, victim.pid)  # as the victim left it
    assert lost_index is not None
    workers.start()  # another host takes over

    def rerun_started() -> bool:
        shard = next(s for s in shards(db, job.id) if s.index == lost_index)
        return shard.status != "running" or str(victim.pid) not in (shard.worker or "")

    wait_for(rerun_started, 30, "the lost shard to run again")
    recovered_after = time.monotonic() - killed_at
    done = celery.jobs.wait(job.id, timeout=180)
    assert done.status == "completed", done.error
    # Lost after 3 s without heartbeat here (10 s by default), plus the new worker's start.
    assert recovered_after < 15, f"the shard came back after {recovered_after:.1f} s"

    final = shards(db, job.id)
    assert all(s.status == "completed" for s in final)
    lost = next(s for s in final if s.index == lost_index)
    assert (lost.lost, lost.attempts) == (1, 2)
    assert all((s.lost, s.attempts) == (0, 1) for s in final if s.index != lost_index)
    assert done.files_done == done.files_total == 6
    assert_same_as_a_run(done, root, params, tmp_path)


def test_sigterm_hands_the_running_shard_back(
    celery: CeleryExecutor, workers: Workers, db: Database, tmp_path: Path
) -> None:
    root = slow_corpus(tmp_path / "slow", files=3, lines=1_500_000)  # 2 s a shard
    params = {"patterns": [SLOW_PATTERN]}
    leaving = workers.start()
    job = celery.jobs.submit("grep", [str(root)], params)
    wait_for(lambda: running_shard_of(db, job.id, leaving.pid) is not None, 60, "a shard")
    handed = running_shard_of(db, job.id, leaving.pid)
    workers.start()
    told = time.monotonic()
    leaving.send_signal(signal.SIGTERM)
    leaving.wait(20)
    assert time.monotonic() - told < 5  # it stopped its shard instead of finishing it
    done = celery.jobs.wait(job.id, timeout=180)
    assert done.status == "completed", done.error
    final = shards(db, job.id)
    assert all((s.status, s.lost, s.attempts) == ("completed", 0, 1) for s in final), [
        (s.index, s.status, s.lost, s.attempts) for s in final
    ]
    assert str(leaving.pid) not in (next(s for s in final if s.index == handed).worker or "")


def test_a_job_whose_queued_messages_were_all_deleted_still_completes_exactly(
    celery: CeleryExecutor,
    celery_env: dict[str, str],
    workers: Workers,
    db: Database,
    tmp_path: Path,
) -> None:
    # What a restart of a Redis that keeps nothing on disk does: every queued message, and
    # the record of those the workers hold, gone at once.
    root, params = slow_grep(tmp_path)
    worker = workers.start()
    job = celery.jobs.submit("grep", [str(root)], params)
    wait_for(lambda: running_shard_of(db, job.id, worker.pid) is not None, 60, "a shard")
    assert celery.queue_length() > 0  # the other shards wait in the queue
    broker = redis.Redis.from_url(celery_env["REDIS_URL"])
    broker.flushall()
    flushed_at = time.monotonic()
    assert celery.queue_length() == 0
    done = celery.jobs.wait(job.id, timeout=180)
    assert done.status == "completed", done.error
    # Seen idle for two janitor rounds (2 s each), then sent again; six 1 s shards.
    assert time.monotonic() - flushed_at < 30
    final = shards(db, job.id)
    assert [(s.status, s.attempts, s.lost) for s in final] == [("completed", 1, 0)] * 6
    assert_same_as_a_run(done, root, params, tmp_path)


def test_a_job_submitted_before_the_broker_lost_its_queue_is_planned(
    celery: CeleryExecutor, celery_env: dict[str, str], workers: Workers, log_corpus: Path
) -> None:
    job = celery.jobs.submit("grep", [str(log_corpus)], {"patterns": ["ERROR"]})
    redis.Redis.from_url(celery_env["REDIS_URL"]).flushall()  # its plan message gone
    workers.start()
    done = celery.jobs.wait(job.id, timeout=120)
    assert done.status == "completed", done.error
    assert done.files_done == done.files_total > 10


def test_a_message_taken_by_a_worker_that_died_before_acting_is_sent_again(
    celery: CeleryExecutor, celery_env: dict[str, str], workers: Workers, log_corpus: Path
) -> None:
    """What a worker killed between taking a message and acting on it leaves: the message
    out of the queue, recorded as taken a while ago, which kombu would restore only after
    ``visibility_timeout`` (6 h)."""
    job = celery.jobs.submit("grep", [str(log_corpus)], {"patterns": ["ERROR"]})
    broker = redis.Redis.from_url(celery_env["REDIS_URL"])
    taken = broker.rpop(QUEUE)
    assert taken is not None
    broker.hset("unacked", "dead-worker-tag", json.dumps([json.loads(taken), "", QUEUE]))
    broker.zadd("unacked_index", {"dead-worker-tag": time.time() - 60})
    workers.start()
    done = celery.jobs.wait(job.id, timeout=120)
    assert done.status == "completed", done.error
    assert done.files_done == done.files_total > 10
