"""Executors run the steps of jobs: ``LocalExecutor`` (threads in this process, the
embedded default) and the Celery executor (``fusionflow.executors.celery``, Redis)."""

from fusionflow.executors.local import LocalExecutor

__all__ = ["LocalExecutor"]
