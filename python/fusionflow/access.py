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

import os
import re
from collections.abc import Sequence
from pathlib import Path

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
    return os.path.realpath(path)


def under_ceiling(settings: Settings, place: str) -> bool:
    """``place`` (canonical) lies under one of ``FUSIONFLOW_ALLOWED_ROOTS``."""
    # (fspath: settings copied with model_copy are not validated)
    return any(within(place, os.fspath(root)) for root in settings.allowed_roots)


def within(place: str, location: str) -> bool:
    """``place`` (a canonical URL or resolved path) is ``location`` or lies under it."""
    if storage.is_s3(place) != storage.is_s3(location):
        return False
    if storage.is_s3(place):
        try:
            return _s3_within(place, storage.canonical_s3(location))
        except InvalidParameter:  # a malformed root or grant covers nothing
            return False
    return Path(place).is_relative_to(_real(location))


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
                return _upload_name(settings, url)
            if _s3_within(root, url) and not admin:
                raise Forbidden(f"{item}: this folder holds FusionFlow's storage")
            if _s3_within(url, root):
                if not admin:
                    raise Forbidden(f"{item}: only your own uploads can be read from storage")
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
    path = Path(os.path.realpath(given))
    if not storage.is_s3(settings.storage):
        if _within(path, settings.storage):
            if _within(path, own_uploads):
                return _upload_name(settings, str(path))
            if admin:
                return str(path)
            raise Forbidden(f"{item}: only your own uploads can be read from storage")
        if _real(settings.storage).is_relative_to(path) and not admin:
            raise Forbidden(f"{item}: this folder holds FusionFlow's storage")
    data_dir = Path(os.path.realpath(settings.data_dir))
    if path.is_relative_to(data_dir) or (data_dir.is_relative_to(path) and not admin):
        raise Forbidden(f"{item}: FusionFlow's data folder is not an input")
    return _granted(settings, item, str(path), admin, granted)


def _upload_name(settings: Settings, place: str) -> str:
    """The name of ``place``, in the user's own uploads: what the job shows and reads."""
    name = uploads.name_at(settings, place)
    if name is None:  # the uploads folder itself, for one
        raise Forbidden(f"{place}: only your own uploads can be read from storage")
    return uploads.owner_of_name(name)[1]


def _real(root: str) -> Path:
    return Path(os.path.realpath(storage.local_path(root)))


def _within(path: Path, root: str) -> bool:
    return path.is_relative_to(_real(root))


def _s3_within(url: str, prefix: str) -> bool:
    """``url`` is ``prefix`` or lies under it (both canonical)."""
    return url == prefix or url.startswith(prefix.rstrip("/") + "/")
