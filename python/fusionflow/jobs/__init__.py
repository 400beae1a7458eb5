"""Durable jobs: a pipeline run split into shards, recorded in the database.

``JobService`` is what callers use (submit, get, wait, cancel, retry, delete);
``JobRunner`` holds the steps executors run (plan, run_shard, finalize) and recovery.
"""

from fusionflow.errors import TransientError
from fusionflow.jobs.dispatch import Dispatcher
from fusionflow.jobs.runner import JobRunner
from fusionflow.jobs.service import ArtifactNotFound, JobConflict, JobNotFound, JobService
from fusionflow.jobs.views import ArtifactInfo, JobInfo, JobPage, JobQuery

__all__ = [
    "ArtifactInfo",
    "ArtifactNotFound",
    "Dispatcher",
    "JobConflict",
    "JobInfo",
    "JobNotFound",
    "JobPage",
    "JobQuery",
    "JobRunner",
    "JobService",
    "TransientError",
]
