"""Which inputs a user of the server may name, in the form the job will read them; and,
when a shard reads, which of its files lie under the job's inputs.

Deny by default: a user reads their own uploads and the locations (server folders and
``s3://`` prefixes) an admin granted them or one of their groups (``fusionflow.grants``).
``FUSIONFLOW_ALLOWED_ROOTS`` is the ceiling: nothing outside it is read, even by admins,
who may read anything under it.

- Local paths (and ``file://`` URLs) must be absolute and lie under
  ``FUSIONFLOW_ALLOWED_ROOTS`` once symbolic links are resolved; the job gets the resolved
  path, so what was checked is what is read. A granted folder covers what lies under it
  once resolved too: a link out of it leads nowhere.
- Uploads are named ``upload://<user>/<batch>/<name>`` (``fusionflow.uploads``): a user
  may name only their own (admins anyone's). A path into a user's own uploads becomes
  that name, so jobs show users their names for things, not the server's folders.
- FusionFlow's own data dir is never an input, except its storage: there a user may name
  only their own uploads, and no folder that holds storage (admins may name any of it).
- Other ``s3://`` prefixes are made canonical first (no empty, ``.`` or ``..`` segments),
  as the store would read them, and a grant of ``s3://b/logs`` covers ``s3://b/logs/…``,
  not ``s3://b/logs-old``.
- The 403 names the input and says it is not granted; it never tells a user which
  locations exist or are granted (a user is not told the ceiling either).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from fusionflow import _core, storage, uploads
from fusionflow.config import Settings
from fusionflow.errors import InvalidParameter
from fusionflow.uploads import user_prefix

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Whether the ceiling or the grants refuse it, and whether it exists or not: the same words.
NOT_GRANTED = "not granted to you (an admin can grant it)"


class Forbidden(PermissionError):
    """The user may not do this (HTTP 403)."""


def check_inputs(
    settings: Settings,
    inputs: Sequence[str],
    *,
    user_id: int,
    admin: bool,
    granted: Sequence[str] = (),
) -> list[str]:
    """The inputs as the job should read them; ``Forbidden`` naming the first the user
    may not read, ``InvalidParameter`` for one that is malformed. ``granted``: the
    locations granted to the user and their groups."""
    return [_check(settings, item, user_id, admin, granted) for item in inputs]


def canonical_location(location: str) -> str:
    """A server folder or ``s3://`` prefix in the form grants keep and compare: a
    canonical URL, or an absolute path with its links resolved."""
    if _CONTROL.search(location):
        raise InvalidParameter("invalid parameter `location`: control characters")
    if storage.is_s3(location):
        try:
            return storage.canonical_s3(location)
        except InvalidParameter:
            raise InvalidParameter(
                f"invalid parameter `location`: {location} is not a valid s3:// URL"
            ) from None
    try:
        path = storage.local_path(location)
    except ValueError as e:
        raise InvalidParameter(f"invalid parameter `location`: {e}") from None
    if _CONTROL.search(str(path)) or not path.is_absolute():
        raise InvalidParameter(
            f"invalid parameter `location`: {location} is not an absolute path or s3:// URL"
        )
    real = resolved(path)
    if real is None:
        raise InvalidParameter(f"invalid parameter `location`: {location}: its links loop")
    return str(real)


def under_ceiling(settings: Settings, place: str) -> bool:
    """``place`` (canonical) lies under one of ``FUSIONFLOW_ALLOWED_ROOTS`` (the admin's
    setting: its folders are resolved)."""
    # (fspath: settings copied with model_copy are not validated)
    roots = (os.fspath(root) for root in settings.allowed_roots)
    return any(within(place, root if storage.is_s3(root) else str(_real(root))) for root in roots)


def within(place: str, location: str) -> bool:
    """``place`` is ``location`` or lies under it, both canonical (a grant's folder is
    kept resolved, and compared as kept: one swapped for a link since covers no more)."""
    if storage.is_s3(place) != storage.is_s3(location):
        return False
    if storage.is_s3(place):
        try:
            return _s3_within(place, storage.canonical_s3(location))
        except InvalidParameter:  # a malformed root or grant covers nothing
            return False
    return Path(place).is_relative_to(location)


def canonical_input(item: str) -> str:
    """A job's input as the shards compare their files with it: a canonical URL, an
    upload's name, or a path with its links resolved (as ``check_inputs`` gives them;
    for jobs submitted without it, by scripts)."""
    if item.startswith(uploads.SCHEME):
        return item
    if storage.is_s3(item):
        return storage.canonical_s3(item)
    try:
        path = storage.local_path(item)
    except ValueError as e:
        raise InvalidParameter(f"invalid parameter `inputs`: {e}") from None
    return os.path.realpath(path)


def outside_inputs(files: Sequence[str], inputs: Sequence[str]) -> list[str]:
    """Those of a job's ``files`` that do not lie under its ``inputs`` (as checked at
    submit), links resolved: a plan changed after submit, or a folder swapped for a link
    since it was listed, must not widen what the job reads. (In the core: a shard holds
    thousands of files, and each may need a system call.)"""
    return [files[i] for i in _core.outside_roots(list(files), list(inputs))]


def _granted(settings: Settings, item: str, place: str, admin: bool, granted: Sequence[str]) -> str:
    """``place`` (what ``item`` names, canonical) if this reader may read it."""
    if not under_ceiling(settings, place):
        if not admin:  # told as "not granted": users learn nothing of the server's roots
            raise Forbidden(f"{item}: {NOT_GRANTED}")
        roots = os.pathsep.join(map(os.fspath, settings.allowed_roots)) or "none configured"
        raise Forbidden(
            f"{item}: outside FUSIONFLOW_ALLOWED_ROOTS ({roots}); nothing outside it is read"
        )
    if not admin and not any(within(place, location) for location in granted):
        raise Forbidden(f"{item}: {NOT_GRANTED}")
    return place


def _check(settings: Settings, item: str, user_id: int, admin: bool, granted: Sequence[str]) -> str:
    if _CONTROL.search(item):
        raise InvalidParameter("invalid parameter `inputs`: control characters in an input")
    own_uploads = user_prefix(settings, user_id)
    if item.startswith(uploads.SCHEME):
        owner, name = uploads.owner_of_name(item)
        if owner != user_id and not admin:
            raise Forbidden(f"{item}: only your own uploads can be read")
        return name
    if storage.is_s3(item):
        url = storage.canonical_s3(item)
        root = settings.storage
        if storage.is_s3(root):
            root, mine = storage.canonical_s3(root), storage.canonical_s3(own_uploads)
            if _s3_within(url, mine):
                return _upload_name(settings, item, url)
            if _s3_within(root, url) and not admin:
                _refuse(item, admin, "this folder holds FusionFlow's storage")
            if _s3_within(url, root):
                if not admin:
                    _refuse(item, admin, "only your own uploads can be read from storage")
                return url
        return _granted(settings, item, url, admin, granted)
    try:
        given = storage.local_path(item)
    except ValueError as e:
        raise InvalidParameter(f"invalid parameter `inputs`: {e}") from None
    # A file:// URL is percent-decoded: look again (`%00` made realpath raise, a 500).
    if _CONTROL.search(str(given)):
        raise InvalidParameter("invalid parameter `inputs`: control characters in an input")
    if not given.is_absolute():
        raise InvalidParameter(f"invalid parameter `inputs`: {item} is not an absolute path")
    path = resolved(given)
    if path is None:
        _refuse(item, admin, "its symbolic links loop")
    if not storage.is_s3(settings.storage):
        if _within(path, settings.storage):
            if _within(path, own_uploads):
                return _upload_name(settings, item, str(path))
            if admin:
                return str(path)
            _refuse(item, admin, "only your own uploads can be read from storage")
        if _real(settings.storage).is_relative_to(path) and not admin:
            _refuse(item, admin, "this folder holds FusionFlow's storage")
    data_dir = Path(os.path.realpath(settings.data_dir))
    if path.is_relative_to(data_dir) or (data_dir.is_relative_to(path) and not admin):
        _refuse(item, admin, "FusionFlow's data folder is not an input")
    return _granted(settings, item, str(path), admin, granted)


def resolved(path: Path | str) -> Path | None:
    """``path`` with every link resolved; None when that cannot be done (links that
    loop: ``os.path.realpath`` would stop there and leave the rest as written, so that
    ``loop/../out`` reads as a place it is not)."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except OSError as e:
        if e.errno == errno.ELOOP:
            return None
    # Not there (yet), or not a folder: resolved as far as it goes (listing it fails).
    real = os.path.realpath(path)
    return Path(real) if os.path.realpath(real) == real else None


def _refuse(item: str, admin: bool, reason: str) -> NoReturn:
    """Forbidden: admins are told why; users only that it is not granted (the reasons
    would show them where FusionFlow keeps its data)."""
    raise Forbidden(f"{item}: {reason if admin else NOT_GRANTED}")


def _upload_name(settings: Settings, item: str, place: str) -> str:
    """The name of ``place``, in the user's own uploads: what the job shows and reads."""
    name = uploads.name_at(settings, place)
    if name is None:  # the uploads folder itself, for one
        raise Forbidden(f"{item}: {NOT_GRANTED}")
    return uploads.owner_of_name(name)[1]


def _real(root: str) -> Path:
    return Path(os.path.realpath(storage.local_path(root)))


def _within(path: Path, root: str) -> bool:
    return path.is_relative_to(_real(root))


def _s3_within(url: str, prefix: str) -> bool:
    """``url`` is ``prefix`` or lies under it (both canonical)."""
    return url == prefix or url.startswith(prefix.rstrip("/") + "/")
