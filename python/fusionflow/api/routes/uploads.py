"""Uploads: files streamed into storage under the caller's prefix, for use as job inputs.

The multipart body is parsed as it arrives and each file is written as its bytes come:
nothing is held whole in memory or spooled twice, and an over-size file is refused
while it is being sent.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request, Response, status
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from fusionflow.api.schemas import Problem
from fusionflow.api.services import API_PREFIX, CurrentUser, ServicesDep
from fusionflow.uploads import UploadBatch, UploadItem

router = APIRouter(prefix=f"{API_PREFIX}/uploads", tags=["uploads"])

MAX_FILES = 1000

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    response_model=list[UploadItem],
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_BODY,
    responses={
        413: {"model": Problem, "description": "A file is larger than the limit."},
        415: {"model": Problem, "description": "The body is not multipart/form-data."},
    },
)
async def upload(request: Request, user: CurrentUser, services: ServicesDep) -> list[UploadItem]:
    """Store one or many files (multipart field ``files``; a file name may carry
    folders, which are kept). Each item's ``url`` can be given to ``POST /jobs`` as an
    input, and so can the batch's folder (the URL without the file name)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "expected multipart/form-data with `files`"
        )
    batch = UploadBatch(services.settings, user.id)
    try:
        await _receive(request, boundary, batch)
    except BaseException:
        with anyio.CancelScope(shield=True):  # a client gone away still gets cleaned up
            await run_in_threadpool(batch.abort)
        raise
    batch.close()
    if not batch.items:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no files in field `files`")
    return batch.items


async def _receive(request: Request, boundary: bytes, batch: UploadBatch) -> None:
    events: list[tuple[str, bytes]] = []
    headers: dict[bytes, bytes] = {}
    field = b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        nonlocal field
        field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        headers[field.lower()] = headers.get(field.lower(), b"") + data[start:end]

    def on_header_end() -> None:
        nonlocal field
        field = b""

    def on_headers_finished() -> None:
        events.append(("begin", headers.get(b"content-disposition", b"")))
        headers.clear()

    callbacks = {
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": lambda data, start, end: events.append(("data", data[start:end])),
        "on_part_end": lambda: events.append(("end", b"")),
    }
    in_file = False
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        async for chunk in request.stream():
            parser.write(chunk)
            for kind, data in events:
                if kind == "begin":
                    name, filename = _disposition(data)
                    in_file = name == "files" and bool(filename)
                    if in_file:
                        if len(batch.items) >= MAX_FILES:
                            raise HTTPException(
                                status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"at most {MAX_FILES} files per upload",
                            )
                        batch.begin(filename or "")
                elif kind == "data" and in_file:
                    batch.write(data)
                elif kind == "end" and in_file:
                    await run_in_threadpool(batch.end)
                    in_file = False
            events.clear()
        parser.finalize()
    except FormParserError as e:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"malformed multipart body: {e}") from None
    except ClientDisconnect:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the upload was interrupted") from None
    if in_file:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the multipart body ended early")


def _disposition(value: bytes) -> tuple[str, str | None]:
    _, options = parse_options_header(value)
    name = options.get(b"name", b"").decode("utf-8", "replace")
    filename = options.get(b"filename")
    return name, None if filename is None else filename.decode("utf-8", "replace")


@router.get("", response_model=list[UploadItem])
def list_uploads(user: CurrentUser, services: ServicesDep) -> list[UploadItem]:
    """The caller's uploaded files."""
    return services.uploads.list(user.id)


@router.delete("/{batch}", status_code=status.HTTP_204_NO_CONTENT)
def delete_upload(batch: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Delete one upload (every file of the request that made it)."""
    services.uploads.delete(user.id, batch)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
