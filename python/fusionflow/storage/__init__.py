"""Where uploads, shard partials and job outputs live, named by URL.

One scheme everywhere: plain paths and ``file://`` URLs are local; ``s3://bucket/prefix``
names S3 or MinIO (``S3_ENDPOINT_URL``). The bytes move in the Rust core
(``fusionflow._core.storage_*``); every write to S3 asks for server-side encryption.
Job outputs go to ``<storage>/results/<job>/``, shard partials to
``<storage>/work/<job>/<shard>/``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from fusionflow import _core
from fusionflow.errors import InvalidParameter

if TYPE_CHECKING:
    from fusionflow.config import Settings

__all__ = [
    "canonical_s3",
    "configure",
    "get_file",
    "is_s3",
    "join",
    "list_files",
    "local_path",
    "presign",
    "put_file",
    "readable_dir",
    "remove_tree",
    "uploads_url",
    "writable_dir",
]


def uploads_url(settings: Settings) -> str:
    """Where users' uploads are kept (``fusionflow.uploads`` says how)."""
    return join(settings.storage, "uploads")


def configure(settings: Settings) -> None:
    """Tell the core how to reach S3 (endpoint, region, credentials, encryption), and
    where the ``upload://`` names of users' uploads point."""
    uploads = uploads_url(settings)
    _core.storage_name_uploads(uploads if is_s3(uploads) else str(local_path(uploads)))
    _core.storage_configure(
        endpoint=settings.s3_endpoint_url,
        region=settings.aws_region,
        access_key_id=settings.aws_access_key_id,
        secret_access_key=settings.aws_secret_access_key,
        session_token=settings.aws_session_token,
        sse_kms_key_id=settings.s3_sse_kms_key_id if settings.s3_sse == "aws:kms" else None,
        max_retries=settings.s3_max_retries,
    )


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def canonical_s3(url: str) -> str:
    """``s3://bucket/key`` without empty segments; ``InvalidParameter`` for ``.``/``..``."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    segments = [s for s in key.split("/") if s]
    if not bucket or any(s in (".", "..") for s in segments):
        raise InvalidParameter(f"invalid parameter `inputs`: {url} is not a valid s3:// URL")
    return "/".join([f"s3://{bucket}", *segments])


def local_path(url: str) -> Path:
    """The local path a ``file://`` URL or plain path names."""
    if is_s3(url):
        raise ValueError(f"{url} is not a local path")
    if url.startswith("file://"):
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"{url}: file URLs must name a local path")
        return Path(unquote(parsed.path))
    return Path(url)


def join(base: str, *parts: str) -> str:
    """``base`` with ``parts`` appended, as a URL or path of the same kind."""
    if is_s3(base) or base.startswith("file://"):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(base).joinpath(*parts))


def list_files(url: str) -> list[tuple[str, int]]:
    """``(url, size)`` of every file or object under ``url``, sorted; all pages."""
    if is_s3(url):
        return _core.storage_list(url)
    root = local_path(url)
    if root.is_file():
        return [(str(root), root.stat().st_size)]
    return sorted((str(p), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def put_file(path: Path, url: str) -> int:
    """Store the local file ``path`` at ``url``; returns its size."""
    if is_s3(url):
        return _core.storage_put_file(path, url)
    target = local_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return target.stat().st_size


def get_file(url: str, path: Path) -> int:
    """Copy the file at ``url`` to the local ``path``; returns its size."""
    if is_s3(url):
        return _core.storage_get_file(url, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(local_path(url), path)
    return path.stat().st_size


def presign(url: str, expires_s: int = 3600) -> str | None:
    """A link to download ``url`` without credentials (S3 only; None for local files)."""
    return _core.storage_presign(url, expires_s) if is_s3(url) else None


def remove_tree(url: str) -> None:
    """Delete everything under ``url``; nothing there is not an error."""
    if is_s3(url):
        _core.storage_delete_prefix(url)
    else:
        shutil.rmtree(local_path(url), ignore_errors=True)


@contextmanager
def writable_dir(url: str) -> Iterator[Path]:
    """A local directory whose files end up under ``url``: the directory itself for
    local storage; for S3 a scratch directory uploaded when the block succeeds."""
    if not is_s3(url):
        path = local_path(url)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="fusionflow-") as scratch:
        root = Path(scratch)
        yield root
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            _core.storage_put_file(path, join(url, path.relative_to(root).as_posix()))


@contextmanager
def readable_dir(url: str) -> Iterator[Path]:
    """The files under ``url`` as a local directory (downloaded first for S3)."""
    if not is_s3(url):
        yield local_path(url)
        return
    prefix = url.rstrip("/") + "/"
    with tempfile.TemporaryDirectory(prefix="fusionflow-") as scratch:
        root = Path(scratch)
        for object_url, _size in _core.storage_list(url):
            _core.storage_get_file(object_url, root / object_url.removeprefix(prefix))
        yield root
