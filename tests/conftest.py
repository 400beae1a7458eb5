"""Shared fixtures. Each fixture states its scope; corpora are generated, never checked in."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_logs", ROOT / "bench" / "gen_logs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_logs"] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def log_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark's realistic log tree, small: gz, bz2, binaries, NUL holes, long lines."""
    root = tmp_path_factory.mktemp("corpus") / "logs"
    _load_generator().generate(root, 8 << 20, seed=7, jobs=1, quiet=True)
    return root


@pytest.fixture(scope="session")
def rg() -> str:
    """Path of ripgrep, the reference tool (.ci/run installs it)."""
    path = shutil.which("rg")
    if path is None:
        pytest.fail("ripgrep (rg) is required for the reference tests: apt-get install ripgrep")
    return path


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A tiny log tree with known content."""
    root = tmp_path / "logs"
    (root / "app").mkdir(parents=True)
    (root / "app" / "a.log").write_text("start\nERROR disk full\nok\nFATAL oom\n")
    (root / "b.log").write_text("nothing\n")
    return root
