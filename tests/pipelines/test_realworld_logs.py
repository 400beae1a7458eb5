"""Crashed logs on real files: a log with a hole of NUL bytes (what a crash or a power loss
leaves in a file being written) is searched as text by default, where ``rg -a`` would
search it, and the hole is reported; real binaries (an executable, a database, an image)
are skipped, as before."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import fusionflow

PATTERNS = ["authentication failure", "FATAL"]


def crashed(log: Path, out: Path, hole: int) -> tuple[Path, int]:
    """``log`` with ``hole`` NUL bytes in the middle, at a line's start and mid-line (the
    line being written when the machine went down), and a FATAL line after the restart."""
    lines = log.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    head = b"".join(lines[:half]) + lines[half][:20]
    tail = b"Dec  2 03:14:07 combo kernel: FATAL: journal replay after unclean shutdown\n"
    out.write_bytes(head + b"\0" * hole + tail + b"".join(lines[half + 1 :]))
    return out, len(head)


def rg_count(rg: str, path: Path, *flags: str) -> int:
    done = subprocess.run(
        [rg, "-c", "--no-ignore", *flags, *(f"-e{p}" for p in PATTERNS), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return int(done.stdout.strip().rpartition(":")[2] or 0)


def test_a_crashed_log_is_searched_past_its_hole_and_the_hole_reported(
    realworld: Path, rg: str, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    log, at = crashed(realworld / "logs" / "Linux_2k.log", root / "messages", 4096)
    summary = fusionflow.run("grep", [root], {"patterns": PATTERNS}, tmp_path / "out")

    # rg, searching a tree, stops at the NUL; rg -a reads it all, as we do.
    assert rg_count(rg, root) < rg_count(rg, root, "-a") == summary["matches"]
    assert summary["per_pattern"]["FATAL"] == 1
    assert b"FATAL: journal replay" in (tmp_path / "out" / "matches.txt").read_bytes()
    assert summary["skipped_binary"] == []
    assert summary["nul_ranges"] == [
        {"path": str(log), "runs": 1, "bytes": 4096, "ranges": [[at, at + 4096]]}
    ]
    assert summary["files_scanned"] == summary["files_total"] == 1

    # `skip` still skips it whole; `text` searches it and reports the hole too.
    skip = fusionflow.run("grep", [root], {"patterns": PATTERNS, "binary": "skip"}, tmp_path / "s")
    assert (skip["matches"], skip["skipped_binary"]) == (0, [{"path": str(log), "offset": at}])
    text = fusionflow.run("grep", [root], {"patterns": PATTERNS, "binary": "text"}, tmp_path / "t")
    assert (text["matches"], text["nul_ranges"]) == (summary["matches"], summary["nul_ranges"])


def test_real_binaries_are_still_skipped(realworld: Path, tmp_path: Path) -> None:
    """An executable, an SQLite database and a TIFF, each holding the pattern's text."""
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(Path(sys.executable).resolve(), root / "python")
    db = sqlite3.connect(root / "events.db")
    db.execute("create table event (at text, message text)")
    db.executemany(
        "insert into event values (?, ?)",
        [(f"03:14:{n % 60:02}", f"FATAL: worker {n} lost") for n in range(2000)],
    )
    db.commit()
    db.close()
    shutil.copy(realworld / "images" / "hopper_bigtiff.tif", root / "scan.tif")
    for path in root.iterdir():
        assert b"\0" in path.read_bytes()
    (root / "scan.tif").write_bytes((root / "scan.tif").read_bytes() + b"\nFATAL in a tag\n")

    summary = fusionflow.run("grep", [root], {"patterns": PATTERNS}, tmp_path / "out")
    skipped = sorted(Path(entry["path"]).name for entry in summary["skipped_binary"])
    assert skipped == ["events.db", "python", "scan.tif"]
    assert (summary["matches"], summary["nul_ranges"]) == (0, [])
