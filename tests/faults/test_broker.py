"""Redis going away under a running job. Redis here keeps nothing on disk, as a cache-only
Redis in production may not: coming back, it has lost every queued message and the record
of those the workers held. The database says what is due; the janitors send it again."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.conftest import Stack
from tests.servers import RedisServer


def test_redis_restarted_mid_job(
    stack: Stack, broker: RedisServer, corpus: Path, expected: tuple[Path, dict]
) -> None:
    def restart() -> None:
        broker.stop()
        broker.start()  # empty: the queue is lost

    stack.survives("Redis restarted mid-job (queue lost)", restart, corpus, expected)


def test_redis_stopped_for_20_s_mid_job(
    stack: Stack, broker: RedisServer, corpus: Path, expected: tuple[Path, dict]
) -> None:
    def outage() -> None:
        broker.stop()
        time.sleep(20)
        broker.start()

    stack.survives("Redis stopped for 20 s mid-job", outage, corpus, expected)
