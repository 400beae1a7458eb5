"""scripts/setup, the one setup step: nothing missing here after it ran, it installs what is
missing through the system's package manager, and where it cannot (no root, no sudo, an
unknown system) it stops at once naming the exact packages. No other file lists packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

SETUP = ROOT / "scripts" / "setup"
# What the script itself runs, besides the packages it looks for.
ITS_OWN_TOOLS = ("sh", "env", "uname", "id", "cat", "sed", "python3")


def fake_system(tmp_path: Path, *, commands: tuple[str, ...], manager: str | None) -> Path:
    """A PATH holding only ``commands`` (links to the real ones), a pkg-config that knows
    no module (so poppler-glib is missing) and, if given, a package manager that records
    what it was asked to install."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {"pkg-config": "exit 1"}
    if manager:
        scripts[manager] = f'echo "$@" >> {tmp_path / "installed"}'
    for name in (*ITS_OWN_TOOLS, *commands):
        real = shutil.which(name)
        assert real, name
        assert name not in scripts  # never write through a link to the real program
        (bin_dir / name).symlink_to(real)
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A folder another user (``nobody``) can enter: pytest's own are root's only."""
    folder = Path(tempfile.mkdtemp(prefix="fusionflow-setup-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def setup(bin_dir: Path, *args: str, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "nobody", "--"] if as_nobody else []
    return subprocess.run(
        [*prefix, "/usr/bin/env", "-i", f"PATH={bin_dir}", "sh", str(SETUP), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_nothing_is_missing_after_the_setup_step() -> None:
    done = subprocess.run(
        [str(SETUP), "test", "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "everything FusionFlow needs (test) is installed" in done.stderr


def test_what_is_missing_is_installed_with_the_package_manager(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("installs as root only (or through sudo)")
    bin_dir = fake_system(tmp_path, commands=("cc", "make", "cargo"), manager="apt-get")
    done = setup(bin_dir, "build")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "installed").read_text().splitlines() == [
        "update -qq",
        "install -y -qq nasm libpoppler-glib-dev",
    ]


def test_check_only_reports(tmp_path: Path) -> None:
    bin_dir = fake_system(tmp_path, commands=("cc", "make", "cargo"), manager="apt-get")
    done = setup(bin_dir, "build", "--check")
    assert done.returncode == 1
    assert "apt-get packages: nasm libpoppler-glib-dev" in done.stderr
    assert not (tmp_path / "installed").exists()


def test_without_root_it_stops_at_once_with_the_exact_packages(world_readable: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("runs the script as `nobody`, which needs root")
    bin_dir = fake_system(world_readable, commands=("cc", "make", "cargo"), manager="apt-get")
    done = setup(bin_dir, "build", as_nobody=True)
    assert done.returncode == 1
    assert "as root, run: apt-get install -y nasm libpoppler-glib-dev" in done.stderr
    assert "then run scripts/setup build again." in done.stderr
    assert not (world_readable / "installed").exists()


def test_an_unknown_system_gets_the_list_to_install_by_hand(tmp_path: Path) -> None:
    bin_dir = fake_system(tmp_path, commands=("cc", "make"), manager=None)
    done = setup(bin_dir, "build")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert "  install by hand:" in lines
    assert (
        "  - NASM (libjpeg-turbo's SIMD code) (Debian/Ubuntu: nasm; Fedora: nasm; Homebrew: nasm)"
        in lines
    )
    assert any("poppler-glib-devel" in line for line in lines)
    assert "  - a Rust toolchain (cargo, rustc): https://rustup.rs" in lines


def test_no_other_file_lists_system_packages() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = ROOT / name
        if name.startswith(("scripts/setup", "tests/")) or not path.is_file():
            continue
        if path.suffix in (".md", ".lock", ".json") or name.endswith("dev-secrets.env"):
            continue
        text = path.read_text(errors="ignore")
        for manager in ("apt-get install", "dnf install", "brew install"):
            assert manager not in text, f"{name} installs packages itself ({manager})"
    for name in (".ci/run", "Dockerfile", "Makefile"):
        assert "scripts/setup" in (ROOT / name).read_text(), name
