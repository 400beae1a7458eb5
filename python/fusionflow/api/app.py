"""The FastAPI application: routers, error mapping, metrics, and the services it runs on."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from fusionflow import __version__, storage
from fusionflow.access import Forbidden
from fusionflow.accounts import Accounts, Overloaded, TokenNotFound, UserNotFound
from fusionflow.api.limits import BodyLimit
from fusionflow.api.metrics import RequestMetrics
from fusionflow.api.routes import (
    auth,
    grants,
    health,
    jobs,
    notifications,
    pipelines,
    uploads,
    users,
)
from fusionflow.api.schemas import Problem
from fusionflow.api.security import AccessTokens, signing_key
from fusionflow.api.services import API_PREFIX, Services
from fusionflow.api.throttle import LoginThrottle
from fusionflow.api.watch import JobWatch
from fusionflow.config import Settings, get_settings
from fusionflow.errors import InvalidParameter, TransientError, one_line
from fusionflow.executors import open_executor
from fusionflow.grants import GrantNotFound, Grants, GroupExists, GroupNotFound
from fusionflow.jobs import ArtifactNotFound, JobConflict, JobNotFound
from fusionflow.notifications import NotificationNotFound, Notifications
from fusionflow.observability import redact_access_log
from fusionflow.uploads import UploadNotFound, Uploads, UploadTooLarge

log = logging.getLogger(__name__)

# JSON bodies are small; a larger one is refused (413) before it is read into memory.
# Uploads stream, and have their own limit per file (FUSIONFLOW_UPLOAD_MAX_BYTES).
MAX_BODY_BYTES = 16 << 20

# How often the jobs that event streams follow are read (once for all the streams).
EVENTS_POLL_S = 0.5

# Domain errors → HTTP statuses. Subclasses come first: the most specific class wins.
_STATUS: list[tuple[type[Exception], int]] = [
    (UploadTooLarge, status.HTTP_413_CONTENT_TOO_LARGE),
    (JobConflict, status.HTTP_409_CONFLICT),
    (GroupExists, status.HTTP_409_CONFLICT),
    (InvalidParameter, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (JobNotFound, status.HTTP_404_NOT_FOUND),
    (ArtifactNotFound, status.HTTP_404_NOT_FOUND),
    (UserNotFound, status.HTTP_404_NOT_FOUND),
    (TokenNotFound, status.HTTP_404_NOT_FOUND),
    (NotificationNotFound, status.HTTP_404_NOT_FOUND),
    (UploadNotFound, status.HTTP_404_NOT_FOUND),
    (GroupNotFound, status.HTTP_404_NOT_FOUND),
    (GrantNotFound, status.HTTP_404_NOT_FOUND),
    (FileNotFoundError, status.HTTP_404_NOT_FOUND),
    (TransientError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (Overloaded, status.HTTP_503_SERVICE_UNAVAILABLE),
]

_ERRORS = {
    code: {"model": Problem, "description": text}
    for code, text in [
        (400, "A malformed request body."),
        (401, "Not authenticated."),
        (403, "Not allowed."),
        (404, "Not found, or not the caller's."),
        (409, "The current state does not allow this."),
        (413, "The request body is too large."),
        (422, "Invalid input; the detail names the field."),
    ]
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API on the executor the settings call for (local, or Celery with REDIS_URL).
    The executor, database and first admin are set up when the app starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redact_access_log()  # here: uvicorn has configured its loggers by now
        with running_services(settings) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="FusionFlow",
        version=__version__,
        description="Heavy processing jobs over many files: submit, watch, download.",
        lifespan=lifespan,
        responses=_ERRORS,  # type: ignore[arg-type]
    )
    for router in (
        health.router,
        auth.router,
        users.router,
        grants.router,
        uploads.router,
        pipelines.router,
        jobs.router,
        notifications.router,
    ):
        app.include_router(router)
    for error, code in _STATUS:
        app.add_exception_handler(error, _responder(code))
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, exempt=(f"{API_PREFIX}/uploads",))
    app.add_middleware(RequestMetrics)
    return app


@contextmanager
def running_services(settings: Settings) -> Iterator[Services]:
    """Start the executor, make sure an admin exists, and hand out the services."""
    if not storage.is_s3(settings.storage):
        Path(settings.storage).mkdir(parents=True, exist_ok=True)
    with open_executor(settings) as executor:
        jobs = executor.jobs
        accounts = Accounts(jobs.db, settings.hashes_at_once)
        ensure_first_admin(settings, accounts)
        uploads = Uploads(settings)
        if removed := uploads.remove_stale_partials():
            log.info("removed %d half-written uploads left by an earlier crash", removed)
        yield Services(
            settings=settings,
            db=jobs.db,
            jobs=jobs,
            accounts=accounts,
            notifications=Notifications(jobs.db),
            uploads=uploads,
            grants=Grants(jobs.db, settings),
            tokens=AccessTokens(signing_key(settings), settings.token_ttl_s),
            throttle=LoginThrottle(
                settings.login_max_failures,
                settings.login_window_s,
                settings.login_name_max_failures,
                redis_url=settings.broker,
            ),
            watch=JobWatch(jobs, EVENTS_POLL_S),
        )


def ensure_first_admin(settings: Settings, accounts: Accounts) -> None:
    """On a database without users, create ``admin`` (``FUSIONFLOW_ADMIN_PASSWORD``, or a
    generated password printed once: only its hash is kept)."""
    generated = accounts.ensure_admin(settings.admin_password)
    if generated:
        print(
            f"fusionflow: created user 'admin' with password {generated} "
            "(change it, or set FUSIONFLOW_ADMIN_PASSWORD before the first start)",
            file=sys.stderr,
            flush=True,
        )


def _responder(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def respond(request: Request, error: Exception) -> JSONResponse:
        # An error that knows when to come back says so (Overloaded).
        wait = getattr(error, "retry_after_s", None)
        headers = {"Retry-After": str(wait)} if wait is not None else None
        return JSONResponse({"detail": one_line(error)}, status_code=code, headers=headers)

    return respond


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "internal server error"}, status_code=500)
