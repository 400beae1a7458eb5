"""Jobs: submit, list, watch (Server-Sent Events), cancel, retry, delete, and results.

Users see only their own jobs (another user's job is a 404, as if it did not exist);
admins see and manage all. Nothing here processes data: executors do.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from fusionflow import storage
from fusionflow.access import check_inputs
from fusionflow.accounts import UserInfo
from fusionflow.api.schemas import Artifact, DownloadLink, LinkRequest, NewJob, Timestamp
from fusionflow.api.services import (
    API_PREFIX,
    MAX_ID,
    ArtifactReader,
    CurrentUser,
    Services,
    ServicesDep,
    visible_to,
)
from fusionflow.jobs import ArtifactInfo, ArtifactNotFound, JobInfo, JobPage, JobQuery
from fusionflow.jobs.views import InputsPreview, SortKey

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])

# How long a download link works.
LINK_TTL_S = 600

# How long an event stream may stay silent (how often it looks: api/watch.py's interval).
KEEPALIVE_S = 15.0


@router.post("", response_model=JobInfo, status_code=status.HTTP_202_ACCEPTED)
def submit(body: NewJob, user: CurrentUser, services: ServicesDep) -> JobInfo:
    """Start a job. It runs on the executors; follow it with ``GET /jobs/{id}`` or
    ``/events``. Parameters are checked against the pipeline's schema (422 naming the
    field); inputs the caller may not read are refused (403)."""
    inputs = _readable(services, user, body.inputs)
    notify = body.notify.model_dump(exclude_unset=True) if body.notify else None
    return services.jobs.submit(
        body.pipeline, inputs, body.params, owner_id=user.id, name=body.name, notify=notify
    )


@router.post("/preview", response_model=InputsPreview)
def preview(body: NewJob, user: CurrentUser, services: ServicesDep) -> InputsPreview:
    """What the job would read, without submitting it: files, bytes, paths left out, and
    the first files (for a "412 files, 1.3 GB" line before submit). Lists the inputs now."""
    inputs = _readable(services, user, body.inputs)
    return services.jobs.preview(body.pipeline, inputs, body.params)


@router.get("", response_model=JobPage)
def list_jobs(
    user: CurrentUser,
    services: ServicesDep,
    status_: Annotated[list[str] | None, Query(alias="status")] = None,
    pipeline: Annotated[list[str] | None, Query()] = None,
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
    q: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[^\x00]*$", description="Part of a name or id."),
    ] = None,
    owner: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Admins: only this user's jobs.")
    ] = None,
    sort: SortKey = "-created_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> JobPage:
    """The caller's jobs (an admin's: everyone's), newest first unless ``sort`` says
    otherwise; ``status`` and ``pipeline`` may be repeated."""
    scope = visible_to(user)
    query = JobQuery(
        owner_id=owner if scope is None else scope,
        status=status_ or [],
        pipeline=pipeline or [],
        created_after=created_after,
        created_before=created_before,
        text=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return services.jobs.find(query)


@router.get("/{job_id}", response_model=JobInfo)
def get_job(job_id: str, user: CurrentUser, services: ServicesDep) -> JobInfo:
    """Status, progress %, files and bytes done, throughput, ETA, attempts, error."""
    return services.jobs.get(job_id, visible_to=visible_to(user))


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An event stream."}},
)
async def job_events(
    job_id: str, request: Request, user: CurrentUser, services: ServicesDep
) -> StreamingResponse:
    """Server-Sent Events: ``status`` (first, and whenever the status changes) and
    ``progress`` events carry the job as JSON; the stream ends after the job finishes."""
    scope = visible_to(user)
    first = await run_in_threadpool(services.jobs.get, job_id, visible_to=scope)
    return StreamingResponse(
        _events(services, job_id, first, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    services: Services, job_id: str, info: JobInfo, request: Request
) -> AsyncIterator[str]:
    last_status, last_progress = None, None
    last_sent = time.monotonic()
    async with services.watch.watching(job_id):
        while True:
            progress = (info.progress, info.files_done, info.bytes_done, info.shards_done)
            if info.status != last_status or progress != last_progress:
                kind = "status" if info.status != last_status else "progress"
                yield f"event: {kind}\ndata: {info.model_dump_json()}\n\n"
                last_status, last_progress, last_sent = info.status, progress, time.monotonic()
            elif time.monotonic() - last_sent > KEEPALIVE_S:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            if info.finished or services.stopping.is_set() or await request.is_disconnected():
                return  # at shutdown: the client reconnects, to another process if any
            latest = await services.watch.next(job_id, info, timeout_s=KEEPALIVE_S)
            if latest is None:
                yield f"event: deleted\ndata: {json.dumps({'id': job_id})}\n\n"
                return
            info = latest


@router.post("/{job_id}/cancel", response_model=JobInfo)
def cancel(job_id: str, user: CurrentUser, services: ServicesDep) -> JobInfo:
    """Stop a pending or running job (409 if it has finished)."""
    return services.jobs.cancel(job_id, visible_to=visible_to(user))


@router.post("/{job_id}/retry", response_model=JobInfo, status_code=status.HTTP_202_ACCEPTED)
def retry(job_id: str, user: CurrentUser, services: ServicesDep) -> JobInfo:
    """Run a failed or cancelled job again, keeping its completed shards (409 otherwise).
    It reads again: its inputs must be readable by the caller now (403 otherwise)."""
    found = services.jobs.get(job_id, visible_to=visible_to(user))
    _readable(services, user, found.inputs)
    return services.jobs.retry(job_id, visible_to=visible_to(user))


@router.delete("/{job_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(job_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Cancel the job if it runs, and remove it with its outputs."""
    services.jobs.delete(job_id, visible_to=visible_to(user))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{job_id}/summary", response_model=dict[str, Any])
def summary(job_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The job's ``summary.json``: written when it completes (409 before)."""
    info = services.jobs.get(job_id, visible_to=visible_to(user))
    found = services.jobs.summary(job_id, visible_to=visible_to(user))
    if found is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"job {job_id} has no summary ({info.status})"
        )
    return found


@router.get("/{job_id}/artifacts", response_model=list[Artifact])
def artifacts(job_id: str, user: CurrentUser, services: ServicesDep) -> list[Artifact]:
    """The job's output files (listed once it completes)."""
    found = services.jobs.artifacts(job_id, visible_to=visible_to(user))
    return [_artifact(job_id, a) for a in found]


@router.get(
    "/{job_id}/artifacts/{name:path}",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
        206: {"description": "The requested byte range."},
        307: {"description": "S3 storage: a presigned download link."},
    },
)
def download(job_id: str, name: str, user: ArtifactReader, services: ServicesDep) -> Response:
    """The file, streamed (``Range`` requests supported); from S3 storage a redirect to
    a presigned link, so the bytes do not pass through the API."""
    found = services.jobs.artifact(job_id, name, visible_to=visible_to(user))
    if storage.is_s3(found.url):
        link = storage.presign(found.url, expires_s=3600)
        assert link is not None
        return RedirectResponse(link, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    path = storage.local_path(found.url)
    if not path.is_file():  # removed from storage behind FusionFlow's back
        raise ArtifactNotFound(f"{name} of job {job_id} is gone from storage")
    return FileResponse(
        path,
        media_type=found.content_type,
        filename=name.rsplit("/", 1)[-1],
    )


@router.post("/{job_id}/links", response_model=DownloadLink)
def link(job_id: str, body: LinkRequest, user: CurrentUser, services: ServicesDep) -> DownloadLink:
    """A link that downloads one output without the bearer token, for a short while (a
    browser's plain link cannot send the header; the file then streams, with Range)."""
    found = services.jobs.artifact(job_id, body.name, visible_to=visible_to(user))
    token = services.tokens.issue_link(
        user.id, user.created_at, f"{job_id}/{found.name}", LINK_TTL_S, user.credential_version
    )
    url = f"{API_PREFIX}/jobs/{job_id}/artifacts/{quote(found.name)}?link={token}"
    return DownloadLink(url=url, expires_in=LINK_TTL_S)


def _readable(services: Services, user: UserInfo, inputs: list[str]) -> list[str]:
    """The inputs as the job will read them, if the caller may read them all (403)."""
    admin = user.role == "admin"
    granted = [] if admin else services.grants.locations_for(user.id)
    return check_inputs(services.settings, inputs, user_id=user.id, admin=admin, granted=granted)


def _artifact(job_id: str, found: ArtifactInfo) -> Artifact:
    return Artifact(
        name=found.name,
        size=found.size,
        content_type=found.content_type,
        created_at=found.created_at,
        download_url=f"{API_PREFIX}/jobs/{job_id}/artifacts/{quote(found.name)}",
    )
