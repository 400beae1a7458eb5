"""The package under test is the wheel that ships: repaired by auditwheel into a manylinux
abi3 wheel that brings every library it links (only the C library, libstdc++, libgcc_s and
zlib come from the system), with licence metadata and notices that say what it bundles."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import fusionflow

ROOT = Path(__file__).resolve().parents[1]
# What every Linux system running Python has; anything else must be in the wheel.
FROM_THE_SYSTEM = {
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libz.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
}


def installed_wheel() -> tuple[metadata.Distribution, Path]:
    distribution = metadata.distribution("fusionflow")
    site = Path(str(distribution.locate_file("")))
    libs = site / "fusionflow.libs"
    if not libs.is_dir():
        message = "fusionflow is not installed from the repaired wheel (make install)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return distribution, libs


def needed(elf: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(elf)], capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out.stdout)


def test_the_installed_package_is_the_repaired_abi3_manylinux_wheel() -> None:
    distribution, _ = installed_wheel()
    tags = [
        line.split(": ", 1)[1]
        for line in (distribution.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag: ")
    ]
    assert tags
    assert all(re.fullmatch(r"cp311-abi3-manylinux_2_\d+_(x86_64|aarch64)", t) for t in tags), tags


def test_every_library_it_links_is_bundled_or_part_of_every_system() -> None:
    _, libs = installed_wheel()
    bundled = {p.name for p in libs.iterdir()}
    core = Path(fusionflow.__file__).parent
    for elf in [*core.glob("_core*.so"), *libs.iterdir()]:
        missing = set(needed(elf)) - bundled - FROM_THE_SYSTEM
        assert not missing, f"{elf.name} needs {sorted(missing)} from the system"
    assert any(name.startswith("libpoppler-glib") for name in bundled)


MAPPED = """
import pathlib, sys
def mapped():
    return {l.split()[-1] for l in pathlib.Path("/proc/self/maps").read_text().splitlines()
            if ".so" in l.split()[-1]}
before = mapped()
import fusionflow._core
print("\\n".join(sorted(mapped() - before)))
"""


def test_loading_it_maps_no_library_of_the_system_but_the_basic_ones() -> None:
    _, libs = installed_wheel()
    done = subprocess.run(
        [sys.executable, "-c", MAPPED], capture_output=True, text=True, check=True
    )
    loaded = [Path(line) for line in done.stdout.splitlines()]
    assert any(p.parent == libs and p.name.startswith("libpoppler-") for p in loaded)
    for path in loaded:
        # Ours, and the Python extension modules the package's import brings along.
        if path.parent == libs or ".cpython-" in path.name or path.name.endswith(".abi3.so"):
            continue
        soname = re.sub(r"(\.so\.\d+).*", r"\1", path.name)
        assert soname in FROM_THE_SYSTEM, f"{path} came from the system"


def test_licence_metadata_says_what_the_wheel_bundles() -> None:
    distribution, libs = installed_wheel()
    info = distribution.metadata
    expression = info["License-Expression"]
    assert "Apache-2.0" in expression
    assert "GPL-3.0-only" in expression  # poppler, joined with Apache-2.0 code
    assert set(info.get_all("License-File") or []) == {"LICENSE", "THIRD_PARTY_NOTICES.md"}
    licenses = (
        Path(str(distribution.locate_file("")))
        / f"fusionflow-{distribution.version}.dist-info"
        / "licenses"
    )
    assert (licenses / "THIRD_PARTY_NOTICES.md").read_text() == (
        ROOT / "THIRD_PARTY_NOTICES.md"
    ).read_text()
    third_party = licenses / "third_party"
    packages = {p.name for p in third_party.iterdir() if p.name != "common-licenses"}
    notices = (ROOT / "THIRD_PARTY_NOTICES.md").read_text()
    for package in packages:
        assert any((third_party / package).iterdir()), package
        assert f"`{package}`" in notices, f"{package} is bundled but not in THIRD_PARTY_NOTICES.md"
    assert {"libpoppler126", "libpoppler-glib8"} <= packages
    # Debian names the GPL instead of repeating it: the text itself travels along.
    assert "GNU GENERAL PUBLIC LICENSE" in (third_party / "common-licenses" / "GPL-3").read_text()
    assert len(packages) >= len({p.name.split("-")[0] for p in libs.iterdir()}) // 2


def test_auditwheel_show_finds_the_wheel_compliant() -> None:
    wheels = sorted((ROOT / "wheelhouse").glob("fusionflow-*.whl"))
    if not wheels:
        if os.environ.get("CI"):
            pytest.fail("no wheel in wheelhouse/ (make wheel)")
        pytest.skip("no wheel in wheelhouse/ (make wheel)")
    done = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheels[-1])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert re.search(
        r'is consistent with the following platform tag: "manylinux_2_\d+_x86_64"', text
    )
