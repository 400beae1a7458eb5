"""The pipeline registry, and running a pipeline in this process.

Each pipeline module defines ``PIPELINE``: a name, a Pydantic params model (whose JSON
Schema drives the CLI help, the API and the UI forms) and an ``execute`` function that
calls into ``fusionflow._core``. Modules are imported on first use.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusionflow.errors import InvalidParameter
from fusionflow.pipelines.base import Pipeline

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from os import PathLike

    from fusionflow._core import Progress

__all__ = ["Pipeline", "get", "names", "run_pipeline"]

# name -> module defining PIPELINE
_MODULES = {
    "csv-aggregate": "fusionflow.pipelines.csv_aggregate",
    "extract-text": "fusionflow.pipelines.extract_text",
    "grep": "fusionflow.pipelines.grep",
    "resize-images": "fusionflow.pipelines.resize_images",
}


def names() -> list[str]:
    """Names of all pipelines, sorted."""
    return sorted(_MODULES)


def get(name: str) -> Pipeline:
    """The pipeline called ``name``; ``InvalidParameter`` if there is none."""
    try:
        module = _MODULES[name]
    except KeyError:
        known = ", ".join(names())
        raise InvalidParameter(
            f"invalid parameter `pipeline`: unknown pipeline {name!r} (known: {known})"
        ) from None
    pipeline: Pipeline = importlib.import_module(module).PIPELINE
    return pipeline


def run_pipeline(
    name: str,
    inputs: Sequence[str | PathLike[str]],
    params: Mapping[str, Any],
    output: str | PathLike[str],
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Validate ``params``, run the pipeline and write ``summary.json`` into ``output``."""
    pipeline = get(name)
    validated = pipeline.validate(params)
    if not inputs:
        raise InvalidParameter("invalid parameter `inputs`: at least one input is required")
    output_dir = Path(output)
    summary = {
        "pipeline": name,
        "inputs": [str(i) for i in inputs],
        "params": validated.model_dump(mode="json"),
        **pipeline.execute([str(i) for i in inputs], validated, output_dir, progress),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
