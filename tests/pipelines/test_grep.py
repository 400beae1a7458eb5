"""The ``grep`` pipeline through the library API, checked against ripgrep."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import fusionflow
from fusionflow.errors import InvalidParameter
from fusionflow.pipelines import get, names


def test_run_returns_the_summary_and_writes_summary_json(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = fusionflow.run("grep", [logs], {"patterns": ["ERROR", "FATAL"]}, out)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["pipeline"] == "grep"
    assert summary["params"]["patterns"] == ["ERROR", "FATAL"]
    for field in (
        "files_scanned",
        "files_matched",
        "matches",
        "bytes_scanned",
        "elapsed_s",
        "per_file",
        "errors",
        "skipped_binary",
    ):
        assert field in summary
    assert (summary["matches"], summary["files_matched"], summary["files_scanned"]) == (2, 1, 2)
    assert summary["per_file"] == {str(logs / "app" / "a.log"): 2}
    assert summary["per_pattern"] == {"ERROR": 1, "FATAL": 1}


def test_context_and_jsonl(logs: Path, tmp_path: Path) -> None:
    params = {"patterns": ["disk"], "context": 1, "format": "jsonl"}
    summary = fusionflow.run("grep", [logs], params, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "matches.jsonl").read_text().splitlines()]
    assert [(r["line_number"], r["kind"]) for r in records] == [
        (1, "context"),
        (2, "match"),
        (3, "context"),
    ]
    assert summary["output"] == "matches.jsonl"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "patterns"),
        ({"patterns": []}, "patterns"),
        ({"patterns": ["x"], "binary": "maybe"}, "binary"),
        ({"patterns": ["x"], "context": -1}, "context"),
        ({"patterns": ["x"], "colour": True}, "colour"),
        ({"patterns": ["("]}, "patterns"),
    ],
)
def test_bad_params_name_the_field(params: dict, field: str, logs: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=f"`{field}`"):
        fusionflow.run("grep", [logs], params, tmp_path)


def test_unknown_pipeline_and_no_inputs(logs: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="unknown pipeline 'nope'"):
        fusionflow.run("nope", [logs], {}, tmp_path)
    with pytest.raises(InvalidParameter, match="`inputs`"):
        fusionflow.run("grep", [], {"patterns": ["x"]}, tmp_path)


def test_registry_exposes_json_schema() -> None:
    assert "grep" in names()
    schema = get("grep").params_schema()
    assert schema["required"] == ["patterns"]
    assert schema["properties"]["binary"]["enum"] == ["auto", "skip", "text"]


def _rg_counts(rg: str, root: Path, *flags: str) -> dict[str, int]:
    """Per-file matching-line counts from ripgrep (no ignore files, compressed files too)."""
    done = subprocess.run(
        [
            rg,
            "-c",
            "-z",
            "--no-ignore",
            "--no-messages",
            *flags,
            "-e",
            "ERROR",
            "-e",
            "FATAL",
            str(root),
        ],
        capture_output=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    counts = {}
    for line in done.stdout.decode().splitlines():
        path, _, count = line.rpartition(":")
        counts[path] = int(count)
    return counts


def test_counts_equal_ripgrep_when_binaries_are_searched_as_text(
    rg: str, log_corpus: Path, tmp_path: Path
) -> None:
    summary = fusionflow.run(
        "grep", [log_corpus], {"patterns": ["ERROR", "FATAL"], "binary": "text"}, tmp_path
    )
    expected = _rg_counts(rg, log_corpus, "-a")
    assert summary["per_file"] == expected
    assert summary["matches"] == sum(expected.values()) > 300
    assert summary["errors"] == []
    lines = (tmp_path / "matches.txt").read_bytes().count(b"\n")
    assert lines == summary["matches"]


@pytest.mark.parametrize(("binary", "skipped_files"), [("auto", 6), ("skip", 8)])
def test_skipped_binaries_account_for_every_difference_from_ripgrep(
    rg: str, log_corpus: Path, tmp_path: Path, binary: str, skipped_files: int
) -> None:
    """6 binary files and 2 logs with a NUL hole: by default the logs are searched (as
    ``rg -a`` searches them) and the binaries listed; with ``skip`` all 8 are listed.
    Nothing is half-searched."""
    params = {"patterns": ["ERROR", "FATAL"], "binary": binary}
    summary = fusionflow.run("grep", [log_corpus], params, tmp_path)
    ours, as_text = summary["per_file"], _rg_counts(rg, log_corpus, "-a")
    skipped = {entry["path"] for entry in summary["skipped_binary"]}
    assert len(skipped) == skipped_files
    assert not skipped & set(ours)
    assert {path: n for path, n in as_text.items() if path not in skipped} == ours
    assert summary["files_total"] == summary["files_scanned"] + len(skipped)
    holed = {entry["path"] for entry in summary["nul_ranges"]}
    assert len(holed) == 8 - skipped_files
    assert all(path.endswith("crash/app.log") for path in holed)
    assert all(ours[path] > 0 for path in holed)


def test_matches_txt_equals_ripgrep_output_line_for_line(
    rg: str, log_corpus: Path, tmp_path: Path
) -> None:
    """Same lines, line numbers and bytes (latin-1, 1 MB lines) as ``rg -n``, in path order."""
    params = {"patterns": ["ERROR", "FATAL"], "binary": "text"}
    fusionflow.run("grep", [log_corpus], params, tmp_path)
    ours = (tmp_path / "matches.txt").read_bytes().split(b"\n")[:-1]  # bytes: \r is data
    done = subprocess.run(
        [rg, "-n", "-z", "-a", "--no-ignore", "-e", "ERROR", "-e", "FATAL", str(log_corpus)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    theirs = done.stdout.split(b"\n")[:-1]

    # ripgrep prints files in the order its threads finish them; we print in path order.
    def by_path(line: bytes) -> tuple[bytes, int]:
        path, number, _ = line.split(b":", 2)
        return path, int(number)

    assert sorted(theirs, key=by_path) == ours
    assert len(ours) > 300


def test_a_line_over_max_line_bytes_costs_only_its_tail(rg: str, tmp_path: Path) -> None:
    """rg searches a 3 MiB line whole; with max_line_bytes = 1 MiB the line is searched in
    its first MiB, and every later line still is: only a match past the cut is missed,
    and the summary says how much was not searched."""
    root = tmp_path / "in"
    root.mkdir()
    line = "ERROR first " + "x" * (3 << 20) + " ERROR past the cut\n"
    (root / "app.log").write_text("ok\n" + line + "ERROR after it\n" + "fine\n")
    found = subprocess.run(
        [rg, "--no-heading", "-n", "-c", "ERROR", str(root)], capture_output=True, text=True
    )
    assert found.stdout.strip().endswith(":2")  # lines 2 and 3 match
    params = {"patterns": ["ERROR"], "max_line_bytes": 1 << 20}
    summary = fusionflow.run("grep", [root], params, tmp_path / "out")
    assert (summary["matches"], summary["errors"]) == (2, [])
    matches = (tmp_path / "out" / "matches.txt").read_text().splitlines()
    assert [m.split(":")[1] for m in matches] == ["2", "3"]
    assert len(matches[0]) == len(f"{root}/app.log:2:") + (1 << 20)
    (cut,) = summary["long_lines"]
    assert cut == {
        "path": str(root / "app.log"),
        "lines": 1,
        "bytes_not_searched": len(line) - 1 - (1 << 20),
    }
