"""Listing a job's files and splitting them into shards."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fusionflow import _core, pipelines

FileEntry = tuple[str, int]  # (path or URL, size in bytes)


def discover(
    pipeline: str, inputs: Sequence[str], params: Mapping[str, Any], threads: int = 0
) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """The files a ``pipeline`` job with these (raw) ``params`` reads from ``inputs``, in
    order, and the paths its selection left out with the reason."""
    validated = pipelines.get(pipeline).validate(params)
    selection = validated.selection() if hasattr(validated, "selection") else {}
    files, skipped = _core.list_files(list(inputs), threads=threads, **selection)
    return [(str(path), size) for path, size in files], skipped


def split(files: Sequence[FileEntry], max_bytes: int, max_files: int) -> list[list[FileEntry]]:
    """Consecutive runs of ``files``, in order (so that concatenating the shards' outputs
    gives a single run's output), as few as the limits allow and of even size.

    There are as many shards as ``max_bytes`` and ``max_files`` require, and each aims at
    an equal share of the bytes (and of the files): shards that run side by side then
    finish together, instead of a small last one leaving workers idle. No shard passes
    either limit, except a single file larger than ``max_bytes``, which is a shard alone.
    """
    total = sum(size for _, size in files)
    count = max(math.ceil(total / max_bytes), math.ceil(len(files) / max_files), 1)
    target_bytes, target_files = total / count, math.ceil(len(files) / count)
    shards: list[list[FileEntry]] = []
    current: list[FileEntry] = []
    size = 0
    for entry in files:
        if current and (size + entry[1] > max_bytes or len(current) >= max_files):
            shards.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry[1]
        reached = (total and size >= target_bytes) or len(current) >= target_files
        if reached and len(shards) < count - 1:
            shards.append(current)
            current, size = [], 0
    if current:
        shards.append(current)
    return shards
