"""Trees as users have them: a link back up (`dirloop -> .`) with links followed, a file
reached two ways, a named pipe among the files. Every pipeline reads each file once, lists
what it left out and why, and never opens a pipe (which would block it for good)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import fusionflow

FOLLOW = {"follow_symlinks": True}


def tree(root: Path) -> Path:
    """Logs, CSV files and images in two folders, a loop and a second way to one folder."""
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for folder in ("a", "b"):
        (root / folder / "app.log").write_text(f"ERROR in {folder}\nfine\n")
        (root / folder / "sales.csv").write_text(f"region,n\n{folder},1\n{folder},2\n")
        Image.new("RGB", (40, 30), "red").save(root / folder / "photo.png")
    (root / "dirloop").symlink_to(".")  # relative: a link jwalk alone follows 40 deep
    (root / "a" / "up").symlink_to("..")
    (root / "b-again").symlink_to("b")
    return root


def run(pipeline: str, root: Path, params: dict[str, Any], out: Path) -> dict[str, Any]:
    """The run, failed rather than hung if it blocks."""
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(fusionflow.run(pipeline, [root], params, out)), daemon=True
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), f"{pipeline} blocked"
    return result


def skipped(summary: dict[str, Any], root: Path) -> dict[str, str]:
    return {
        os.path.relpath(s["path"], root): s["reason"]
        for s in summary["skipped"]
        if s["path"].startswith(str(root))
    }


LOOPS = {
    "dirloop": "directory loop: a link to a folder it is in",
    "a/up": "directory loop: a link to a folder it is in",
}


def test_grep_follows_links_but_not_loops_and_reads_each_file_once(tmp_path: Path) -> None:
    root = tree(tmp_path / "in")
    summary = run("grep", root, {"patterns": ["ERROR"], **FOLLOW}, tmp_path / "out")
    assert summary["files_total"] == 6  # 2 logs, 2 CSV files, 2 images: once each
    assert summary["matches"] == 2
    assert sorted(summary["per_file"]) == [str(root / "a/app.log"), str(root / "b/app.log")]
    twice = "the same file as another input (reached through a link)"
    assert skipped(summary, root) == {
        **LOOPS,
        "b-again/app.log": twice,
        "b-again/photo.png": twice,
        "b-again/sales.csv": twice,
    }


def test_csv_aggregate_counts_each_row_once_whatever_the_links(tmp_path: Path) -> None:
    root = tree(tmp_path / "in")
    params = {"group_by": ["region"], "metrics": ["count", "sum:n"], "include": ["*.csv"]}
    run("csv-aggregate", root, {**params, **FOLLOW}, tmp_path / "out")
    assert (tmp_path / "out" / "aggregate.csv").read_text() == (
        "region,count,sum_n\na,2,3\nb,2,3\n"
    )


def test_resize_images_writes_each_thumbnail_once(tmp_path: Path) -> None:
    root = tree(tmp_path / "in")
    params = {"max_width": 20, "include": ["*.png"], **FOLLOW}
    summary = run("resize-images", root, params, tmp_path / "out")
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")
    )
    assert written == ["a/photo.png", "b/photo.png"]
    assert (summary["files_total"], summary["files_resized"]) == (2, 2)


@pytest.mark.parametrize("pipeline", ["grep", "csv-aggregate", "extract-text"])
def test_a_named_pipe_is_listed_as_skipped_and_never_opened(pipeline: str, tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "data.csv").write_text("region,n\nx,1\n")
    os.mkfifo(root / "pipe.csv")
    params: dict[str, Any] = {
        "grep": {"patterns": ["x"]},
        "csv-aggregate": {"group_by": ["region"], "metrics": ["count"]},
        "extract-text": {},
    }[pipeline]
    pipe = "a named pipe (FIFO), not a file: not read"
    for given in (root, root / "pipe.csv"):  # inside a tree, and named directly
        summary = run(pipeline, given, params, tmp_path / f"out-{given.name}")
        assert {s["path"]: s["reason"] for s in summary["skipped"]} == {
            str(root / "pipe.csv"): pipe
        }


def test_file_names_that_are_not_utf8_stay_distinct_everywhere(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    raw = [os.fsencode(root) + b"/n\xff\xfe.log", os.fsencode(root) + b"/n\xfe\xff.log"]
    for path in raw:
        Path(os.fsdecode(path)).write_bytes(b"ERROR here\n")
    shown = [f"{root}/n\\xff\\xfe.log", f"{root}/n\\xfe\\xff.log"]  # \xNN for each raw byte

    grep = run("grep", root, {"patterns": ["ERROR"]}, tmp_path / "grep")
    assert sorted(grep["per_file"]) == sorted(shown)
    # matches.txt names each file by its bytes, as rg does.
    lines = (tmp_path / "grep" / "matches.txt").read_bytes().splitlines()
    assert sorted(lines) == sorted(path + b":1:ERROR here" for path in raw)

    run("extract-text", root, {}, tmp_path / "text")
    documents = (tmp_path / "text" / "documents.jsonl").read_text().splitlines()
    assert sorted(json.loads(d)["path"] for d in documents) == sorted(shown)
    assert len({json.loads(d)["output"] for d in documents}) == 2
