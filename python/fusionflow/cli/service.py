"""Commands that run FusionFlow's services: ``serve``, ``worker``, ``db upgrade``."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """The metadata database (SQLite in the data dir, or DATABASE_URL)."""


@db.command()
def upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    from fusionflow.config import get_settings
    from fusionflow.db import migrate

    url = get_settings().database
    migrate.upgrade(url)
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
    migrate.upgrade(settings.database)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    run_worker(settings, concurrency=concurrency, loglevel=loglevel)


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
def serve(
    host: str | None,
    port: int | None,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    log_level: str,
) -> None:
    """Run the REST API, with its docs at /docs.

    Jobs run in this process unless REDIS_URL is set: then on `fusionflow worker`s.
    """
    import uvicorn

    from fusionflow.accounts import Accounts
    from fusionflow.api import create_app
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
    migrate.upgrade(settings.database)
    db = Database(settings.database)
    try:
        ensure_first_admin(settings, Accounts(db))
    finally:
        db.dispose()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        log_level=log_level.lower(),
        # On SIGTERM, wait at most this long for requests in flight (uploads, downloads,
        # event streams) before closing them; uvicorn's default waits without limit.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
