"""Type stubs of the native module built from crates/fusionflow-py."""

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import final

__all__ = [
    "Cancelled",
    "FusionFlowError",
    "InvalidParameter",
    "Progress",
    "__version__",
    "concat_parts",
    "csv_aggregate",
    "grep",
    "list_files",
]

__version__: str

class FusionFlowError(Exception): ...
class InvalidParameter(FusionFlowError): ...
class Cancelled(FusionFlowError): ...

@final
class Progress:
    def __init__(self) -> None: ...
    def snapshot(self) -> dict[str, int]: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

def grep(
    inputs: Sequence[str | PathLike[str]],
    output_dir: str | PathLike[str],
    patterns: Sequence[str],
    *,
    ignore_case: bool = False,
    fixed_strings: bool = False,
    word: bool = False,
    invert: bool = False,
    before_context: int = 0,
    after_context: int = 0,
    max_matches_per_file: int | None = None,
    binary: str = "skip",
    max_line_bytes: int = ...,
    include: Sequence[str] = ...,
    exclude: Sequence[str] = ...,
    hidden: bool = False,
    follow_symlinks: bool = False,
    exact: bool = False,
    format: str = "text",
    threads: int = 0,
    progress: Progress | None = None,
) -> str: ...
def csv_aggregate(
    inputs: Sequence[str | PathLike[str]],
    output_dir: str | PathLike[str],
    *,
    group_by: Sequence[str] = ...,
    metrics: Sequence[tuple[str, str | None]] = ...,
    delimiter: str | None = None,
    encoding: str | None = None,
    on_bad_rows: str = "skip",
    max_row_bytes: int = ...,
    bad_row_samples: int = 20,
    parquet: bool = False,
    include: Sequence[str] = ...,
    exclude: Sequence[str] = ...,
    hidden: bool = False,
    follow_symlinks: bool = False,
    exact: bool = False,
    save_partial_to: str | PathLike[str] | None = None,
    partials: Sequence[str | PathLike[str]] | None = None,
    threads: int = 0,
    progress: Progress | None = None,
) -> str: ...
def list_files(
    inputs: Sequence[str | PathLike[str]],
    *,
    include: Sequence[str] = ...,
    exclude: Sequence[str] = ...,
    hidden: bool = False,
    follow_symlinks: bool = False,
    threads: int = 0,
) -> tuple[list[tuple[Path, int]], list[tuple[str, str]]]: ...
def concat_parts(
    parts: Sequence[str | PathLike[str]],
    output: str | PathLike[str],
    *,
    separate_groups: bool = False,
) -> int: ...
