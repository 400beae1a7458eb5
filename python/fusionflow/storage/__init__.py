"""Where uploads, shard partials and job outputs live, named by URL.

One scheme everywhere: plain paths and ``file://`` URLs are local; ``s3://bucket/prefix``
names S3 or MinIO. Job outputs go to ``<storage>/results/<job>/``, shard partials to
``<storage>/work/<job>/<shard>/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["join", "local_path", "remove_tree"]


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def local_path(url: str) -> Path:
    """The local path a ``file://`` URL or plain path names."""
    if is_s3(url):
        raise NotImplementedError(f"{url}: S3 storage is not supported by this build yet")
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


def remove_tree(url: str) -> None:
    """Delete everything under ``url``; nothing there is not an error."""
    shutil.rmtree(local_path(url), ignore_errors=True)
