"""The contract of the native module ``fusionflow._core``: arguments, errors, GIL, progress."""

from __future__ import annotations

import json
import pickle
import threading
import time
from pathlib import Path

import pytest

from fusionflow import _core, errors


def test_grep_returns_a_json_summary_and_writes_matches(logs: Path, tmp_path: Path) -> None:
    summary = json.loads(_core.grep([logs], tmp_path / "out", ["ERROR", "FATAL"]))
    assert summary["matches"] == 2
    assert summary["files_total"] == 2
    lines = (tmp_path / "out" / "matches.txt").read_text().splitlines()
    assert lines == [f"{logs}/app/a.log:2:ERROR disk full", f"{logs}/app/a.log:4:FATAL oom"]


def test_exceptions_live_in_fusionflow_errors_and_pickle() -> None:
    assert errors.InvalidParameter.__module__ == "fusionflow.errors"
    assert issubclass(errors.InvalidParameter, errors.FusionFlowError)
    assert issubclass(errors.Cancelled, errors.FusionFlowError)
    # Celery's result backend rebuilds exceptions by module and name.
    error = pickle.loads(pickle.dumps(errors.InvalidParameter("bad")))
    assert type(error) is errors.InvalidParameter
    assert str(error) == "bad"


def test_invalid_regex_names_the_parameter(logs: Path, tmp_path: Path) -> None:
    message = r"^invalid parameter `patterns`: \"\(oops\": unclosed group$"
    with pytest.raises(errors.InvalidParameter, match=message):
        _core.grep([logs], tmp_path, ["ok", "(oops"])


def test_invalid_choice_names_the_parameter(logs: Path, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidParameter, match="`binary`"):
        _core.grep([logs], tmp_path, ["x"], binary="maybe")


def test_missing_input_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        _core.grep([tmp_path / "nope"], tmp_path / "out", ["x"])
    assert info.value.filename == str(tmp_path / "nope")


def _big_tree(root: Path, files: int = 40, lines: int = 100_000) -> Path:
    root.mkdir()
    block = "".join(f"2026-01-01 INFO request {i} ok\n" for i in range(lines)).encode()
    for i in range(files):
        (root / f"{i:03}.log").write_bytes(block + b"ERROR at the end\n")
    return root


def test_runs_without_the_gil_and_reports_progress(tmp_path: Path) -> None:
    tree = _big_tree(tmp_path / "big")
    progress = _core.Progress()
    result: dict[str, str] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            out=_core.grep([tree], tmp_path / "out", ["ERROR"], progress=progress, threads=1)
        )
    )
    ticks, seen = 0, []
    worker.start()
    while worker.is_alive():  # this loop only runs if the worker released the GIL
        ticks += 1
        seen.append(progress.snapshot()["bytes_done"])
        time.sleep(0.001)
    worker.join()
    summary = json.loads(result["out"])
    assert summary["matches"] == 40
    assert ticks > 5
    assert any(0 < b < summary["bytes_scanned"] for b in seen), "no intermediate progress seen"
    final = progress.snapshot()
    assert final["bytes_done"] == final["bytes_total"] == summary["bytes_scanned"]
    assert final["files_done"] == final["files_total"] == 40


def test_cancel_stops_the_run_promptly(tmp_path: Path) -> None:
    tree = _big_tree(tmp_path / "big", files=400)
    progress = _core.Progress()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _core.grep([tree], tmp_path / "out", ["ERROR"], progress=progress, threads=1)
        except BaseException as e:  # noqa: BLE001 - checked below
            failure.append(e)

    worker = threading.Thread(target=work)
    worker.start()
    while progress.snapshot()["files_done"] < 2:
        time.sleep(0.001)
    progress.cancel()
    cancelled_at = time.monotonic()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 1.0
    assert len(failure) == 1
    assert isinstance(failure[0], errors.Cancelled)
    assert progress.snapshot()["files_done"] < 400
    assert not (tmp_path / "out" / "matches.txt").exists()
