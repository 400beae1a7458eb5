"""The ``resize-images`` pipeline: thumbnails of many images, the input trees mirrored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from fusionflow import _core
from fusionflow.pipelines.base import Ceiling, FileSelection, Pipeline
from fusionflow.pipelines.per_file import gather_parts, merge_summaries

MANIFEST = "manifest.jsonl"
# Optional, yet what a form asks first (the UI's forms read this mark).
_UP_FRONT: dict[str, Any] = {"x-primary": True}
Side = int | None


class ResizeParams(FileSelection):
    """Parameters of ``resize-images``."""

    max_width: Side = Field(
        None,
        ge=1,
        le=65_535,
        description="Largest output width in pixels.",
        json_schema_extra=_UP_FRONT,
    )
    max_height: Side = Field(
        None,
        ge=1,
        le=65_535,
        description="Largest output height in pixels.",
        json_schema_extra=_UP_FRONT,
    )
    mode: Literal["fit", "fill", "exact"] = Field(
        "fit",
        description="'fit': inside the box, keeping the aspect ratio; 'fill': exactly the box, "
        "the centre cropped; 'exact': exactly the box, stretched.",
    )
    upscale: bool = Field(False, description="Enlarge images smaller than the box.")
    format: Literal["same", "jpeg", "png", "webp"] = Field(
        "same", description="Output format; 'same' keeps each input's."
    )
    quality: int = Field(85, ge=1, le=100, description="JPEG and WebP quality.")
    keep_metadata: bool = Field(
        False,
        description="Keep EXIF (orientation reset, as it is applied) and the ICC profile in "
        "JPEG and PNG outputs; by default they are stripped.",
    )
    filter: Literal["lanczos3", "mitchell", "catmull-rom", "bilinear", "nearest"] = Field(
        "lanczos3", description="Resampling filter."
    )
    max_pixels: Annotated[int, Ceiling("max_pixels_limit")] = Field(
        100_000_000,
        ge=1,
        description="Images with more pixels are refused before decoding (decompression bombs).",
    )

    max_file_bytes: Annotated[int, Ceiling("max_file_bytes_limit")] = Field(
        256 << 20,
        ge=1,
        description="Larger files (once decompressed) are reported as errors, not read.",
    )

    @model_validator(mode="after")
    def _needs_a_box(self) -> Self:
        if self.max_width is None and self.max_height is None:
            raise ValueError("give max_width, max_height or both")
        if self.mode != "fit" and (self.max_width is None or self.max_height is None):
            raise ValueError(f"mode {self.mode!r} needs both max_width and max_height")
        return self

    def kernel_options(self) -> str:
        """The parameters the Rust kernel takes, as JSON (the file selection goes apart)."""
        return self.model_dump_json(exclude=set(FileSelection.model_fields))


def execute(
    inputs: list[str],
    params: ResizeParams,
    output: Path,
    progress: _core.Progress | None,
    *,
    exact: bool = False,
    roots: list[str] | None = None,
) -> dict[str, Any]:
    """Run the Rust kernel; it writes the thumbnails and the manifest itself."""
    summary_json = _core.resize_images(
        inputs,
        output,
        params.kernel_options(),
        roots=roots or [],
        **params.selection(),
        exact=exact,
        progress=progress,
    )
    summary: dict[str, Any] = json.loads(summary_json)
    return summary


def run_shard(
    files: list[str],
    params: ResizeParams,
    part: Path,
    progress: _core.Progress | None,
    roots: list[str],
) -> dict[str, Any]:
    """Resize one shard's files into ``part``, named as a run over the job's inputs would."""
    return execute(files, params, part, progress, exact=True, roots=roots)


_SUMS = ("files_total", "files_resized", "bytes_in", "bytes_out")


def finalize(
    parts: list[Path], summaries: list[dict[str, Any]], params: ResizeParams, output: Path
) -> dict[str, Any]:
    """Move the shards' thumbnails into ``output`` and join their manifests in order."""
    dropped = gather_parts(parts, output, MANIFEST)
    merged = merge_summaries(
        summaries, _SUMS, ("formats",), dropped, "files_resized", lists=("recovered",)
    )
    merged["manifest"] = MANIFEST
    return merged


PIPELINE = Pipeline(
    name="resize-images",
    description="Thumbnails of JPEG, PNG, WebP, GIF, TIFF and BMP images (fit, fill or exact).",
    params_model=ResizeParams,
    execute=execute,
    run_shard=run_shard,
    finalize=finalize,
)
