"""``fusionflow run <pipeline> ...``: one subcommand per pipeline."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click

from fusionflow._core import Progress


@click.group()
def run() -> None:
    """Run a pipeline over files in this process."""


F = TypeVar("F", bound=Callable[..., Any])


def _inputs_and_outputs(command: F) -> F:
    """The arguments and options every pipeline command shares."""
    shared = (
        click.argument("inputs", nargs=-1, required=True),
        click.option(
            "--include", multiple=True, help="Only files matching this glob (repeatable)."
        ),
        click.option("--exclude", multiple=True, help="Leave out files/dirs matching this glob."),
        click.option("--hidden", is_flag=True, help="Include hidden files and directories."),
        click.option(
            "-L",
            "--follow",
            "follow_symlinks",
            is_flag=True,
            help="Follow symlinks inside trees (never outside the input root).",
        ),
        click.option("-o", "--output", required=True, help="Output directory."),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout."
        ),
    )
    for decorate in reversed(shared):
        command = decorate(command)
    return command


def _as_lists(options: dict[str, Any]) -> dict[str, Any]:
    """Repeatable options arrive as tuples; the params models take lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


@run.command("grep")
@click.option(
    "-e", "--regexp", "patterns", multiple=True, required=True, help="A pattern (repeatable)."
)
@click.option("-i", "--ignore-case", is_flag=True, help="Match case-insensitively.")
@click.option("-F", "--fixed-strings", is_flag=True, help="Treat patterns as literal strings.")
@click.option("-w", "--word", is_flag=True, help="Match whole words only.")
@click.option("-v", "--invert", is_flag=True, help="Select non-matching lines.")
@click.option("-C", "--context", type=int, default=0, help="Lines of context around matches.")
@click.option("-B", "--before-context", type=int, default=None, help="Lines of context before.")
@click.option("-A", "--after-context", type=int, default=None, help="Lines of context after.")
@click.option(
    "-m",
    "--max-count",
    "max_matches_per_file",
    type=int,
    default=None,
    help="Stop reading a file after this many matching lines.",
)
@click.option(
    "--binary",
    type=click.Choice(["auto", "skip", "text"]),
    default="auto",
    show_default=True,
    help="Files with NUL bytes: auto (search a log with holes, skip binaries), skip or text.",
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="matches.txt (path:line:text) or matches.jsonl.",
)
@_inputs_and_outputs
def grep(inputs: tuple[str, ...], output: str, as_json: bool, format_: str, **options: Any) -> None:
    """Extract every line matching any pattern from files, trees and .gz/.zst/.bz2 files."""
    params = {**_as_lists(options), "format": format_}
    summary = _run_with_progress("grep", list(inputs), params, output)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _report_grep(summary, output)


@run.command("csv-aggregate")
@click.option(
    "-g", "--group-by", "group_by", multiple=True, help="Group by these columns (COL[,COL...])."
)
@click.option(
    "-m",
    "--metric",
    "metrics",
    multiple=True,
    help="OP:COLUMN, OP one of count, sum, mean, min, max, null_count, count_distinct.",
)
@click.option("-d", "--delimiter", help="Field separator (default: detected per file; 'tab').")
@click.option("--encoding", help="Input encoding, e.g. latin1 (default: UTF-8).")
@click.option(
    "--on-bad-rows",
    type=click.Choice(["skip", "fail"]),
    default="skip",
    show_default=True,
    help="Leave malformed rows out (and report them), or stop.",
)
@click.option("--parquet", is_flag=True, help="Also write aggregate.parquet.")
@_inputs_and_outputs
def csv_aggregate(inputs: tuple[str, ...], output: str, as_json: bool, **options: Any) -> None:
    """Aggregate CSV files (also .gz/.zst/.bz2) into one grouped aggregate.csv."""
    delimiter = options["delimiter"]
    params = {
        **_as_lists(options),
        "group_by": [
            c.strip() for spec in options["group_by"] for c in spec.split(",") if c.strip()
        ],
        "delimiter": "\t" if delimiter in ("tab", "\\t") else delimiter,
    }
    summary = _run_with_progress("csv-aggregate", list(inputs), params, output)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(
        f"{summary['rows']} rows in {summary['files_total']} files -> {summary['groups']} groups "
        f"({summary['elapsed_s']:.2f} s) -> {output}/{summary['output']}",
        err=True,
    )
    if summary["bad_rows"]:
        first = summary["bad_row_samples"][0] if summary["bad_row_samples"] else ""
        click.echo(f"warning: {summary['bad_rows']} bad rows left out, first: {first}", err=True)
    _warn_skips(summary)


@run.command("resize-images")
@click.option("-W", "--max-width", type=int, help="Largest output width in pixels.")
@click.option("-H", "--max-height", type=int, help="Largest output height in pixels.")
@click.option(
    "--mode",
    type=click.Choice(["fit", "fill", "exact"]),
    default="fit",
    show_default=True,
    help="fit: inside the box; fill: the box, centre cropped; exact: the box, stretched.",
)
@click.option("--upscale", is_flag=True, help="Enlarge images smaller than the box.")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["same", "jpeg", "png", "webp"]),
    default="same",
    show_default=True,
    help="Output format.",
)
@click.option("-q", "--quality", type=int, default=85, show_default=True, help="JPEG/WebP quality.")
@click.option("--keep-metadata", is_flag=True, help="Keep EXIF and ICC profile (JPEG, PNG).")
@click.option(
    "--max-pixels",
    type=int,
    default=100_000_000,
    show_default=True,
    help="Refuse larger images before decoding them.",
)
@click.option(
    "--filter",
    "filter_",
    type=click.Choice(["lanczos3", "mitchell", "catmull-rom", "bilinear", "nearest"]),
    default="lanczos3",
    show_default=True,
    help="Resampling filter.",
)
@_inputs_and_outputs
def resize_images(
    inputs: tuple[str, ...], output: str, as_json: bool, format_: str, filter_: str, **options: Any
) -> None:
    """Write thumbnails of JPEG/PNG/WebP/GIF/TIFF/BMP images, mirroring the input trees."""
    params = {**_as_lists(options), "format": format_, "filter": filter_}
    params = {k: v for k, v in params.items() if v is not None}
    summary = _run_with_progress("resize-images", list(inputs), params, output)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(
        f"{summary['files_resized']} of {summary['files_total']} images resized "
        f"({_size(summary['bytes_in'])} -> {_size(summary['bytes_out'])} in "
        f"{summary['elapsed_s']:.2f} s) -> {output}/{summary['manifest']}",
        err=True,
    )
    _warn_skips(summary)


@run.command("extract-text")
@click.option(
    "--formats",
    help="Only these formats, comma-separated: pdf,docx,odt,html,text (default: all).",
)
@click.option(
    "--timeout", "timeout_s", type=float, default=60.0, show_default=True,
    help="Seconds one file may take to parse.",
)  # fmt: skip
@click.option(
    "--in-process", is_flag=True, help="Parse in this process (faster start; no time limit)."
)
@_inputs_and_outputs
def extract_text(
    inputs: tuple[str, ...],
    output: str,
    as_json: bool,
    formats: str | None,
    in_process: bool,
    **options: Any,
) -> None:
    """Extract the text of PDF, DOCX, ODT, HTML and text files (one .txt per document)."""
    params = {
        **_as_lists(options),
        "formats": [f.strip() for f in (formats or "").split(",") if f.strip()],
        "isolate": not in_process,
    }
    summary = _run_with_progress("extract-text", list(inputs), params, output)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    pages = f", {summary['pages']} PDF pages" if summary["pages"] else ""
    click.echo(
        f"{summary['files_extracted']} of {summary['files_total']} documents extracted"
        f"{pages} ({summary['characters']} characters in {summary['elapsed_s']:.2f} s) "
        f"-> {output}/{summary['documents']}",
        err=True,
    )
    _warn_skips(summary)


def _report_grep(summary: dict[str, Any], output: str) -> None:
    click.echo(
        f"{summary['matches']} matching lines in {summary['files_matched']} of "
        f"{summary['files_total']} files ({_size(summary['bytes_scanned'])} in "
        f"{summary['elapsed_s']:.2f} s) -> {output}/{summary['output']}",
        err=True,
    )
    _warn_skips(summary)


def _warn_skips(summary: dict[str, Any]) -> None:
    """Say what was not searched, so that nothing is left out silently."""
    for key, noun, what in (
        ("skipped_binary", "binary file", "not searched (see --binary)"),
        ("nul_ranges", "file", "with runs of NUL bytes (a crash?) searched as text"),
        ("recovered", "image", "read past a defect"),
        ("errors", "file", "with errors"),
        ("long_lines", "file", "with lines searched only in their first max_line_bytes"),
        ("skipped", "path", "skipped while listing"),
    ):
        if count := len(summary.get(key) or ()):
            plural = "" if count == 1 else "s"
            click.echo(f"warning: {count} {noun}{plural} {what}; see summary.json", err=True)


def _run_with_progress(
    pipeline: str, inputs: list[str], params: dict[str, Any], output: str
) -> dict[str, Any]:
    """Run in a worker thread; the main thread draws progress and turns Ctrl-C into a cancel."""
    import fusionflow
    from fusionflow.uploads import SCHEME as UPLOADS

    if any(url.startswith(("s3://", UPLOADS)) for url in (*inputs, output)):
        # S3 and uploads as the services reach them: the same settings, *_FILE secrets
        # included (an operator may run what a user's job ran).
        from fusionflow import storage
        from fusionflow.config import get_settings

        storage.configure(get_settings())
    progress = Progress()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["summary"] = fusionflow.run(pipeline, inputs, params, output, progress=progress)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            outcome["error"] = e

    worker = threading.Thread(target=work, name="fusionflow-run", daemon=True)
    worker.start()
    try:
        if sys.stderr.isatty():
            _draw_progress(progress, worker.is_alive)
        worker.join()
    except KeyboardInterrupt:
        progress.cancel()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    summary: dict[str, Any] = outcome["summary"]
    return summary


def _draw_progress(progress: Progress, running: Callable[[], bool]) -> None:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import (
        Progress as Bar,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Bar(*columns, transient=True) as bar:
        task = bar.add_task("searching", total=None)
        while running():
            snap = progress.snapshot()
            bar.update(
                task,
                completed=snap["bytes_done"],
                total=snap["bytes_total"] or None,
                description=f"{snap['files_done']}/{snap['files_total']} files",
            )
            threading.Event().wait(0.1)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
