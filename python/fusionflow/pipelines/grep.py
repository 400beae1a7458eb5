"""The ``grep`` pipeline: every line matching any of several patterns, from many files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from fusionflow import _core
from fusionflow.pipelines.base import Ceiling, FileSelection, Pipeline

Count = Annotated[int, Field(ge=0, le=10_000)]
Pattern = Annotated[str, Field(max_length=65_536)]


class GrepParams(FileSelection):
    """Parameters of ``grep``. Flags mirror grep/ripgrep's."""

    patterns: list[Pattern] = Field(
        min_length=1,
        max_length=10_000,
        description="Regular expressions; a line matches if any of them matches.",
    )
    ignore_case: bool = Field(False, description="Match case-insensitively (-i).")
    fixed_strings: bool = Field(False, description="Treat patterns as literal strings (-F).")
    word: bool = Field(False, description="Match whole words only (-w).")
    invert: bool = Field(False, description="Select non-matching lines (-v).")
    context: Count = Field(0, description="Lines of context before and after each match (-C).")
    before_context: Count | None = Field(None, description="Lines before (-B); overrides context.")
    after_context: Count | None = Field(None, description="Lines after (-A); overrides context.")
    max_matches_per_file: int | None = Field(
        None,
        ge=1,
        le=2**53 - 1,  # the largest integer every JSON client (and form) holds exactly
        description="Stop reading a file after this many matching lines (-m).",
    )
    binary: Literal["auto", "skip", "text"] = Field(
        "auto",
        description="Files with NUL bytes: 'auto' searches text with holes of NULs (a crashed "
        "log; listed in nul_ranges) and skips binary files; 'skip' skips every such file; "
        "'text' searches them all as text. Skipped files are listed in skipped_binary.",
    )
    format: Literal["text", "jsonl"] = Field(
        "text", description="'text' writes matches.txt (path:line:text); 'jsonl' matches.jsonl."
    )
    max_line_bytes: Annotated[int, Ceiling("max_line_bytes_limit")] = Field(
        64 << 20,
        ge=1024,
        description="Longest line searched whole; a longer one is searched in its first "
        "max_line_bytes and the file goes on (listed in long_lines).",
    )
    max_decompressed_bytes: Annotated[int, Ceiling("max_decompressed_bytes_limit")] = Field(
        16 << 30,
        ge=1,
        description="A compressed file decoding to more is a per-file error, searched up to there.",
    )
    max_spill_bytes: Annotated[int, Ceiling("max_spill_bytes_limit")] = Field(
        8 << 30,
        ge=1,
        description="Disk that matches waiting to be written in order may take; past it the "
        "file whose matches overflowed is a per-file error.",
    )

    @model_validator(mode="after")
    def _patterns_compile(self) -> GrepParams:
        _core.check_grep_patterns(
            self.patterns,
            ignore_case=self.ignore_case,
            fixed_strings=self.fixed_strings,
            word=self.word,
        )
        return self


def execute(
    inputs: list[str],
    params: GrepParams,
    output: Path,
    progress: _core.Progress | None,
    *,
    exact: bool = False,
) -> dict[str, Any]:
    """Run the Rust kernel; it writes the matches file itself and returns the summary."""
    before = params.context if params.before_context is None else params.before_context
    after = params.context if params.after_context is None else params.after_context
    summary_json = _core.grep(
        inputs,
        output,
        params.patterns,
        ignore_case=params.ignore_case,
        fixed_strings=params.fixed_strings,
        word=params.word,
        invert=params.invert,
        before_context=before,
        after_context=after,
        max_matches_per_file=params.max_matches_per_file,
        binary=params.binary,
        max_line_bytes=params.max_line_bytes,
        max_decoded_bytes=params.max_decompressed_bytes,
        max_spill_bytes=params.max_spill_bytes,
        **params.selection(),
        exact=exact,
        format=params.format,
        progress=progress,
    )
    summary: dict[str, Any] = json.loads(summary_json)
    return summary


def run_shard(
    files: list[str],
    params: GrepParams,
    part: Path,
    progress: _core.Progress | None,
    _roots: list[str],
) -> dict[str, Any]:
    """Search one shard's files (exactly those, in order) into ``part``."""
    return execute(files, params, part, progress, exact=True)


# Summary fields that add up over shards, and those that concatenate.
_SUMS = (
    "files_total",
    "files_scanned",
    "files_matched",
    "matches",
    "bytes_scanned",
    "bytes_searched",
)
_LISTS = ("errors", "skipped_binary", "nul_ranges", "long_lines", "skipped")


def finalize(
    parts: list[Path], summaries: list[dict[str, Any]], params: GrepParams, output: Path
) -> dict[str, Any]:
    """Concatenate the shards' match files in order and merge their summaries."""
    name = "matches.txt" if params.format == "text" else "matches.jsonl"
    has_context = params.context or params.before_context or params.after_context
    _core.concat_parts(
        [part / name for part in parts],
        output / name,
        separate_groups=bool(has_context) and params.format == "text",
    )
    merged: dict[str, Any] = {key: sum(s[key] for s in summaries) for key in _SUMS}
    merged["per_file"] = {path: n for s in summaries for path, n in s["per_file"].items()}
    merged["per_pattern"] = {
        pattern: sum(s["per_pattern"].get(pattern, 0) for s in summaries)
        for pattern in dict.fromkeys(p for s in summaries for p in s["per_pattern"])
    }
    for key in _LISTS:  # .get: a shard run by an older worker may lack a newer list
        merged[key] = [item for s in summaries for item in s.get(key, [])]
    merged["output"] = name
    merged["threads"] = max((s["threads"] for s in summaries), default=0)
    return merged


PIPELINE = Pipeline(
    name="grep",
    description="Extract every line matching any of several patterns (ERROR, FATAL, ...).",
    params_model=GrepParams,
    execute=execute,
    run_shard=run_shard,
    finalize=finalize,
)
