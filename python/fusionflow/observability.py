"""Prometheus metrics of jobs and shards (the API adds request metrics beside them)."""

from __future__ import annotations

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
