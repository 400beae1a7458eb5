"""FusionFlow: heavy processing jobs over many files.

Run a pipeline in this process and get its summary::

    import fusionflow
    summary = fusionflow.run(
        "grep", inputs=["/var/log"], params={"patterns": ["ERROR", "FATAL"]}, output="out"
    )
    print(summary["matches"])

Heavy modules load on first use, so that ``import fusionflow`` and the CLI start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fusionflow._core import Progress, __version__

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from os import PathLike

__all__ = ["Progress", "__version__", "run"]


def run(
    pipeline: str,
    inputs: Sequence[str | PathLike[str]],
    params: Mapping[str, Any] | None = None,
    output: str | PathLike[str] = "fusionflow-output",
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run ``pipeline`` over ``inputs`` and write its outputs and ``summary.json`` to ``output``.

    Returns the summary (the contents of ``summary.json``). Raises
    ``fusionflow.errors.InvalidParameter`` for bad parameters, ``FileNotFoundError`` for a
    missing input, and ``fusionflow.errors.Cancelled`` if ``progress.cancel()`` was called.
    """
    from fusionflow.pipelines import run_pipeline

    return run_pipeline(pipeline, inputs, params or {}, output, progress=progress)
