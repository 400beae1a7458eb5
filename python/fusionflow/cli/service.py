"""Commands that run FusionFlow's services: ``serve``, ``ui``, ``worker``, ``db upgrade``,
and ``probe``, their health check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click


@click.group()
def db() -> None:
    """The metadata database (SQLite in the data dir, or DATABASE_URL)."""


@db.command()
def upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    from fusionflow.config import get_settings
    from fusionflow.db import migrate

    settings = get_settings()
    migrate.upgrade_server(settings)
    url = settings.database
    click.echo(f"database at revision {migrate.current(url)}: {_redact(url)}")


@click.command()
@click.option(
    "-c", "--concurrency", default=1, show_default=True, help="Shards run at once (threads)."
)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option(
    "--metrics-port",
    type=int,
    help="Serve Prometheus metrics on this port (job and shard metrics).",
)
def worker(concurrency: int, loglevel: str, metrics_port: int | None) -> None:
    """Run a Celery worker for jobs (needs REDIS_URL, and DATABASE_URL shared with serve)."""
    from fusionflow.config import get_settings
    from fusionflow.db import migrate
    from fusionflow.executors.celery import run_worker

    settings = get_settings()
    migrate.upgrade_server(settings)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    run_worker(settings, concurrency=concurrency, loglevel=loglevel)


@click.command()
@click.argument("url", required=False)
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for an answer.")
def probe(url: str | None, timeout: float) -> None:
    """Exit 0 if URL answers 2xx (a container's health check).

    Without URL: the liveness path of this host's `fusionflow serve` (FUSIONFLOW_PORT, HTTPS
    when a certificate is set). Workers and the UI are probed by URL (`--metrics-port`,
    Streamlit's /_stcore/health).
    """
    import ssl
    import urllib.error
    import urllib.request

    if url is None:
        from fusionflow.config import get_settings

        settings = get_settings()
        scheme = "https" if settings.ssl_certfile else "http"
        url = f"{scheme}://127.0.0.1:{settings.port}/healthz"
    # A health check asks its own process on loopback: a self-signed certificate is fine.
    context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (OSError, ValueError) as e:
        raise click.ClickException(f"{url}: {getattr(e, 'reason', e)}") from None
    if not 200 <= status < 300:
        raise click.ClickException(f"{url}: HTTP {status}")


SHUTDOWN_GRACE_S = 5


@click.command()
@click.option("--host", help="Address to listen on  [default: FUSIONFLOW_HOST or 127.0.0.1]")
@click.option("--port", type=int, help="Port  [default: FUSIONFLOW_PORT or 8000]")
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve HTTPS with this certificate (PEM)  [default: FUSIONFLOW_SSL_CERTFILE]",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False),
    help="The certificate's private key (PEM)  [default: FUSIONFLOW_SSL_KEYFILE]",
)
@click.option("--log-level", default="info", show_default=True)
@click.option("--ui", "with_ui", is_flag=True, help="Also run the web UI (see `fusionflow ui`).")
@click.option("--ui-port", default=8501, show_default=True, help="The web UI's port.")
def serve(
    host: str | None,
    port: int | None,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    log_level: str,
    with_ui: bool,
    ui_port: int,
) -> None:
    """Run the REST API, with its docs at /docs.

    Jobs run in this process unless REDIS_URL is set: then on `fusionflow worker`s.
    """
    from fusionflow.accounts import Accounts
    from fusionflow.api import create_app, server
    from fusionflow.api.app import ensure_first_admin
    from fusionflow.config import get_settings
    from fusionflow.db import Database, migrate

    settings = get_settings()
    certfile = ssl_certfile or settings.ssl_certfile
    keyfile = ssl_keyfile or settings.ssl_keyfile
    if bool(certfile) != bool(keyfile):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together")
    # Here rather than only in the app's start-up, so that a bad database URL or admin
    # password is one line at the command line, not a server traceback.
    migrate.upgrade_server(settings)
    db = Database(settings.database)
    try:
        ensure_first_admin(settings, Accounts(db))
    finally:
        db.dispose()
    bind = host or settings.host
    scheme = "https" if certfile else "http"
    local = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
    ui_process = None
    if with_ui:
        api_url = f"{scheme}://{local}:{port or settings.port}"
        ui_process = subprocess.Popen(
            _ui_command(api_url, bind, ui_port),
            env=_ui_env(api_url),
            preexec_fn=_die_with_parent,
        )
    try:
        server.run(
            create_app(settings),
            settings.shutdown_drain_s,
            host=bind,
            port=port or settings.port,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            log_level=log_level.lower(),
            # On SIGTERM, wait at most this long for requests in flight (uploads, downloads,
            # event streams) before closing them; uvicorn's default waits without limit.
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
    finally:
        if ui_process is not None:
            ui_process.terminate()
            ui_process.wait(10)


@click.command()
@click.option(
    "--api-url", help="The API to talk to  [default: FUSIONFLOW_API_URL or http://127.0.0.1:8000]"
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8501, show_default=True)
def ui(api_url: str | None, host: str, port: int) -> None:
    """Run the web UI (Streamlit). It talks to a running `fusionflow serve` over HTTP."""
    from fusionflow.ui import API_URL_ENV, DEFAULT_API_URL

    url = api_url or os.environ.get(API_URL_ENV, DEFAULT_API_URL)
    command = _ui_command(url, host, port)
    sys.exit(subprocess.call(command, env=_ui_env(url)))


def _ui_command(api_url: str, host: str, port: int) -> list[str]:
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "the web UI needs Streamlit: pip install 'fusionflow[ui]'"
        ) from None
    import fusionflow.ui

    app = Path(fusionflow.ui.__file__).with_name("app.py")
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def _die_with_parent() -> None:
    """In the UI's child process: receive SIGTERM when serve exits, however it exits
    (uvicorn ends by re-raising the signal it stopped on, so no `finally` runs)."""
    if sys.platform == "linux":
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1  # noqa: N806 (the kernel's name)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _ui_env(api_url: str) -> dict[str, str]:
    from fusionflow.ui import API_URL_ENV

    return {**os.environ, API_URL_ENV: api_url}


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
