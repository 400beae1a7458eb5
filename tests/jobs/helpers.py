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


def slow_corpus(root: Path, files: int = 6, lines: int = 150_000) -> Path:
    """Files that take a while to search with `SLOW_PATTERN`."""
    root.mkdir()
    line = "2026-11-28 12:00:00 INFO request handled in 12 ms by worker seven\n" * lines
    for i in range(files):
        (root / f"{i:02}.log").write_text(f"{line}ERROR in file {i}\n")
    return root


# Forces the regex engine through every byte of every line.
SLOW_PATTERN = r"(\w+\s+){9}\d{7}"
