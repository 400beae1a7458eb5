"""A file that kills the process reading it costs one worker, not the job; workers that die
for other reasons fail nothing. On real Celery workers over a real Redis, on SQLite and
PostgreSQL, with processes killed by a signal as the kernel's OOM killer kills them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import fusionflow
from fusionflow.config import Settings
from fusionflow.db import Database
from fusionflow.executors.celery import CeleryExecutor
from fusionflow.jobs import isolated
from tests.jobs.helpers import SLOW_PATTERN, same_outputs, slow_corpus
from tests.jobs.workers import Workers, running_shard_of, shards, wait_for


@contextmanager
def killing_readers_of(path: Path) -> Iterator[list[int]]:
    """SIGKILL every process that opens ``path``, as the OOM killer would the process a
    file drove out of memory. Yields the pids killed so far."""
    killed: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.002):
            # A killed process holds its files until the kernel has torn it down: it is
            # seen again meanwhile, and killed once.
            for pid in set(_readers_of(path)) - set(killed):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it closed the file and exited on its own first
                killed.append(pid)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield killed
    finally:
        done.set()
        watcher.join()


def _readers_of(path: Path) -> list[int]:
    """The processes this test started (its workers and their children) that have ``path``
    open. Only those are looked into: a scan of every process's files takes long enough on
    a machine busy with other tests for a quick reader to come and go unseen."""
    readers = []
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(OSError):  # gone meanwhile
            if any(fd.readlink() == path for fd in Path(f"/proc/{pid}/fd").iterdir()):
                readers.append(pid)
    return readers


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for process in Path("/proc").iterdir():
        if process.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # The field after the command's closing parenthesis: state, then ppid.
                parent = int((process / "stat").read_text().rpartition(")")[2].split()[1])
                children.setdefault(parent, []).append(int(process.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def make_bomb(path: Path) -> Path:
    """A file that takes seconds to search: long enough open for the watcher to see, even
    on a busy machine."""
    with path.open("a") as f:
        f.write("2026-11-28 12:00:00 INFO request handled in 12 ms by worker seven\n" * 1_200_000)
    return path


def request(settings: Settings, files: list[Path], part: Path) -> isolated.Request:
    params = {"patterns": [SLOW_PATTERN, "ERROR"]}
    return isolated.Request(settings, "grep", [str(f) for f in files], params, part, [])


def test_an_isolated_run_gives_the_same_results_as_one_in_process(
    settings: Settings, tmp_path: Path
) -> None:
    root = slow_corpus(tmp_path / "in", files=3, lines=2_000)
    part = tmp_path / "part"
    part.mkdir()
    progress = isolated.ChildProgress()
    summary = isolated.run(request(settings, sorted(root.iterdir()), part), progress)
    assert summary["files_scanned"] == 3
    assert summary["matches"] == 3
    assert progress.snapshot()["files_done"] == 3
    expected = fusionflow.run(
        "grep", [str(root)], {"patterns": [SLOW_PATTERN, "ERROR"]}, tmp_path / "run"
    )
    assert (part / "matches.txt").read_text() == (tmp_path / "run" / "matches.txt").read_text()
    assert expected["matches"] == 3


def test_a_killed_isolated_run_names_the_file_it_was_reading(
    settings: Settings, tmp_path: Path
) -> None:
    root = slow_corpus(tmp_path / "in", files=3, lines=1_000)
    bomb = make_bomb(root / "01.log")
    with killing_readers_of(bomb) as killed, pytest.raises(isolated.Killed) as death:
        isolated.run(request(settings, [bomb], tmp_path), isolated.ChildProgress())
    assert death.value.signal_name == "SIGKILL"
    assert len(killed) == 1
    assert death.value.reading == [str(bomb)]


def test_of_files_read_together_only_the_one_that_kills_alone_is_quarantined(
    settings: Settings, tmp_path: Path
) -> None:
    root = slow_corpus(tmp_path / "in", files=3, lines=1_000)
    files = sorted(root.iterdir())
    bomb = make_bomb(files[1])
    death = isolated.Killed("SIGKILL", [str(f) for f in files])  # all three were being read
    with killing_readers_of(bomb):
        assert isolated.culprits(request(settings, files, tmp_path), death) == [str(bomb)]


def test_a_run_killed_with_every_suspect_innocent_alone_fails_saying_so(
    settings: Settings, tmp_path: Path
) -> None:
    files = sorted(slow_corpus(tmp_path / "in", files=2, lines=1_000).iterdir())
    death = isolated.Killed("SIGKILL", [str(f) for f in files])
    with pytest.raises(isolated.ShardKilled, match="each alone was read fine"):
        isolated.culprits(request(settings, files, tmp_path), death)


def test_a_file_that_kills_its_worker_is_quarantined_and_the_job_completes(
    celery: CeleryExecutor, workers: Workers, db: Database, tmp_path: Path
) -> None:
    root = slow_corpus(tmp_path / "in", files=4, lines=300_000)
    bomb = make_bomb(root / "02.log")
    params = {"patterns": [SLOW_PATTERN, "ERROR"]}
    first = workers.start()
    with killing_readers_of(bomb) as killed:
        job = celery.jobs.submit("grep", [str(root)], params)
        first.wait(120)  # the worker, killed reading the bomb
        workers.start()  # the next runs the bomb's shard in a process of its own
        done = celery.jobs.wait(job.id, timeout=180)
    assert done.status == "completed", done.error
    assert killed[0] == first.pid
    assert len(killed) == 2

    summary = json.loads((Path(done.output_url) / "summary.json").read_text())
    (quarantined,) = [s for s in summary["skipped"] if s["path"] == str(bomb)]
    assert "SIGKILL" in quarantined["reason"]
    assert "not read again" in quarantined["reason"]
    assert str(bomb) in (Path(done.output_url) / "report.txt").read_text()
    assert summary["files_scanned"] == 3
    assert summary["matches"] == 3

    bomb_shard = next(s for s in shards(db, job.id) if s.inputs[0][0] == str(bomb))
    assert (bomb_shard.status, bomb_shard.lost) == ("completed", 1)
    rest = [str(f) for f in sorted(root.iterdir()) if f != bomb]
    fusionflow.run("grep", rest, params, tmp_path / "run")
    same_outputs(Path(done.output_url), tmp_path / "run", ["matches.txt"])


def test_workers_dying_for_other_reasons_fail_no_job(
    celery: CeleryExecutor, workers: Workers, db: Database, tmp_path: Path
) -> None:
    root = slow_corpus(tmp_path / "in", files=1, lines=1_500_000)  # one shard, a few seconds
    params = {"patterns": [SLOW_PATTERN, "ERROR"]}
    job = celery.jobs.submit("grep", [str(root)], params)
    for _ in range(3):  # more than the two deaths that used to fail the job
        pid = workers.start().pid
        wait_for(lambda: running_shard_of(db, job.id, pid) is not None, 60, "the shard")  # noqa: B023
        os.killpg(pid, signal.SIGKILL)  # the whole worker, and what it started
        workers.processes[-1].wait(30)
    workers.start()
    done = celery.jobs.wait(job.id, timeout=180)
    assert done.status == "completed", done.error
    (shard,) = shards(db, job.id)
    assert (shard.status, shard.lost) == ("completed", 3)
    summary = json.loads((Path(done.output_url) / "summary.json").read_text())
    assert summary["skipped"] == []
    assert summary["matches"] == 1
