"""``fusionflow probe``, the containers' health check: exit 0 only on a 2xx answer."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.cli.test_main import _script
from tests.servers import free_port


@contextmanager
def answering(status: int) -> Iterator[int]:
    """An HTTP server on loopback answering every GET with ``status``; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def probe(*args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    if port is not None:
        env["FUSIONFLOW_PORT"] = str(port)
    return subprocess.run(
        [_script(), "probe", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_2xx_answer_passes() -> None:
    with answering(204) as port:
        assert probe(f"http://127.0.0.1:{port}/metrics").returncode == 0


def test_an_error_answer_fails_in_one_line() -> None:
    with answering(503) as port:
        done = probe(f"http://127.0.0.1:{port}/readyz")
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: http://127.0.0.1:{port}/readyz: HTTP 503"


def test_nothing_listening_fails_in_one_line() -> None:
    port = free_port()
    done = probe(f"http://127.0.0.1:{port}/healthz", "--timeout", "2")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr


def test_without_a_url_it_probes_the_local_api_on_its_port() -> None:
    with answering(200) as port:
        assert probe(port=port).returncode == 0
    assert probe(port=free_port()).returncode == 1
