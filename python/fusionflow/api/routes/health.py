"""Probes and metrics, at the root: ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fusionflow import _core, storage
from fusionflow.api.schemas import Check, Readiness
from fusionflow.api.services import Services, ServicesDep
from fusionflow.errors import one_line

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=dict[str, str])
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(services: ServicesDep) -> Response:
    """The database, the broker (with Celery) and storage answer, and the process is not
    shutting down: 200, else 503."""
    checks = {"database": _check(_database, services), "storage": _check(_storage, services)}
    if services.settings.redis_url:
        checks["broker"] = _check(_broker, services)
    if services.stopping.is_set():
        checks["shutdown"] = Check(ok=False, error="shutting down")
    ready = all(c.ok for c in checks.values())
    body = Readiness(ready=ready, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus: requests by route, and the job metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _check(probe: Callable[[Services], None], services: Services) -> Check:
    try:
        probe(services)
    except Exception as e:  # noqa: BLE001 (a probe reports any failure; it never raises)
        return Check(ok=False, error=one_line(e))
    return Check(ok=True)


def _database(services: Services) -> None:
    services.db.ping()


def _storage(services: Services) -> None:
    root = services.settings.storage
    if storage.is_s3(root):
        # One small request; "not found" is an answer too: the store is reachable.
        with contextlib.suppress(FileNotFoundError):
            _core.storage_list(storage.join(root, ".readyz"))
    elif not storage.local_path(root).is_dir():
        raise OSError(f"storage folder {root} is missing")


def _broker(services: Services) -> None:
    import redis

    url = services.settings.broker
    assert url is not None
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
