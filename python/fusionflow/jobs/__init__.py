"""Durable jobs: a pipeline run split into shards, recorded in the database.

``JobService`` is what callers use (submit, get, wait, cancel, retry, delete);
``JobRunner`` holds the steps executors run (plan, run_shard, finalize) and recovery.
"""

from fusionflow.jobs.dispatch import Dispatcher
from fusionflow.jobs.errors import TransientError
from fusionflow.jobs.runner import JobRunner
from fusionflow.jobs.service import JobNotFound, JobService
from fusionflow.jobs.views import JobInfo

__all__ = ["Dispatcher", "JobInfo", "JobNotFound", "JobRunner", "JobService", "TransientError"]
