"""Which inputs a user of the server may name, in the form the job will read them.

- Local paths (and ``file://`` URLs) must be absolute and lie under
  ``FUSIONFLOW_ALLOWED_ROOTS`` once symbolic links are resolved; the job gets the resolved
  path, so what was checked is what is read.
- Uploads are named ``upload://<user>/<batch>/<name>`` (``fusionflow.uploads``): a user
  may name only their own (admins anyone's). A path into a user's own uploads becomes
  that name, so jobs show users their names for things, not the server's folders.
- FusionFlow's own data dir is never an input, except its storage: there a user may name
  only their own uploads, and no folder that holds storage (admins may name any of it).
- Other ``s3://`` prefixes: whatever the server's credentials can read. They are made
  canonical first (no empty, ``.`` or ``..`` segments), as the store would read them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from fusionflow import storage, uploads
from fusionflow.config import Settings
from fusionflow.errors import InvalidParameter
from fusionflow.uploads import user_prefix

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Forbidden(PermissionError):
    """The user may not do this (HTTP 403)."""


def check_inputs(
    settings: Settings, inputs: Sequence[str], *, user_id: int, admin: bool
) -> list[str]:
    """The inputs as the job should read them; ``Forbidden`` naming the first the user
    may not read, ``InvalidParameter`` for one that is malformed."""
    return [_check(settings, item, user_id, admin) for item in inputs]


def _check(settings: Settings, item: str, user_id: int, admin: bool) -> str:
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
            if _s3_within(url, root) and not admin:
                raise Forbidden(f"{item}: only your own uploads can be read from storage")
        return url
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
    if not any(_within(path, str(root)) for root in settings.allowed_roots):
        # Users are told the rule; only admins, who set it, see the server's folders.
        roots = os.pathsep.join(str(r) for r in settings.allowed_roots) or "none configured"
        where = f" (FUSIONFLOW_ALLOWED_ROOTS: {roots})" if admin else ""
        raise Forbidden(f"{item}: local paths must be under the allowed roots{where}")
    return str(path)


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
