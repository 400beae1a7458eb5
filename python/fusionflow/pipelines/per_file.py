"""What pipelines writing one output per input (thumbnails, text files) share: gathering
their shards' outputs into the job's, and merging their summaries."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fusionflow import _core


def gather_parts(parts: list[Path], output: Path, listing: str) -> None:
    """Move every shard's files into ``output`` (a rename on local storage) and join the
    shards' ``listing`` files (one line per input) in shard order."""
    for part in parts:
        for path in sorted(part.rglob("*")):
            if path.is_file() and path.relative_to(part).as_posix() != listing:
                target = output / path.relative_to(part)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
    _core.concat_parts([part / listing for part in parts], output / listing)


def merge_summaries(
    summaries: list[dict[str, Any]], sums: Iterable[str], counts: Iterable[str]
) -> dict[str, Any]:
    """The shards' summaries as one: ``sums`` added, ``counts`` (name -> n) added by name,
    ``errors`` and ``skipped`` concatenated in shard order, the most threads any used."""
    merged: dict[str, Any] = {key: sum(s[key] for s in summaries) for key in sums}
    for key in counts:
        total: dict[str, int] = {}
        for s in summaries:
            for name, n in s[key].items():
                total[name] = total.get(name, 0) + n
        merged[key] = dict(sorted(total.items()))
    for key in ("errors", "skipped"):
        merged[key] = [item for s in summaries for item in s[key]]
    merged["threads"] = max((s["threads"] for s in summaries), default=0)
    return merged
