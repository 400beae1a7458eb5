"""Throwaway PostgreSQL and Redis servers on free loopback ports, started from the
installed binaries, so that tests never use or disturb the machine's own services."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def require(what: str, found: str | None, install: str) -> str:
    """The binary, or a skip (a failure under CI=true: CI installs everything)."""
    if found:
        return found
    message = f"{what} not found: {install}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError  # unreachable


def _as_postgres_user() -> tuple[list[str], int | None, int | None]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user then."""
    if os.geteuid() != 0:
        return [], None, None
    user = pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


class PostgresServer:
    """A fresh cluster on a free port, which a test may stop and start again (same port,
    same data): ``url`` is the admin URL (``postgresql://postgres@127.0.0.1:port``).

    With ``password``, connections over TCP must give it (SCRAM), as on a real server."""

    def __init__(self, user: str = "postgres", password: str | None = None) -> None:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        initdb = require(
            "PostgreSQL's initdb",
            str(candidates[-1]) if candidates else shutil.which("initdb"),
            "apt-get install postgresql",
        )
        self._bin = Path(initdb).parent
        self._prefix, uid, gid = _as_postgres_user()
        self.root = Path(tempfile.mkdtemp(prefix="fusionflow-pg-"))
        if uid is not None:
            os.chown(self.root, uid, gid)  # type: ignore[arg-type]
        self._data = self.root / "data"
        auth = ["--auth=trust"]
        if password is not None:
            secret = self.root / "password"
            secret.write_text(password)
            if uid is not None:
                os.chown(secret, uid, gid)  # type: ignore[arg-type]
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={secret}"]
        subprocess.run(
            [*self._prefix, initdb, "-D", self._data, "-U", user, *auth, "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        self.port = free_port()
        credentials = user if password is None else f"{user}:{password}"
        self.url = f"postgresql://{credentials}@127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                *self._prefix,
                self._bin / "postgres",
                "-D",
                self._data,
                "-p",
                str(self.port),
                "-k",
                self.root,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self._process)
        _wait_until_accepting(f"{self.url}/postgres")

    def stop(self, mode: str = "fast") -> None:
        """Shut down (``fast``: sessions cut off, clean) with pg_ctl, which signals the
        server itself rather than the ``runuser`` in front of it."""
        if self._process is not None and self._process.poll() is None:
            pg_ctl = [*self._prefix, self._bin / "pg_ctl", "-D", self._data]
            subprocess.run([*pg_ctl, "stop", "-m", mode, "-w"], check=True, capture_output=True)
            self._process.wait(30)
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(user: str = "postgres", password: str | None = None) -> Iterator[str]:
    """A fresh cluster for one block; yields its admin URL (see ``PostgresServer``)."""
    server = PostgresServer(user, password)
    try:
        server.start()
        yield server.url
    finally:
        server.close()


def _wait_until_accepting(url: str, timeout: float = 30.0) -> None:
    """The port opens before recovery ends ("the database system is starting up")."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class RedisServer:
    """A fresh Redis keeping nothing on disk, on a free port, which a test may stop and
    start again on that port (empty, as such a Redis comes back). ``url`` leaves out the
    password, if one is required."""

    def __init__(self, password: str | None = None) -> None:
        self._binary = require(
            "redis-server", shutil.which("redis-server"), "apt-get install redis-server"
        )
        self._auth = ["--requirepass", password] if password is not None else []
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *self._auth,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None


@contextlib.contextmanager
def redis_server(password: str | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A fresh Redis for one block; yields its URL and process (see ``RedisServer``)."""
    server = RedisServer(password)
    try:
        server.start()
        assert server.process is not None
        yield server.url, server.process
    finally:
        server.stop()


# GitHub's CI gives the tests PostgreSQL and Redis as service containers (ci.yml); elsewhere,
# and for tests that stop a server on purpose, they start their own from the binaries.
POSTGRES_URL_ENV = "FUSIONFLOW_TEST_POSTGRES_URL"
REDIS_URL_ENV = "FUSIONFLOW_TEST_REDIS_URL"


@contextlib.contextmanager
def a_postgres() -> Iterator[str]:
    """An admin URL of a PostgreSQL for the tests: the CI service's or a fresh cluster's."""
    if url := os.environ.get(POSTGRES_URL_ENV):
        yield url.rstrip("/")
        return
    with postgres_server() as url:
        yield url


@contextlib.contextmanager
def a_redis() -> Iterator[str]:
    """A Redis URL for one test: the CI service's (emptied first) or a fresh server's."""
    if url := os.environ.get(REDIS_URL_ENV):
        import redis

        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
        yield url
        return
    with redis_server() as (url, _):
        yield url


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """An S3-compatible server (moto's, from PyPI) on loopback; yields its endpoint URL."""
    binary = require(
        "moto_server",
        shutil.which("moto_server", path=str(Path(sys.executable).parent)),
        "pip install 'moto[server]'",
    )
    port = free_port()
    server = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


class NginxServer:
    """nginx (Debian's) on a free loopback port, running ``site``, an http-context file
    such as deploy/nginx/fusionflow.conf, with the file's one upstream server line made
    one line per port of ``upstreams`` and its port this server's. Its access log says
    which upstreams each request went to (``upstreams_tried``); its files are in ``root``."""

    def __init__(self, site: Path, upstreams: list[int], root: Path) -> None:
        import re

        found = shutil.which("nginx") or next(
            (str(p) for p in [Path("/usr/sbin/nginx")] if p.exists()), None
        )
        self._binary = require("nginx", found, "apt-get install nginx")
        self.port = free_port()
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        text, servers = re.subn(
            r"(?m)^(\s*)server api:8000([^;]*);$",
            lambda m: "\n".join(f"{m[1]}server 127.0.0.1:{port}{m[2]};" for port in upstreams),
            site.read_text(),
        )
        text, listens = re.subn(r"listen 8080;", f"listen 127.0.0.1:{self.port};", text)
        assert (servers, listens) == (1, 1), "the site's upstream or listen line moved"
        (self.root / "site.conf").write_text(text)
        temp = " ".join(
            f"{kind}_temp_path {self.root / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (self.root / "nginx.conf").write_text(
            # As root, workers would run as nobody, who may not enter the test's folders.
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"daemon off;\nworker_processes 1;\npid {self.root / 'nginx.pid'};\n"
            + f"error_log {self.root / 'error.log'} notice;\n"
            + "events { worker_connections 4096; }\n"
            + "http {\n"
            + "  log_format tried '$status $request_method $uri $upstream_addr';\n"
            + f"  access_log {self.root / 'access.log'} tried;\n"
            + f"  {temp}\n"
            + f"  include {self.root / 'site.conf'};\n"
            + "}\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NginxServer:
        self._process = subprocess.Popen(
            [
                self._binary,
                "-p",
                str(self.root),
                "-e",
                str(self.root / "error.log"),
                "-c",
                str(self.root / "nginx.conf"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, process=self._process)
        return self

    def __exit__(self, *_: object) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.wait(30)

    def upstreams_tried(self) -> list[list[str]]:
        """Per request logged so far, the upstream addresses nginx tried, in order."""
        lines = (self.root / "access.log").read_text().splitlines()
        return [line.split(" ", 3)[3].split(", ") for line in lines if line.count(" ") >= 3]


class FaultyProxy:
    """An HTTP proxy in front of a server that answers 503 instead of forwarding
    whenever ``should_fail(method, path)`` says so, and waits ``delay_s`` before each
    answer: storage trouble on demand."""

    def __init__(self, target: str, should_fail: Callable[[str, str], bool]) -> None:
        import http.client
        import http.server
        import threading
        from urllib.parse import urlparse

        parsed = urlparse(target)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.failures = 0
        self.delay_s = 0.0

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(proxy.delay_s)
                if should_fail(self.command, self.path):
                    proxy.failures += 1
                    error = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                upstream = http.client.HTTPConnection(host, port, timeout=30)
                upstream.request(self.command, self.path, body, dict(self.headers))
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class WebhookReceiver:
    """A real HTTP server on loopback that records the JSON POSTed to it; the first
    ``failures`` requests are answered 500. ``trickle``: the answer comes a byte every
    half second, for a minute (a receiver that never quite times out)."""

    def __init__(self, failures: int = 0, trickle: bool = False) -> None:
        import http.server
        import json
        import threading
        import time

        self.bodies: list[dict] = []
        self.failures = failures
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if trickle:
                    receiver.bodies.append(json.loads(body))
                    with contextlib.suppress(OSError):
                        for byte in b"HTTP/1.1 200 OK\r\n" * 8:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.5)
                    return
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500)
                else:
                    receiver.bodies.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, list]]:
    """A real SMTP server (aiosmtpd) on loopback; yields its port and the messages
    received, as ``email.message.Message`` objects."""
    import email
    from email import policy

    from aiosmtpd.controller import Controller

    received: list = []

    class Handler:
        async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
            self, server: object, session: object, envelope: Any
        ) -> str:
            received.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()
