"""Comparing a job's outputs with an in-process run's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Fields that describe how a run went rather than what it found.
CIRCUMSTANTIAL = {"elapsed_s", "threads", "job", "inputs"}


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in CIRCUMSTANTIAL}


def same_outputs(job_output: Path, run_output: Path, names: list[str]) -> None:
    for name in names:
        assert (job_output / name).read_bytes() == (run_output / name).read_bytes(), name
