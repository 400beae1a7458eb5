"""Files users upload, kept under their own prefix: ``<storage>/uploads/<user>/<batch>/<name>``,
and named ``upload://<user>/<batch>/<name>`` wherever users see them (listings, job
inputs, reports): the core resolves these names where it reads, so no user is shown the
server's folders.

Each upload request is a batch with a random id, so two uploads of ``app.log`` never
overwrite each other; inside a batch, repeated names get ``-1``, ``-2``… Names are
sanitized (folders kept, no ``..``, no leading dots). Files are written as they arrive:
into local storage as a hidden ``.<name>.partial`` renamed when complete, or to a scratch
file sent to S3 when it is complete. A file cut off half-way is never listed or read.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from fusionflow import storage
from fusionflow.config import Settings
from fusionflow.errors import InvalidParameter

_UNSAFE = re.compile(r"[^\w.\-]+")
_BATCH = re.compile(r"[0-9a-f]{16}")
_USER = re.compile(r"[0-9]{1,18}")
MAX_DEPTH = 16
# A half-written upload untouched this long belongs to a request that is gone.
STALE_PARTIAL_S = 3600.0
# The temp folders where uploads to S3 arrive before they are sent.
SCRATCH_PREFIX = "fusionflow-upload-"


class UploadItem(BaseModel):
    batch: str
    name: str
    size: int
    url: str


class UploadTooLarge(InvalidParameter):
    """A file is larger than ``FUSIONFLOW_UPLOAD_MAX_BYTES``."""


class UploadNotFound(LookupError):
    """The user has no upload batch with this id."""


SCHEME = "upload://"  # the core's too (crates/fusionflow-core/src/names.rs)


def user_prefix(settings: Settings, user_id: int) -> str:
    """Where a user's uploads live."""
    return storage.join(storage.uploads_url(settings), str(user_id))


def name_of(user_id: int, *parts: str) -> str:
    """The name users see for an upload, a batch (``parts`` fewer) or all their uploads."""
    return SCHEME + "/".join([str(user_id), *parts])


def owner_of_name(name: str) -> tuple[int, str]:
    """The user whose upload ``name`` names, and ``name`` made canonical (no empty
    parts); ``InvalidParameter`` when it is not a well-formed upload name."""
    parts = [part for part in name.removeprefix(SCHEME).split("/") if part]
    if (
        not parts
        or not _USER.fullmatch(parts[0])
        or (len(parts) > 1 and not _BATCH.fullmatch(parts[1]))
        # No dot parts, and no hidden files: uploads being written are hidden.
        or any(part.startswith(".") or "\\" in part for part in parts)
    ):
        raise InvalidParameter(
            f"invalid parameter `inputs`: {name} is not an upload "
            "(upload://<user>/<batch>/<name>, as listed by GET /uploads)"
        )
    return int(parts[0]), name_of(int(parts[0]), *parts[1:])


def name_at(settings: Settings, place: str) -> str | None:
    """The upload name of ``place``, a path or URL in the uploads folder; None outside."""
    root = storage.uploads_url(settings)
    if storage.is_s3(root):
        prefix = storage.canonical_s3(root) + "/"
        place = storage.canonical_s3(place)
        rest = place.removeprefix(prefix) if place.startswith(prefix) else None
    else:
        real_root = Path(os.path.realpath(storage.local_path(root)))
        path = Path(place)
        rest = path.relative_to(real_root).as_posix() if path.is_relative_to(real_root) else None
    if rest is None or rest == ".":
        return None
    return SCHEME + rest


def safe_name(filename: str) -> str:
    """A relative path safe to store: each folder and name reduced to letters, digits,
    ``.``, ``-`` and ``_`` and to 200 bytes; no empty, ``.`` or ``..`` parts; no hidden
    files; at most ``MAX_DEPTH`` parts (the innermost are kept)."""
    parts = re.split(r"[/\\]+", unicodedata.normalize("NFC", filename))
    clean = [_shorten(_UNSAFE.sub("_", part).lstrip(".")) for part in parts]
    kept = [part for part in clean if part.strip("_")][-MAX_DEPTH:]
    return "/".join(kept) or "upload"


def _shorten(part: str, limit: int = 200) -> str:
    """``part`` cut to ``limit`` UTF-8 bytes (file names are limited in bytes)."""
    return part.encode()[:limit].decode(errors="ignore")


class UploadBatch:
    """The files of one upload request, written one after another."""

    def __init__(self, settings: Settings, user_id: int) -> None:
        self.id = secrets.token_hex(8)
        self._user = user_id
        self.url = storage.join(user_prefix(settings, user_id), self.id)
        self.max_bytes = settings.upload_max_bytes
        self.items: list[UploadItem] = []
        self._names: set[str] = set()
        self._s3 = storage.is_s3(self.url)
        self._scratch = tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) if self._s3 else None
        self._file: IO[bytes] | None = None
        self._path: Path | None = None  # where the bytes go while they arrive
        self._name = ""
        self._size = 0

    def begin(self, filename: str) -> None:
        """Start the next file."""
        self._name = self._unique(safe_name(filename))
        if self._scratch is not None:
            self._path = Path(self._scratch.name) / f"{len(self.items)}"
        else:
            final = storage.local_path(storage.join(self.url, self._name))
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise self._clash() from None
            self._path = final.with_name(f".{final.name}.partial")
        self._file = self._path.open("wb")
        self._size = 0

    def write(self, data: bytes) -> None:
        assert self._file is not None
        self._size += len(data)
        if self._size > self.max_bytes:
            raise UploadTooLarge(
                f"invalid parameter `files`: {self._name} is larger than the limit of "
                f"{self.max_bytes} bytes"
            )
        self._file.write(data)

    def end(self) -> UploadItem:
        """Finish the current file (for S3: upload it; this blocks)."""
        assert self._file is not None
        assert self._path is not None
        self._file.close()
        self._file = None
        url = storage.join(self.url, self._name)
        if self._s3:
            storage.put_file(self._path, url)
            self._path.unlink()
        else:
            try:
                self._path.replace(storage.local_path(url))
            except IsADirectoryError:
                raise self._clash() from None
        item = UploadItem(
            batch=self.id,
            name=self._name,
            size=self._size,
            url=name_of(self._user, self.id, self._name),
        )
        self.items.append(item)
        return item

    def abort(self) -> None:
        """Remove everything this batch wrote."""
        self.close()
        storage.remove_tree(self.url)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._scratch is not None:
            self._scratch.cleanup()

    def _clash(self) -> InvalidParameter:
        return InvalidParameter(
            f"invalid parameter `files`: {self._name} is both a file and a folder in this upload"
        )

    def _unique(self, name: str) -> str:
        stem, dot, ext = name.rpartition(".")
        if not dot or "/" in ext:
            stem, dot, ext = name, "", ""
        candidate, n = name, 0
        while candidate in self._names:
            n += 1
            candidate = f"{stem}-{n}{dot}{ext}"
        self._names.add(candidate)
        return candidate


class Uploads:
    """Listing and deleting a user's uploads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def list(self, user_id: int) -> list[UploadItem]:
        prefix = user_prefix(self.settings, user_id)
        try:
            found = storage.list_files(prefix)
        except FileNotFoundError:  # S3: no object under the prefix yet
            return []
        items = []
        for url, size in found:
            batch, _, name = _relative(url, prefix).partition("/")
            if _BATCH.fullmatch(batch) and name and not name.rsplit("/", 1)[-1].startswith("."):
                items.append(
                    UploadItem(batch=batch, name=name, size=size, url=name_of(user_id, batch, name))
                )
        return items

    def remove_stale_partials(self, older_than_s: float = STALE_PARTIAL_S) -> int:
        """Remove the half-written files of uploads cut off by a crash: hidden partials in
        local storage; for S3, the scratch files in this machine's temp folder (never in
        storage). Only files idle for ``older_than_s``: another API process may be
        writing a fresh one. Returns how many."""
        if storage.is_s3(self.settings.storage):
            partials = Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*/*")
        else:
            root = storage.local_path(storage.uploads_url(self.settings))
            partials = root.glob("*/*/**/.*.partial")
        cutoff = time.time() - older_than_s
        removed = 0
        for partial in partials:
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    removed += 1
        return removed

    def delete_all(self, user_id: int) -> None:
        """Remove every upload of the user (when the user is removed)."""
        storage.remove_tree(user_prefix(self.settings, user_id))

    def delete(self, user_id: int, batch: str) -> None:
        url = storage.join(user_prefix(self.settings, user_id), batch)
        try:
            exists = _BATCH.fullmatch(batch) is not None and bool(storage.list_files(url))
        except FileNotFoundError:
            exists = False
        if not exists:
            raise UploadNotFound(f"no upload {batch}")
        storage.remove_tree(url)


def _relative(url: str, prefix: str) -> str:
    if storage.is_s3(url):
        return url.removeprefix(prefix.rstrip("/") + "/")
    return Path(url).relative_to(storage.local_path(prefix)).as_posix()
