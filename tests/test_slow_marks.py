"""`make check` runs `pytest -m "not slow"`: it must leave out every slow test, and the one
list that says which (tests/conftest.py's SLOW) must name only tests that exist. Under `-n`,
the suite's own scheduler keeps each SERIAL folder on one worker."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SERIAL, SLOW, is_slow, serial_group


def collecting(*arguments: str) -> subprocess.Popen[str]:
    """pytest collecting the suite with ``arguments``, as `make check` would."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def collected() -> tuple[set[str], set[str]]:
    """Every test, and those `-m "not slow"` keeps (collected side by side)."""
    collections = [collecting(), collecting("-m", "not slow")]
    outputs = [collection.communicate(timeout=120)[0] for collection in collections]
    for collection, output in zip(collections, outputs, strict=True):
        assert collection.returncode == 0, output
    everything, kept = ({line for line in out.splitlines() if "::" in line} for out in outputs)
    return everything, kept


def test_not_slow_leaves_out_every_test_under_a_slow_prefix(
    collected: tuple[set[str], set[str]],
) -> None:
    everything, kept = collected
    assert kept
    assert kept == {nodeid for nodeid in everything if not is_slow(nodeid)}
    for folder in (prefix for prefix in SLOW if prefix.endswith("/")):
        assert any(nodeid.startswith(folder) for nodeid in everything), folder
        assert not any(nodeid.startswith(folder) for nodeid in kept), folder


def test_every_slow_prefix_names_tests_that_exist(collected: tuple[set[str], set[str]]) -> None:
    everything, _ = collected
    for prefix in SLOW:
        assert any(is_slow(nodeid) and nodeid.startswith(prefix) for nodeid in everything), prefix


def test_a_prefix_matches_whole_names_only() -> None:
    assert is_slow("tests/e2e/test_browser.py::test_the_grep_story_in_the_browser")
    assert is_slow("tests/api/test_e2e.py::test_sigterm_drains_then_stops")
    test = next(prefix for prefix in SLOW if re.search(r"::test_\w+$", prefix))
    assert is_slow(test)
    assert is_slow(f"{test}[sqlite]")
    assert not is_slow(f"{test}_and_more")
    assert not is_slow("tests/api/test_e2e_more.py::test_x")


def test_each_serial_folder_is_a_group_of_its_own() -> None:
    for folder, group in SERIAL.items():
        assert serial_group(f"{folder}test_a.py::test_x") == group
        assert serial_group(f"{folder}sub/test_b.py::test_y[sqlite]") == group
    assert len(set(SERIAL.values())) == len(SERIAL)
    assert serial_group("tests/api/test_jobs.py::test_cancel[postgresql]") is None


def test_xdist_schedules_with_the_suites_own_scheduler() -> None:
    plan = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-v", "--setup-plan", "tests/test_config.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "scheduling tests via SerialFolders" in plan.stdout


def test_a_run_that_leaves_tests_out_fails() -> None:
    # `--dist loadscope` keeps tests by node id: of the fuzz tests, which share one, it runs one.
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadscope",
            "tests/api/test_fuzz.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    # One test per route and method: all but one never ran.
    never_ran = re.search(r"\b(\d+) of (\d+) tests never ran\b", run.stdout)
    assert never_ran, run.stdout
    assert int(never_ran[1]) == int(never_ran[2]) - 1 > 30, run.stdout
