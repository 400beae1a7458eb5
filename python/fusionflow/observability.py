"""Prometheus metrics of jobs and shards (the API adds request metrics beside them), and
the redaction of secrets from access logs."""

from __future__ import annotations

import logging
import re

from prometheus_client import Counter, Gauge, Histogram

JOBS_SUBMITTED = Counter(
    "fusionflow_jobs_submitted_total", "Jobs submitted, by pipeline.", ["pipeline"]
)
JOBS_FINISHED = Counter(
    "fusionflow_jobs_finished_total",
    "Jobs that ended, by pipeline and final status (completed, failed, cancelled).",
    ["pipeline", "status"],
)
SHARD_DURATION = Histogram(
    "fusionflow_shard_duration_seconds",
    "Wall time of completed shards, by pipeline.",
    ["pipeline"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
BYTES_PROCESSED = Counter(
    "fusionflow_bytes_processed_total",
    "Input bytes of completed shards, by pipeline.",
    ["pipeline"],
)
SHARD_RETRIES = Counter(
    "fusionflow_shard_retries_total",
    "Shard runs scheduled again: transient errors, and shards lost with their worker.",
    ["pipeline", "reason"],
)
QUEUE_LENGTH = Gauge("fusionflow_queue_length", "Tasks waiting in the executor's queue.", ["queue"])
DELIVERIES = Counter(
    "fusionflow_notification_deliveries_total",
    "E-mail and webhook delivery attempts, by channel and outcome (sent, pending: to be "
    "retried, failed: attempts used up).",
    ["channel", "outcome"],
)


class RedactQueryTokens(logging.Filter):
    """Blanks the tokens a URL may carry in its query (download links' ``link=``, and
    ``token=``/``access_token=`` should a client send one) in access-log records: a log
    line must not be a way in."""

    PATTERN = re.compile(r"([?&](?:link|token|access_token)=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.PATTERN.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self.PATTERN.sub(r"\1***", record.msg)
        return True


ACCESS_LOG_REDACTION = RedactQueryTokens()


def redact_access_log() -> None:
    """Install the redaction on uvicorn's access log (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if ACCESS_LOG_REDACTION not in access.filters:
        access.addFilter(ACCESS_LOG_REDACTION)
