"""`fusionflow serve` as a process of its own, for tests that talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.api.conftest import ADMIN_PASSWORD
from tests.servers import free_port, wait_for_port

FUSIONFLOW = Path(sys.executable).with_name("fusionflow")


def launch(env: dict[str, str], logs: Path, port: int, *args: str) -> subprocess.Popen[bytes]:
    """`fusionflow serve` on ``port``, listening when this returns; its output goes to
    ``logs/serve-<port>.log`` (appended: a port may serve again after a restart)."""
    with (logs / f"serve-{port}.log").open("ab") as log:
        server = subprocess.Popen(
            [FUSIONFLOW, "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process=server, timeout=60)
    except BaseException:
        server.kill()
        server.wait(30)
        raise
    return server


@contextmanager
def serve(env: dict[str, str], logs: Path, *args: str) -> Iterator[str]:
    """`fusionflow serve` on a free port; yields its base URL, stops it with SIGTERM."""
    port = free_port()
    server = launch(env, logs, port, *args)
    try:
        scheme = "https" if "--ssl-certfile" in args else "http"
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        # A clean stop (uvicorn then re-raises the signal, so the exit status is -15).
        assert "Application shutdown complete" in (logs / f"serve-{port}.log").read_text()


def base_env(data_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "FUSIONFLOW_DATA_DIR": str(data_dir),
        "FUSIONFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
