"""Gathering shards' per-input outputs: order kept, and nothing overwritten."""

from __future__ import annotations

from pathlib import Path

from fusionflow.pipelines.per_file import gather_parts, merge_summaries


def test_an_output_written_by_two_shards_keeps_the_first(tmp_path: Path) -> None:
    parts = [tmp_path / "0", tmp_path / "1"]
    for i, part in enumerate(parts):
        (part / "sub").mkdir(parents=True)
        (part / "sub" / "a.webp").write_text(f"shard {i}")
        (part / f"only{i}.webp").write_text("x")
        (part / "manifest.jsonl").write_text(f'{{"shard": {i}}}\n')
    output = tmp_path / "out"
    output.mkdir()
    dropped = gather_parts(parts, output, "manifest.jsonl")
    assert dropped == ["sub/a.webp"]
    assert (output / "sub" / "a.webp").read_text() == "shard 0"
    assert (output / "manifest.jsonl").read_text() == '{"shard": 0}\n{"shard": 1}\n'
    summaries = [
        {"files_resized": 2, "formats": {"webp": 2}, "errors": [], "skipped": [], "threads": 2},
        {"files_resized": 2, "formats": {"webp": 2}, "errors": [], "skipped": [], "threads": 1},
    ]
    merged = merge_summaries(summaries, ["files_resized"], ["formats"], dropped, "files_resized")
    assert merged["files_resized"] == 3
    assert merged["errors"] == [
        {"path": "sub/a.webp", "error": "output already written for an input of an earlier shard"}
    ]
    assert (merged["formats"], merged["threads"]) == ({"webp": 4}, 2)
