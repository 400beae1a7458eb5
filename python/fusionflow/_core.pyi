"""Type stubs of the native module built from crates/fusionflow-py."""

from collections.abc import Sequence
from os import PathLike
from typing import final

__all__ = [
    "Cancelled",
    "FusionFlowError",
    "InvalidParameter",
    "Progress",
    "TransientError",
    "__version__",
    "check_grep_patterns",
    "concat_parts",
    "csv_aggregate",
    "extract_text",
    "grep",
    "list_files",
    "outside_roots",
    "resize_images",
    "serve_extract_worker",
    "storage_configure",
    "storage_delete_prefix",
    "storage_get_bytes",
    "storage_get_file",
    "storage_list",
    "storage_name_uploads",
    "storage_presign",
    "storage_put_bytes",
    "storage_put_file",
    "storage_size",
]

__version__: str

class FusionFlowError(Exception): ...
class InvalidParameter(FusionFlowError): ...
class Cancelled(FusionFlowError): ...
class TransientError(FusionFlowError): ...

@final
class Progress:
    def __init__(self) -> None: ...
    def snapshot(self) -> dict[str, int]: ...
    def journal_to(self, path: str | PathLike[str]) -> None: ...
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
    binary: str = "auto",
    max_line_bytes: int = ...,
    max_decoded_bytes: int = ...,
    max_spill_bytes: int = ...,
    include: Sequence[str] = ...,
    exclude: Sequence[str] = ...,
    hidden: bool = False,
    follow_symlinks: bool = False,
    exact: bool = False,
    format: str = "text",
    threads: int = 0,
    progress: Progress | None = None,
) -> str: ...
def check_grep_patterns(
    patterns: Sequence[str],
    *,
    ignore_case: bool = False,
    fixed_strings: bool = False,
    word: bool = False,
) -> None: ...
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
    max_decoded_bytes: int = ...,
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
def resize_images(
    inputs: Sequence[str | PathLike[str]],
    output_dir: str | PathLike[str],
    options: str,
    *,
    roots: Sequence[str | PathLike[str]] = ...,
    include: Sequence[str] = ...,
    exclude: Sequence[str] = ...,
    hidden: bool = False,
    follow_symlinks: bool = False,
    exact: bool = False,
    threads: int = 0,
    progress: Progress | None = None,
) -> str: ...
def extract_text(
    inputs: Sequence[str | PathLike[str]],
    output_dir: str | PathLike[str],
    options: str,
    *,
    roots: Sequence[str | PathLike[str]] = ...,
    include: Sequence[str] = ...,
    exclude: Sequence[str] = ...,
    hidden: bool = False,
    follow_symlinks: bool = False,
    exact: bool = False,
    threads: int = 0,
    worker_command: Sequence[str] = ...,
    progress: Progress | None = None,
) -> str: ...
def serve_extract_worker() -> None: ...
def list_files(
    inputs: Sequence[str | PathLike[str]],
    *,
    include: Sequence[str] = ...,
    exclude: Sequence[str] = ...,
    hidden: bool = False,
    follow_symlinks: bool = False,
    threads: int = 0,
) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]: ...
def outside_roots(
    files: Sequence[str | PathLike[str]], roots: Sequence[str | PathLike[str]]
) -> list[int]: ...
def concat_parts(
    parts: Sequence[str | PathLike[str]],
    output: str | PathLike[str],
    *,
    separate_groups: bool = False,
) -> int: ...
def storage_configure(
    *,
    endpoint: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    sse_kms_key_id: str | None = None,
    max_retries: int = 3,
    virtual_hosted: bool = False,
) -> None: ...
def storage_name_uploads(root: str) -> None: ...
def storage_list(url: str) -> list[tuple[str, int]]: ...
def storage_size(url: str) -> int: ...
def storage_put_file(path: str | PathLike[str], url: str) -> int: ...
def storage_get_file(url: str, path: str | PathLike[str]) -> int: ...
def storage_put_bytes(url: str, data: bytes) -> None: ...
def storage_get_bytes(url: str) -> bytes: ...
def storage_delete_prefix(url: str) -> int: ...
def storage_presign(url: str, expires_s: int) -> str: ...
