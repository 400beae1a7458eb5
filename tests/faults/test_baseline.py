"""The same job on the same stack with nothing going wrong: exact, and how long it takes,
for the Reliability table's reference row."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.conftest import Stack


def test_no_fault(stack: Stack, corpus: Path, expected: tuple[Path, dict]) -> None:
    stack.start_workers()
    submitted = time.monotonic()
    done = stack.wait(stack.submit([str(corpus)]))
    took = time.monotonic() - submitted
    stack.assert_exact(done, expected)
    stack.assert_nothing_stuck()
    stack.report("none (the whole job, for reference)", "completed", took, True)
