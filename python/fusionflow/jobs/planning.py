"""Splitting a job's listed files into shards."""

from __future__ import annotations

from collections.abc import Sequence

FileEntry = tuple[str, int]  # (path or URL, size in bytes)


def split(files: Sequence[FileEntry], max_bytes: int, max_files: int) -> list[list[FileEntry]]:
    """Consecutive runs of ``files``, each closed when adding the next file would pass
    ``max_bytes`` or it holds ``max_files``. Order is kept, so concatenating the shards'
    outputs gives a single run's output. A file larger than ``max_bytes`` is a shard alone.
    """
    shards: list[list[FileEntry]] = []
    current: list[FileEntry] = []
    size = 0
    for entry in files:
        if current and (size + entry[1] > max_bytes or len(current) >= max_files):
            shards.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry[1]
    if current:
        shards.append(current)
    return shards
