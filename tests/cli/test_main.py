"""The ``fusionflow`` command as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fusionflow


def _script() -> str:
    """The installed ``fusionflow`` script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("fusionflow")
    found = str(beside) if beside.exists() else shutil.which("fusionflow")
    return found or pytest.fail("the fusionflow script is not installed (pip install .)")


def fusionflow_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = _script()
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, check=False, timeout=120
    )


def test_version() -> None:
    done = fusionflow_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"fusionflow, version {fusionflow.__version__}"


def test_grep_writes_outputs_and_reports_one_line(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = fusionflow_cli("run", "grep", logs, "-e", "ERROR", "-e", "FATAL", "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "2 matching lines in 1 of 2 files" in done.stderr
    assert "\r" not in done.stderr, "no progress bar when stderr is not a terminal"
    assert (out / "matches.txt").read_text().count("\n") == 2
    assert json.loads((out / "summary.json").read_text())["matches"] == 2


def test_flags_map_onto_params(logs: Path, tmp_path: Path) -> None:
    done = fusionflow_cli(
        "run",
        "grep",
        logs,
        "-e",
        "error",
        "-i",
        "-w",
        "-C",
        "1",
        "-m",
        "5",
        "--exclude",
        "b.log",
        "--format",
        "jsonl",
        "-o",
        tmp_path,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    params = summary["params"]
    assert (params["ignore_case"], params["word"], params["context"]) == (True, True, 1)
    assert (params["max_matches_per_file"], params["exclude"]) == (5, ["b.log"])
    assert summary["files_total"] == 1
    assert summary["matches"] == 1
    assert (tmp_path / "matches.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "grep", "/no/such", "-e", "x"], "error: no such file or directory: /no/such"),
        (["run", "grep", "{logs}", "-e", "(unclosed"], "error: invalid parameter `patterns`"),
        (["run", "grep", "{logs}", "-e", "x", "-C", "-3"], "error: invalid parameter `context`"),
        (["run", "nope"], "No such command 'nope'"),
    ],
)
def test_bad_input_is_one_line_without_traceback(
    args: list[str], message: str, logs: Path, tmp_path: Path
) -> None:
    argv = [a.replace("{logs}", str(logs)) for a in args]
    done = fusionflow_cli(*argv, "-o", tmp_path) if argv[1] == "grep" else fusionflow_cli(*argv)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) <= 1


def test_warns_about_what_was_not_searched(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "core.bin").write_bytes(b"ERROR\x00\x01")
    done = fusionflow_cli("run", "grep", tmp_path / "in", "-e", "ERROR", "-o", tmp_path / "out")
    assert done.returncode == 0
    assert "warning: 1 binary file not searched" in done.stderr


def test_says_a_crashed_log_was_searched_past_its_nul_bytes(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    log = b"ERROR before the crash\n" + b"\0" * 4096 + b"FATAL after the restart\n"
    (tmp_path / "in" / "app.log").write_bytes(log)
    done = fusionflow_cli(
        "run", "grep", tmp_path / "in", "-e", "ERROR", "-e", "FATAL", "-o", tmp_path / "out"
    )
    assert done.returncode == 0
    assert done.stderr.startswith("2 matching lines in 1 of 1 files")
    assert "warning: 1 file with runs of NUL bytes (a crash?) searched as text" in done.stderr


def test_pipelines_lists_parameters() -> None:
    done = fusionflow_cli("pipelines")
    assert done.returncode == 0
    assert done.stdout.startswith("csv-aggregate:")
    assert "\ngrep:" in done.stdout
    assert "patterns" in done.stdout
    assert "ignore_case" in done.stdout
    schemas = json.loads(fusionflow_cli("pipelines", "--json").stdout)
    assert schemas["grep"]["params"]["required"] == ["patterns"]


def test_module_entry_point_is_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fusionflow", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert fusionflow.__version__ in done.stdout


def test_csv_aggregate_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("region;qty\nnorth;2\nnorth;3\nsouth;x\n")
    done = fusionflow_cli(
        "run",
        "csv-aggregate",
        tmp_path / "in",
        "-g",
        "region",
        "-m",
        "sum:qty",
        "-m",
        "count",
        "-o",
        tmp_path / "out",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "aggregate.csv").read_text() == "region,sum_qty,count\nnorth,5,2\n"
    assert "2 rows in 1 files -> 1 groups" in done.stderr
    assert "warning: 1 bad rows left out, first:" in done.stderr
    bad = fusionflow_cli("run", "csv-aggregate", tmp_path / "in", "-m", "avg:qty", "-o", tmp_path)
    assert bad.returncode == 2
    assert "error: invalid parameter `metrics`" in bad.stderr


def test_resize_images_from_the_command_line(tmp_path: Path) -> None:
    from tests.pipelines.images import quadrants

    (tmp_path / "in" / "sub").mkdir(parents=True)
    quadrants(1200, 800).save(tmp_path / "in" / "sub" / "a.jpg")
    (tmp_path / "in" / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    done = fusionflow_cli(
        "run", "resize-images", tmp_path / "in", "-W", "300", "-H", "300",
        "--mode", "fill", "--format", "webp", "-q", "70", "-o", out, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["files_resized"], len(summary["errors"])) == (1, 1)
    assert summary["params"]["quality"] == 70
    (entry,) = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert (entry["output"], entry["new_width"], entry["new_height"]) == ("sub/a.webp", 300, 300)
    assert (out / "sub" / "a.webp").read_bytes()[8:12] == b"WEBP"
    plain = fusionflow_cli("run", "resize-images", tmp_path / "in", "-W", "100", "-o", out)
    assert "1 of 2 images resized" in plain.stderr
    assert "warning: 1 file with errors; see summary.json" in plain.stderr
    bad = fusionflow_cli(
        "run", "resize-images", tmp_path / "in", "--mode", "fill", "-W", "9", "-o", out
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: invalid parameter `params`: mode 'fill' needs both max_width and max_height"
    )


def test_extract_text_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.html").write_text("<p>Hello &amp; welcome</p>")
    (tmp_path / "in" / "b.txt").write_text("plain")
    (tmp_path / "in" / "c.pdf").write_bytes(b"%PDF-1.4 broken")
    out = tmp_path / "out"
    done = fusionflow_cli("run", "extract-text", tmp_path / "in", "-o", out)
    assert done.returncode == 0, done.stderr
    assert "2 of 3 documents extracted" in done.stderr
    assert "warning: 1 file with errors; see summary.json" in done.stderr
    assert (out / "a.html.txt").read_text() == "Hello & welcome\n"
    only = fusionflow_cli(
        "run", "extract-text", tmp_path / "in", "--formats", "html", "--in-process",
        "-o", tmp_path / "only", "--json",
    )  # fmt: skip
    summary = json.loads(only.stdout)
    assert (summary["files_extracted"], summary["files_not_selected"]) == (1, 2)
    assert summary["isolated"] is False
    bad = fusionflow_cli("run", "extract-text", tmp_path / "in", "--formats", "pptx", "-o", out)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: invalid parameter `formats.0`")
