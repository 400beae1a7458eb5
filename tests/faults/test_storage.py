"""S3 in trouble under a running job: answering 503 for 30 s, answering slowly (2 s a
request), and gone for good. The first two are waited out; the last fails the job
saying why, after its attempts, and leaves nothing running."""

from __future__ import annotations

import time
from pathlib import Path

import fusionflow
from fusionflow.db import JobStatus
from tests.faults.conftest import PARAMS, Stack


def test_s3_answering_503_for_30_s(stack: Stack, corpus: Path, expected: tuple[Path, dict]) -> None:
    def outage() -> None:
        stack.storage_down[0] = True
        time.sleep(30)
        stack.storage_down[0] = False

    stack.survives("S3 answering 503 for 30 s mid-job", outage, corpus, expected)
    assert stack.storage.failures > 0


def test_s3_answering_slowly(stack: Stack, corpus: Path, tmp_path: Path) -> None:
    inputs = sorted(str(path) for path in corpus.iterdir())[:4]
    truth = tmp_path / "truth"
    stack.storage.delay_s = 2.0  # every request, from the first
    stack.start_workers()
    started = time.monotonic()
    done = stack.wait(stack.submit(inputs))
    took = time.monotonic() - started
    stack.assert_exact(done, (truth, fusionflow.run("grep", inputs, PARAMS, truth)), files=4)
    stack.assert_nothing_stuck()
    stack.report("S3 answering every request 2 s late", "completed", took, True)


def test_s3_gone_for_good_fails_the_job_clearly(stack: Stack, corpus: Path) -> None:
    stack.start_workers(FUSIONFLOW_MAX_ATTEMPTS="3")
    job = stack.submit([str(corpus)])
    stack.storage_down[0] = True
    gone = time.monotonic()
    done = stack.wait(job)
    took = time.monotonic() - gone
    assert done.status == JobStatus.FAILED
    assert done.error is not None
    assert "503" in done.error, done.error
    assert done.error.endswith("(after 3 attempts)"), done.error
    stack.assert_nothing_stuck()
    stack.report("S3 gone for good (3 attempts)", f"failed: {done.error}", took, False)
