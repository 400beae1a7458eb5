"""Fixtures for jobs on the local executor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fusionflow.config import Settings
from fusionflow.db import Database
from fusionflow.executors import LocalExecutor


@pytest.fixture
def executor(db: Database, settings: Settings) -> Iterator[LocalExecutor]:
    """A started local executor on the test's database and storage."""
    local = LocalExecutor(db, settings, janitor_interval=0.2).start()
    yield local
    local.close()
