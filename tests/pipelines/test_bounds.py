"""Sizes a job may ask for are bounded by the server's settings, and what a small file
may cost in decoded bytes, spilled bytes and time is bounded too: a zstd bomb is stopped
at its limit, cancelled within 2 s whatever the patterns, and seen in the progress."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import zstandard

import fusionflow
from fusionflow import _core
from fusionflow.config import Settings
from fusionflow.errors import Cancelled, InvalidParameter
from fusionflow.pipelines import get

LINE = b"2026-12-02 12:00:00 INFO request served in 12 ms by worker 7\n"
FRAME_BYTES = 64 << 20


def bomb(path: Path, frames: int) -> Path:
    """A zstd file of ``frames`` identical frames, each 64 MiB of log lines decoded:
    a few kilobytes per frame on disk."""
    frame = zstandard.ZstdCompressor(level=19).compress(LINE * (FRAME_BYTES // len(LINE)))
    path.write_bytes(frame * frames)
    return path


@pytest.mark.parametrize(
    ("pipeline", "field", "setting", "base"),
    [
        ("grep", "max_line_bytes", "max_line_bytes_limit", {"patterns": ["x"]}),
        ("grep", "max_decompressed_bytes", "max_decompressed_bytes_limit", {"patterns": ["x"]}),
        ("grep", "max_spill_bytes", "max_spill_bytes_limit", {"patterns": ["x"]}),
        ("csv-aggregate", "max_row_bytes", "max_row_bytes_limit", {}),
        ("csv-aggregate", "max_decompressed_bytes", "max_decompressed_bytes_limit", {}),
        ("extract-text", "max_file_bytes", "max_file_bytes_limit", {}),
        ("resize-images", "max_file_bytes", "max_file_bytes_limit", {"max_width": 10}),
        ("resize-images", "max_pixels", "max_pixels_limit", {"max_width": 10}),
    ],
)
def test_every_size_parameter_has_a_ceiling_from_settings(
    pipeline: str, field: str, setting: str, base: dict
) -> None:
    settings = Settings(**{setting: 1 << 20})
    p = get(pipeline)
    assert getattr(p.validate({**base, field: 1 << 20}, settings), field) == 1 << 20
    for too_big in ((1 << 20) + 1, 2**40, 2**70, 1e30):
        with pytest.raises(InvalidParameter, match=f"`{field}`"):
            p.validate({**base, field: too_big}, settings)
    env = Settings.model_fields[setting].validation_alias
    with pytest.raises(
        InvalidParameter, match=rf"`{field}`: at most 1048576 \(this server's {env}"
    ):
        p.validate({**base, field: 2**40}, settings)
    # A default above the ceiling is lowered to it; the process's settings apply otherwise.
    assert getattr(p.validate(base, settings), field) <= 1 << 20
    assert getattr(p.validate(base), field) == p.params_model.model_fields[field].default
    schema = p.params_schema()["properties"][field]
    assert schema["maximum"] == Settings.model_fields[setting].default


def test_invalid_patterns_and_counts_are_refused_when_validated() -> None:
    grep = get("grep")
    with pytest.raises(InvalidParameter, match=r'`patterns`: "\(": unclosed group'):
        grep.validate({"patterns": ["ok", "("]})
    with pytest.raises(InvalidParameter, match="`max_matches_per_file`"):
        grep.validate({"patterns": ["x"], "max_matches_per_file": 2**64})
    with pytest.raises(InvalidParameter, match="`patterns"):
        grep.validate({"patterns": ["x" * 70_000]})
    # Fixed strings are literals: "(" is fine then.
    assert grep.validate({"patterns": ["("], "fixed_strings": True})


def test_a_bomb_is_searched_up_to_its_decoded_limit_then_a_per_file_error(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    bomb(logs / "bomb.log.zst", frames=4)  # 256 MiB decoded
    (logs / "plain.log").write_bytes(LINE * 10)
    params = {"patterns": ["worker 7"], "max_decompressed_bytes": FRAME_BYTES}
    summary = fusionflow.run("grep", [logs], params, tmp_path / "out")
    (error,) = summary["errors"]
    assert error["path"].endswith("bomb.log.zst")
    assert f"decompresses to more than {FRAME_BYTES} bytes" in error["error"]
    assert summary["files_scanned"] == 1  # plain.log, whole
    per_frame = FRAME_BYTES // len(LINE)
    assert summary["matches"] == per_frame + 10  # the bomb's first 64 MiB were searched


def test_output_past_the_spill_limit_is_a_per_file_error(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "noisy.log").write_bytes(LINE * 200_000)  # 12 MB of matches
    params = {"patterns": ["INFO"], "max_spill_bytes": 1 << 20}
    summary = fusionflow.run("grep", [logs], params, tmp_path / "out")
    (error,) = summary["errors"]
    assert "spill limit (1048576 bytes)" in error["error"]
    # No hidden spill files are left beside the output.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["matches.txt", "summary.json"]


@pytest.mark.parametrize("patterns", [1, 200])
def test_cancel_stops_a_bomb_within_2_s_and_progress_counts_decoded_bytes(
    tmp_path: Path, patterns: int
) -> None:
    path = bomb(tmp_path / "bomb.log.zst", frames=640)  # 40 GiB decoded, ~4 MB on disk
    progress = _core.Progress()
    outcome: list[BaseException | str] = []

    def search() -> None:
        try:
            outcome.append(
                _core.grep(
                    [path],
                    tmp_path / "out",
                    [f"worker {n}[0-9]" for n in range(patterns)],
                    binary="text",
                    max_decoded_bytes=1 << 50,
                    progress=progress,
                )
            )
        except BaseException as e:  # noqa: BLE001 (the thread reports what ended it)
            outcome.append(e)

    thread = threading.Thread(target=search)
    thread.start()
    deadline = time.monotonic() + 30
    while progress.snapshot()["bytes_decoded"] < 256 << 20:
        assert time.monotonic() < deadline, outcome
        assert thread.is_alive(), outcome
        time.sleep(0.05)
    snapshot = progress.snapshot()
    assert snapshot["bytes_decoded"] > 10 * snapshot["bytes_done"]
    asked = time.monotonic()
    progress.cancel()
    thread.join(10)
    latency = time.monotonic() - asked
    assert not thread.is_alive()
    assert isinstance(outcome[0], Cancelled), outcome
    assert latency < 2.0, f"cancel took {latency:.2f} s"
