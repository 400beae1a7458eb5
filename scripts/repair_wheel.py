"""Repair a wheel for shipping: ``auditwheel repair``, bundling more than the policy demands,
then the licence texts of everything bundled added to the wheel.

1. poppler's GLib interface needs GLib, and through cairo the X11 client libraries. The
   manylinux policy counts them as part of every Linux system, so plain ``auditwheel
   repair`` leaves them out and the wheel would fail to import in a slim container. Bundling
   more than the policy requires keeps the wheel compliant (``auditwheel show``, unmodified,
   checks it afterwards); only the C library, libstdc++, libgcc_s and zlib, present wherever
   Python runs, stay outside.
2. Each bundled library comes from a system package (Debian or RPM); each package's
   copyright file goes into
   ``<dist-info>/licenses/third_party/<package>/``, the long licence texts these refer to into
   ``third_party/common-licenses/``: a binary that bundles poppler is distributed
   under the GPL, which asks for the licence and the notices to travel with it.

    python scripts/repair_wheel.py WHEEL --wheel-dir WHEELHOUSE
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import auditwheel.policy
from auditwheel.libc import Libc
from auditwheel.main import main as auditwheel_main

BUNDLED_ALTHOUGH_ALLOWED = {
    "libglib-2.0.so.0",
    "libgobject-2.0.so.0",
    "libgthread-2.0.so.0",
    "libX11.so.6",
    "libXext.so.6",
    "libXrender.so.1",
    "libICE.so.6",
    "libSM.so.6",
    "libexpat.so.1",
}
THIRD_PARTY = "licenses/third_party"


def narrowed_policy(directory: Path) -> Path:
    """The manylinux policy file without ``BUNDLED_ALTHOUGH_ALLOWED`` in any whitelist."""
    source = auditwheel.policy._POLICY_JSON_MAP[Libc.GLIBC]
    policies = json.loads(source.read_text())
    for policy in policies:
        policy["lib_whitelist"] = [
            name for name in policy["lib_whitelist"] if name not in BUNDLED_ALTHOUGH_ALLOWED
        ]
    path = directory / source.name
    path.write_text(json.dumps(policies))
    return path


def repair(arguments: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        auditwheel.policy._POLICY_JSON_MAP[Libc.GLIBC] = narrowed_policy(Path(scratch))
        sys.argv = ["auditwheel", "repair", *arguments]
        if code := auditwheel_main():
            sys.exit(code)


LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


def original_name(bundled: str) -> str:
    """``libglib-2-1708487c.0.so.0.7400.6`` → ``libglib-2.0.so.0.7400.6`` (auditwheel adds
    a hash of the file to the names it bundles)."""
    return re.sub(r"-[0-9a-f]{8}(?=\.)", "", bundled, count=1)


def owner(library: str) -> tuple[str, str]:
    """The system package (kind, name) that installed the library file named ``library``."""
    for directory in LIBRARY_DIRS:
        for candidate in (Path(directory) / library, Path(directory.replace("/usr", "")) / library):
            if not candidate.exists():
                continue
            if Path("/usr/bin/dpkg").exists():
                found = subprocess.run(
                    ["dpkg", "-S", str(candidate)], capture_output=True, text=True
                )
                if found.returncode == 0:
                    return "deb", found.stdout.split(":")[0]
            else:
                found = subprocess.run(
                    ["rpm", "-qf", "--queryformat", "%{NAME}", str(candidate)],
                    capture_output=True,
                    text=True,
                )
                if found.returncode == 0:
                    return "rpm", found.stdout.strip()
    raise SystemExit(f"repair_wheel: no system package owns the bundled library {library}")


def package_notices(kind: str, name: str) -> dict[str, bytes]:
    """The copyright and licence files of a system package, by path under third_party/."""
    found: dict[str, bytes] = {}
    if kind == "deb":
        text = (Path("/usr/share/doc") / name / "copyright").read_text(errors="replace")
        found[f"{name}/copyright"] = text.encode()
        # Debian's copyright files name the long licences instead of repeating them; those
        # are stored once, in common-licenses/.
        for common in sorted(set(re.findall(r"/usr/share/common-licenses/([\w.+-]+)", text))):
            path = Path("/usr/share/common-licenses") / common.rstrip(".")
            if path.is_file():
                found[f"common-licenses/{path.name}"] = path.read_bytes()
    else:
        listed = subprocess.run(["rpm", "-qL", name], capture_output=True, text=True, check=True)
        for line in listed.stdout.split():
            if Path(line).is_file():
                found[f"{name}/{Path(line).name}"] = Path(line).read_bytes()
    if not found:
        raise SystemExit(f"repair_wheel: no licence files found for bundled package {name}")
    return found


def add_notices(wheel: Path) -> list[str]:
    """Add the notices of every bundled library's package to ``wheel``; returns them."""
    with zipfile.ZipFile(wheel) as source:
        entries = {info.filename: (info, source.read(info)) for info in source.infolist()}
    record_name = next(name for name in entries if name.endswith(".dist-info/RECORD"))
    dist_info = record_name.split("/")[0]
    bundled = [
        name.split("/")[-1]
        for name in entries
        if name.split("/")[0].endswith(".libs") and "/" in name
    ]
    packages = sorted({owner(original_name(library)) for library in bundled if library})
    record = [
        line
        for line in entries.pop(record_name)[1].decode().splitlines()
        if line and not line.startswith(f"{record_name},")
    ]
    added: dict[str, bytes] = {}
    for kind, name in packages:
        for path, data in package_notices(kind, name).items():
            added[f"{dist_info}/{THIRD_PARTY}/{path}"] = data
    for path, data in added.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{record_name},,")
    replacement = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(replacement, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries.values():
            target.writestr(info, data)
        for path, data in added.items():
            target.writestr(path, data)
        target.writestr(record_name, "\n".join(record) + "\n")
    replacement.replace(wheel)
    return [name for _, name in packages]


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if "--wheel-dir" not in arguments:
        raise SystemExit("usage: repair_wheel.py WHEEL --wheel-dir WHEELHOUSE")
    wheelhouse = Path(arguments[arguments.index("--wheel-dir") + 1])
    before = set(wheelhouse.glob("*.whl"))
    repair(arguments)
    for repaired in sorted(set(wheelhouse.glob("*.whl")) - before):
        bundled = add_notices(repaired)
        print(f"{repaired.name}: notices of {len(bundled)} bundled packages added", file=sys.stderr)
