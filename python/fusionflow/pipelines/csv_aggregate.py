"""The ``csv-aggregate`` pipeline: many CSV files to one grouped summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from fusionflow import _core
from fusionflow.pipelines.base import NAMES_MAX, Ceiling, FileSelection, Name, Pipeline

OPS = ("count", "sum", "mean", "min", "max", "null_count", "count_distinct")


class CsvAggregateParams(FileSelection):
    """Parameters of ``csv-aggregate``."""

    group_by: list[Name] = Field(
        default_factory=list,
        max_length=NAMES_MAX,
        description="Columns whose values form the groups (none: one group).",
    )
    metrics: list[Name] = Field(
        default_factory=list,
        max_length=NAMES_MAX,
        description="Metrics as OP:COLUMN (OP one of count, sum, mean, min, max, null_count, "
        "count_distinct), or 'count' for rows. None: the row count per group. count_distinct is "
        "exact up to 10,000 values per group, then a HyperLogLog estimate (~0.8% error).",
    )
    delimiter: str | None = Field(
        None, min_length=1, max_length=1, description="Field separator; detected per file if unset."
    )
    encoding: str | None = Field(
        None,
        description="Input encoding, e.g. 'latin1' or 'windows-1252'; unset: detected per "
        "file (a byte order mark, else UTF-8 if valid, else guessed; the summary says which).",
    )
    on_bad_rows: Literal["skip", "fail"] = Field(
        "skip", description="'skip' leaves malformed rows out and reports them; 'fail' stops."
    )
    max_row_bytes: Annotated[int, Ceiling("max_row_bytes_limit")] = Field(
        16 << 20, ge=1024, description="Longer rows are bad rows (bounds memory)."
    )
    max_decompressed_bytes: Annotated[int, Ceiling("max_decompressed_bytes_limit")] = Field(
        16 << 30, ge=1, description="A compressed file decoding to more is a per-file error."
    )
    bad_row_samples: int = Field(20, ge=0, le=10_000, description="Bad rows kept as samples.")
    parquet: bool = Field(False, description="Also write aggregate.parquet (typed columns).")

    @field_validator("metrics")
    @classmethod
    def _check_metrics(cls, metrics: list[str]) -> list[str]:
        for spec in metrics:
            op, _, column = spec.partition(":")
            if op not in OPS:
                raise ValueError(f"{spec!r}: unknown operation {op!r} (one of {', '.join(OPS)})")
            if not column and op != "count":
                raise ValueError(f"{spec!r}: {op} needs a column, as {op}:COLUMN")
        return metrics


def _kernel_options(params: CsvAggregateParams) -> dict[str, Any]:
    """The params as keyword arguments of ``_core.csv_aggregate``."""
    metrics = [(op, column or None) for op, _, column in (m.partition(":") for m in params.metrics)]
    return {
        "group_by": params.group_by,
        "metrics": metrics,
        "delimiter": params.delimiter,
        "encoding": params.encoding,
        "on_bad_rows": params.on_bad_rows,
        "max_row_bytes": params.max_row_bytes,
        "max_decoded_bytes": params.max_decompressed_bytes,
        "bad_row_samples": params.bad_row_samples,
        "parquet": params.parquet,
        **params.selection(),
    }


def execute(
    inputs: list[str], params: CsvAggregateParams, output: Path, progress: _core.Progress | None
) -> dict[str, Any]:
    """Run the Rust kernel; it writes aggregate.csv itself and returns the summary."""
    summary_json = _core.csv_aggregate(inputs, output, **_kernel_options(params), progress=progress)
    summary: dict[str, Any] = json.loads(summary_json)
    return summary


PARTIAL = "partial.json"


def run_shard(
    files: list[str],
    params: CsvAggregateParams,
    part: Path,
    progress: _core.Progress | None,
    _roots: list[str],
) -> dict[str, Any]:
    """Aggregate one shard's files into ``part/partial.json`` (a mergeable state)."""
    summary_json = _core.csv_aggregate(
        files,
        part,
        **_kernel_options(params) | {"exact": True},
        save_partial_to=part / PARTIAL,
        progress=progress,
    )
    summary: dict[str, Any] = json.loads(summary_json)
    return summary


def finalize(
    parts: list[Path], _summaries: list[dict[str, Any]], params: CsvAggregateParams, output: Path
) -> dict[str, Any]:
    """Merge the shards' partial states in order and write the result tables."""
    summary_json = _core.csv_aggregate(
        [], output, **_kernel_options(params), partials=[part / PARTIAL for part in parts]
    )
    summary: dict[str, Any] = json.loads(summary_json)
    return summary


PIPELINE = Pipeline(
    name="csv-aggregate",
    description="Aggregate many CSV files into one grouped summary (count, sum, mean, ...).",
    params_model=CsvAggregateParams,
    execute=execute,
    run_shard=run_shard,
    finalize=finalize,
)
