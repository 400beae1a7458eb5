"""Commands that run FusionFlow's services: ``db upgrade``, ``worker``."""

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


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
