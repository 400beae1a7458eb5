"""The ``extract-text`` pipeline: the text of PDF, DOCX, ODT, HTML and text files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from fusionflow import _core
from fusionflow.pipelines.base import Ceiling, FileSelection, Pipeline
from fusionflow.pipelines.per_file import gather_parts, merge_summaries

DOCUMENTS = "documents.jsonl"
# A parser process: the native module alone, answering on its stdin and stdout.
WORKER_COMMAND = [
    sys.executable,
    "-c",
    "from fusionflow._core import serve_extract_worker; serve_extract_worker()",
]

DocFormat = Literal["pdf", "docx", "odt", "html", "text"]


class ExtractParams(FileSelection):
    """Parameters of ``extract-text``."""

    formats: list[DocFormat] = Field(
        default_factory=list,
        description="Formats to extract (pdf, docx, odt, html, text); others are listed as "
        "skipped. Empty: all.",
    )
    timeout_s: float = Field(
        60.0, gt=0, le=86_400, description="Time limit for parsing one file, in seconds."
    )
    max_file_bytes: Annotated[int, Ceiling("max_file_bytes_limit")] = Field(
        256 << 20,
        ge=1,
        description="Larger files (once decompressed) are reported as errors, not parsed.",
    )
    isolate: bool = Field(
        True,
        description="Parse in separate processes, so that a file that crashes or hangs a "
        "parser is reported and the run goes on. Off: in this process, panics caught only. "
        "Jobs always isolate: a worker serves everyone.",
    )
    detect_language: bool = Field(True, description="Detect each document's language.")

    def kernel_options(self) -> str:
        """The parameters the Rust kernel takes, as JSON (the file selection goes apart)."""
        return self.model_dump_json(exclude=set(FileSelection.model_fields))


def execute(
    inputs: list[str],
    params: ExtractParams,
    output: Path,
    progress: _core.Progress | None,
    *,
    exact: bool = False,
    roots: list[str] | None = None,
) -> dict[str, Any]:
    """Run the Rust kernel; it writes the text files and the documents list itself."""
    summary_json = _core.extract_text(
        inputs,
        output,
        params.kernel_options(),
        roots=roots or [],
        **params.selection(),
        exact=exact,
        worker_command=WORKER_COMMAND,
        progress=progress,
    )
    summary: dict[str, Any] = json.loads(summary_json)
    return summary


def run_shard(
    files: list[str],
    params: ExtractParams,
    part: Path,
    progress: _core.Progress | None,
    roots: list[str],
) -> dict[str, Any]:
    """Extract one shard's files into ``part``, named as a run over the job's inputs would.
    Always isolated: a parser crash inside a shared worker would cost every job in it."""
    isolated = params.model_copy(update={"isolate": True})
    return execute(files, isolated, part, progress, exact=True, roots=roots)


_SUMS = ("files_total", "files_extracted", "files_not_selected", "pages", "characters", "bytes_in")


def finalize(
    parts: list[Path], summaries: list[dict[str, Any]], params: ExtractParams, output: Path
) -> dict[str, Any]:
    """Move the shards' text files into ``output`` and join their lists in order."""
    dropped = gather_parts(parts, output, DOCUMENTS)
    merged = merge_summaries(summaries, _SUMS, ("formats", "languages"), dropped, "files_extracted")
    merged["documents"] = DOCUMENTS
    merged["isolated"] = True
    return merged


PIPELINE = Pipeline(
    name="extract-text",
    description="Text of PDF, DOCX, ODT, HTML and text files, one .txt per document.",
    params_model=ExtractParams,
    execute=execute,
    run_shard=run_shard,
    finalize=finalize,
)
