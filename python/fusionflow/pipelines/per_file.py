"""What pipelines writing one output per input (thumbnails, text files) share: gathering
their shards' outputs into the job's, and merging their summaries."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fusionflow import _core


def gather_parts(parts: list[Path], output: Path, listing: str) -> list[str]:
    """Move every shard's files into ``output`` (a rename on local storage) and join the
    shards' ``listing`` files (one line per input) in shard order.

    Returns the outputs dropped because an earlier shard wrote the same name (two inputs
    bound for one output, in different shards): the first keeps it, as in a single run.
    """
    dropped = []
    for part in parts:
        for path in sorted(part.rglob("*")):
            name = path.relative_to(part).as_posix()
            if not path.is_file() or name == listing:
                continue
            target = output / name
            if target.exists():
                dropped.append(name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
    _core.concat_parts([part / listing for part in parts], output / listing)
    return dropped


def merge_summaries(
    summaries: list[dict[str, Any]],
    sums: Iterable[str],
    counts: Iterable[str],
    dropped: list[str],
    done: str,
    lists: Iterable[str] = (),
) -> dict[str, Any]:
    """The shards' summaries as one: ``sums`` added, ``counts`` (name -> n) added by name,
    ``errors``, ``skipped`` and ``lists`` concatenated in shard order, the most threads any
    used. Each dropped output moves one file from ``done`` to ``errors``."""
    merged: dict[str, Any] = {key: sum(s[key] for s in summaries) for key in sums}
    for key in counts:
        total: dict[str, int] = {}
        for s in summaries:
            for name, n in s[key].items():
                total[name] = total.get(name, 0) + n
        merged[key] = dict(sorted(total.items()))
    for key in ("errors", "skipped", *lists):
        merged[key] = [item for s in summaries for item in s[key]]
    for name in dropped:
        merged[done] -= 1
        merged["errors"].append(
            {"path": name, "error": "output already written for an input of an earlier shard"}
        )
    merged["threads"] = max((s["threads"] for s in summaries), default=0)
    return merged
