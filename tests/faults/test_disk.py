"""The work directory filling up: the workers' scratch space (``TMPDIR``, where a shard's
results are written before they go to S3) on a 4 MB tmpfs, and a job whose every shard
writes more than that. The shard fails saying why and is tried again (space may come
back as other shards finish); after its attempts the job fails clearly. Nothing is
reported done with outputs missing, the space is given back, and the same workers then
run a job that fits."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

import fusionflow
from fusionflow.db import Artifact, JobStatus
from tests.faults.conftest import PARAMS, Stack

SIZE = 4 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (mounting one takes root, which CI has)."""
    if os.geteuid() != 0:
        message = "mounting a tmpfs takes root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path / "small"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(path)], check=True)
    yield path
    subprocess.run(["umount", "--lazy", str(path)], check=True)


def test_disk_full_in_the_work_directory(
    stack: Stack, small_disk: Path, corpus: Path, tmp_path: Path
) -> None:
    stack.start_workers(TMPDIR=str(small_disk), FUSIONFLOW_MAX_ATTEMPTS="3")
    inputs = sorted(str(path) for path in corpus.iterdir())
    # Every line matches: a shard's matches, about 13 MB, do not fit in 4 MB.
    started = time.monotonic()
    done = stack.wait(stack.submit(inputs[:2], {"patterns": ["INFO"]}))
    took = time.monotonic() - started
    assert done.status == JobStatus.FAILED
    assert done.error is not None
    assert "No space left on device" in done.error, done.error
    assert done.error.endswith("(after 3 attempts)"), done.error
    # No outputs, and none claimed: the job's output prefix is empty, no artifact listed.
    prefix = done.output_url.removeprefix(f"s3://{stack.bucket}/")
    written = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix).get("KeyCount", 0)
    assert written == 0
    with stack.db.session() as session:
        listed = select(func.count(Artifact.id)).where(Artifact.job_id == done.id)
        artifacts = session.scalar(listed)
    assert artifacts == 0
    # The scratch space is given back: the workers go on with work that fits.
    assert shutil.disk_usage(small_disk).used < SIZE // 4
    truth = tmp_path / "truth"
    fits = stack.wait(stack.submit(inputs[:2]))
    stack.assert_exact(fits, (truth, fusionflow.run("grep", inputs[:2], PARAMS, truth)), files=2)
    stack.assert_nothing_stuck()
    stack.report(
        "Disk full in the work directory (4 MB tmpfs, 3 attempts)",
        f"failed: {done.error}",
        took,
        False,
    )
