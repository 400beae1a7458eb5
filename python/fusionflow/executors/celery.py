"""The scale-out executor: job steps as Celery tasks on a Redis broker.

Tasks are thin wrappers around ``JobRunner``. Delivery settings:
- ``acks_late`` and ``task_reject_on_worker_lost``: a task is acknowledged only when its
  step has finished, so a worker that dies loses nothing;
- prefetch 1: a worker holds only the shard it is running;
- ``visibility_timeout`` above the longest shard, so a slow shard is never handed to a
  second worker while the first still runs it.

A worker killed outright (SIGKILL, a host gone) cannot wait for that timeout: its shard's
heartbeat stops, and the janitor thread every worker runs reschedules the shard within
about ``FUSIONFLOW_SHARD_LOST_AFTER`` seconds (10 by default). The original message, when
Redis finally restores it, finds the shard done and does nothing. kombu's own sweep for
expired messages is made to run every second (its defaults wait about 100 s).

The database is the truth, the queue a hint: messages lost with Redis (a restart of a
Redis that keeps nothing on disk, a ``FLUSHALL``), or taken by a worker that died before
acting on them, are sent again. When no message has waited in the queue, and none was
taken by a worker lately, for two janitor rounds in a row, one janitor (a short Redis
lock) schedules every step the database says is due (``resume_all``): planning of pending
jobs, pending shards, finalize of jobs whose shards are done and that no worker
finalizes. "Lately" is within the longest retry delay and a heartbeat's grace: a worker
acts on a message at once, or holds it for a retry's delay; one taken longer ago is
running a step (under its heartbeat) or lost with its worker, whom kombu would wait for
``visibility_timeout`` to restore. The steps are idempotent, so a message sent twice costs
a no-op. The queue's binding, which routes messages to it and goes with the keys, is
declared again every round.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery, signals

from fusionflow.config import Settings
from fusionflow.db import Database
from fusionflow.delivery import Notifier
from fusionflow.jobs import JobRunner, JobService
from fusionflow.observability import QUEUE_LENGTH
from fusionflow.retry import log_round_failure

log = logging.getLogger(__name__)

QUEUE = "fusionflow"
PLAN, SHARD, FINALIZE = "fusionflow.plan", "fusionflow.shard", "fusionflow.finalize"
RECONCILE_LOCK = "fusionflow:reconcile"


def make_app(settings: Settings) -> Celery:
    """A Celery app on ``REDIS_URL`` with FusionFlow's delivery settings and tasks."""
    if not settings.broker:
        raise ValueError("REDIS_URL is not set: the Celery executor needs a Redis broker")
    app = Celery("fusionflow", broker=settings.broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
    )
    _register_tasks(app, settings)
    return app


class CeleryDispatcher:
    """A ``Dispatcher`` that sends each step to the workers."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def plan(self, job_id: str) -> None:
        self.app.send_task(PLAN, args=[job_id], queue=QUEUE)

    def run_shard(self, job_id: str, index: int, *, delay: float = 0.0) -> None:
        self.app.send_task(SHARD, args=[job_id, index], queue=QUEUE, countdown=delay or None)

    def finalize(self, job_id: str) -> None:
        self.app.send_task(FINALIZE, args=[job_id], queue=QUEUE)


def broker_is_idle(app: Celery, taken_within_s: float) -> bool:
    """No message waits in the queue, and none was taken by a worker in the last
    ``taken_within_s`` seconds (kombu's index of unacknowledged messages, by when they
    were taken)."""
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        client = channel.client
        since = time.time() - taken_within_s
        taken = int(client.zcount(channel.unacked_index_key, since, "+inf"))
        waiting = int(client.llen(QUEUE)) + taken
    return waiting == 0


def declare_queue(app: Celery) -> None:
    """Bind the queue (again): after a Redis restart messages would go nowhere."""
    with app.connection_for_write() as connection:
        app.amqp.queues[QUEUE].bind(connection.default_channel).declare()


def reconcile_lock(app: Celery, holder: str, seconds: float) -> bool:
    """Whether this janitor reconciles this round: one does, the others skip."""
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        return bool(client.set(RECONCILE_LOCK, holder, nx=True, px=int(seconds * 1000)))


def queue_length(app: Celery) -> int:
    """Tasks waiting in the broker's queue; also sets the queue-length gauge."""
    with app.connection_for_read() as connection:
        length = int(connection.default_channel.client.llen(QUEUE))
    QUEUE_LENGTH.labels(QUEUE).set(length)
    return length


class CeleryExecutor:
    """What a submitting process (``fusionflow serve``, a script) holds."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.app = make_app(settings)
        self.dispatcher = CeleryDispatcher(self.app)
        self.jobs = JobService(db, settings, self.dispatcher)

    def queue_length(self) -> int:
        return queue_length(self.app)

    def close(self) -> None:
        self.app.close()


class _WorkerState:
    """Per worker process: the runner (built on first use), the shutdown flag, the janitor
    (and, started beside it, the notifier that sends e-mails and webhooks)."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.stopping = threading.Event()
        self._runner: JobRunner | None = None
        self._lock = threading.Lock()

    @property
    def runner(self) -> JobRunner:
        with self._lock:
            if self._runner is None:
                db = Database(self.settings.database)
                self._runner = JobRunner(
                    db, self.settings, CeleryDispatcher(self.app), should_stop=self.stopping.is_set
                )
            return self._runner

    def janitor(self, interval: float = 2.0) -> None:
        idle_rounds = 0
        lately = self.settings.retry_backoff_max_s + self.settings.shard_lost_after_s
        while not self.stopping.wait(interval):
            try:
                self.runner.reap_lost()
                queue_length(self.app)
                declare_queue(self.app)
                # Two rounds: a message is briefly in neither place while a worker takes it.
                idle_rounds = idle_rounds + 1 if broker_is_idle(self.app, lately) else 0
                if idle_rounds >= 2 and reconcile_lock(self.app, self.runner.worker, interval):
                    self.runner.resume_all()
            except Exception as e:  # noqa: BLE001 (sweeping on through a DB or broker restart)
                log_round_failure(log, "janitor round", e)


def _register_tasks(app: Celery, settings: Settings) -> None:
    state = _WorkerState(app, settings)

    @app.task(name=PLAN)  # type: ignore[untyped-decorator]
    def plan(job_id: str) -> None:
        state.runner.plan(job_id)

    @app.task(name=SHARD)  # type: ignore[untyped-decorator]
    def run_shard(job_id: str, index: int) -> None:
        state.runner.run_shard(job_id, index)

    @app.task(name=FINALIZE)  # type: ignore[untyped-decorator]
    def finalize(job_id: str) -> None:
        state.runner.finalize(job_id)

    def on_ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            threading.Thread(target=state.janitor, name="fusionflow-janitor", daemon=True).start()
            Notifier(state.runner.db, settings, state.stopping, settings.notify_interval_s).start()

    def on_shutdown(**_: Any) -> None:
        # SIGTERM: running shards stop and go back to the queue (see JobRunner._after_cancel).
        state.stopping.set()

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(on_shutdown, weak=False)


def run_worker(settings: Settings, concurrency: int = 1, loglevel: str = "INFO") -> None:
    """Run a worker in this process until it is told to stop (SIGTERM: hand back, exit).

    Thread pool, one shard at a time by default: each shard uses every core through the
    Rust core's own threads, with the GIL released.
    """
    app = make_app(settings)
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            f"--queues={QUEUE}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
