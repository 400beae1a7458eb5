"""A shard run in a process of its own, for a shard whose worker died running it.

When a worker process dies (the kernel's OOM killer, a crash in a decoder), every shard it
ran is suspect, though most were bystanders. Run again here, a shard can only kill its own
process, and a death says which files did it: the core notes each file in a journal before
touching it (``Progress.journal_to``), so a killed child leaves the files it was reading.
The worker lives on to decide what next.

The parent writes the request, pickled, to the child's stdin; the child writes JSON lines
to its stdout: ``{"progress": ...}`` now and then, then ``{"summary": ...}`` or
``{"error": ..., "transient": ...}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from fusionflow.config import Settings
from fusionflow.errors import Cancelled, TransientError

log = logging.getLogger(__name__)

REPORT_EVERY_S = 0.25  # the heartbeat records progress every 0.5 s


@dataclass(frozen=True)
class Request:
    settings: Settings
    pipeline: str
    files: list[str]
    params: dict[str, Any]
    part: Path
    roots: list[str]


class Killed(Exception):
    """The child died by a signal while reading ``reading`` (perhaps nothing)."""

    def __init__(self, signal_name: str, reading: list[str]) -> None:
        super().__init__(f"killed by {signal_name}")
        self.signal_name = signal_name
        self.reading = reading


class ShardKilled(Exception):
    """A shard's own process was killed, and no file of it, read alone, was the cause."""


class ChildProgress:
    """The child's progress as the parent sees it. ``cancel()`` kills the child."""

    def __init__(self) -> None:
        self._snapshot: dict[str, int] = {"bytes_done": 0, "files_done": 0}
        self._cancelled = threading.Event()

    def snapshot(self) -> dict[str, int]:
        return dict(self._snapshot)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def update(self, snapshot: dict[str, int]) -> None:
        self._snapshot = snapshot


def run(request: Request, progress: ChildProgress) -> dict[str, Any]:
    """The shard's summary, as ``pipeline.run_shard`` would return it in this process.

    Raises ``Killed`` when the child dies by a signal, ``Cancelled`` when ``progress``
    was cancelled (the child is then killed), and the child's own error otherwise."""
    final: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="fusionflow-isolated-") as scratch,
        subprocess.Popen(
            [sys.executable, "-c", "from fusionflow.jobs.isolated import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        ) as child,
    ):
        assert child.stdin is not None
        assert child.stdout is not None
        journal = Path(scratch) / "journal"
        reader = threading.Thread(target=_read_reports, args=(child.stdout, progress, final))
        reader.start()
        try:
            child.stdin.write(pickle.dumps((request, journal)))
            child.stdin.close()
        except BrokenPipeError:
            pass  # it died at once; its exit status says how
        status = _wait(child, progress)
        reader.join()
        if status < 0:
            raise Killed(signal.Signals(-status).name, _reading(journal))
    if "summary" in final:
        summary: dict[str, Any] = final["summary"]
        return summary
    if "error" in final:
        error = TransientError if final["transient"] else RuntimeError
        raise error(final["error"])
    raise RuntimeError(f"the shard's own process exited with status {status} and no result")


def culprits(request: Request, death: Killed) -> list[str]:
    """The files ``death`` comes down to: the one being read, or of several read together,
    each that kills a process reading it alone. ``ShardKilled`` when there are none."""
    suspects = [path for path in death.reading if path in request.files]
    if len(suspects) == 1:
        return suspects
    found = []
    for path in suspects:
        with tempfile.TemporaryDirectory(prefix="fusionflow-") as scratch:
            alone = replace(request, files=[path], part=Path(scratch))
            try:
                run(alone, ChildProgress())
            except Killed:
                found.append(path)
            except Exception:  # noqa: BLE001 (an error, not a death: the shard's run reports it)
                log.info("%s alone failed without killing its process", path)
    if found:
        return found
    if not suspects:
        raise ShardKilled(f"its own process was killed by {death.signal_name} between files")
    raise ShardKilled(
        f"its own process was killed by {death.signal_name} while reading "
        f"{', '.join(suspects)} together; each alone was read fine "
        "(out of memory? try fewer FUSIONFLOW_SHARD_THREADS)"
    )


def _wait(child: subprocess.Popen[bytes], progress: ChildProgress) -> int:
    """The child's exit status; it is killed, and ``Cancelled`` raised, on cancel."""
    while True:
        try:
            return child.wait(0.05)
        except subprocess.TimeoutExpired:
            if progress.cancelled:
                child.kill()
                child.wait()
                raise Cancelled("cancelled") from None


def _read_reports(stdout: IO[bytes], progress: ChildProgress, final: dict[str, Any]) -> None:
    for line in stdout:
        report = json.loads(line)
        if "progress" in report:
            progress.update(report["progress"])
        else:
            final.update(report)


def _reading(journal: Path) -> list[str]:
    """The files the journal shows started and not ended, in the order they started."""
    reading: dict[str, int] = {}
    if journal.exists():
        for line in journal.read_text().splitlines():
            try:
                path = os.fsdecode(bytes.fromhex(line[1:]))
            except ValueError:  # a line cut short by the kill: its file was not yet opened
                continue
            reading[path] = reading.get(path, 0) + (1 if line[0] == "+" else -1)
    return [path for path, open_count in reading.items() if open_count > 0]


def serve() -> None:
    """The child: run the request read from stdin, reporting on the original stdout."""
    _die_first()
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever else prints goes to stderr, not into the reports
    request, journal = pickle.load(sys.stdin.buffer)

    from fusionflow import _core, pipelines, storage
    from fusionflow.errors import one_line
    from fusionflow.retry import is_transient

    storage.configure(request.settings)
    progress = _core.Progress()
    progress.journal_to(journal)
    done = threading.Event()
    reporter = threading.Thread(target=_report, args=(progress, out, done), daemon=True)
    reporter.start()
    try:
        pipeline = pipelines.get(request.pipeline)
        params = pipeline.validate(request.params, request.settings)
        summary = pipeline.run_shard(request.files, params, request.part, progress, request.roots)
        final: dict[str, Any] = {"summary": summary}
    except Exception as e:  # noqa: BLE001 (handed to the parent, which decides)
        final = {"error": one_line(e), "transient": is_transient(e)}
    done.set()
    reporter.join()
    out.write(json.dumps(final) + "\n")
    out.flush()


def _report(progress: Any, out: IO[str], done: threading.Event) -> None:
    finished = False
    while not finished:
        finished = done.wait(REPORT_EVERY_S)  # once more when done: the final figures
        snapshot = progress.snapshot()
        figures = {key: snapshot[key] for key in ("bytes_done", "files_done")}
        try:
            out.write(json.dumps({"progress": figures}) + "\n")
        except (BrokenPipeError, ValueError):  # the parent is gone, and with it the point
            os._exit(1)


def _die_first() -> None:
    """Offer this process to the OOM killer before the worker that started it."""
    with contextlib.suppress(OSError):  # not Linux, or not allowed: then the worker may be
        Path("/proc/self/oom_score_adj").write_text("1000")
