"""Which inputs a user of the server may name.

- Local paths (and ``file://`` URLs) only under ``FUSIONFLOW_ALLOWED_ROOTS``, checked
  after resolving symbolic links, so a link cannot lead outside.
- Anything under FusionFlow's own storage (uploads, results, shard partials) only inside
  the user's own uploads; admins may name any of it.
- Other ``s3://`` prefixes: whatever the server's credentials can read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fusionflow import storage
from fusionflow.config import Settings
from fusionflow.uploads import user_prefix


class Forbidden(PermissionError):
    """The user may not do this (HTTP 403)."""


def check_inputs(settings: Settings, inputs: Sequence[str], *, user_id: int, admin: bool) -> None:
    """Raise ``Forbidden`` naming the first input the user may not read."""
    own_uploads = user_prefix(settings, user_id)
    for item in inputs:
        if storage.is_s3(item):
            if _s3_under(item, settings.storage) and not (admin or _s3_under(item, own_uploads)):
                raise Forbidden(f"{item}: only your own uploads can be read from storage")
            continue
        try:
            path = Path(os.path.realpath(storage.local_path(item)))
        except ValueError as e:
            raise Forbidden(str(e)) from None
        if not storage.is_s3(settings.storage) and _under(path, settings.storage):
            if admin or _under(path, own_uploads):
                continue
            raise Forbidden(f"{item}: only your own uploads can be read from storage")
        if not any(_under(path, str(root)) for root in settings.allowed_roots):
            roots = os.pathsep.join(str(r) for r in settings.allowed_roots) or "none configured"
            raise Forbidden(
                f"{item}: local paths must be under the allowed roots "
                f"(FUSIONFLOW_ALLOWED_ROOTS: {roots})"
            )


def _under(path: Path, root: str) -> bool:
    return path.is_relative_to(os.path.realpath(storage.local_path(root)))


def _s3_under(url: str, prefix: str) -> bool:
    if not storage.is_s3(prefix):
        return False
    base = prefix.rstrip("/")
    return url.rstrip("/") == base or url.startswith(base + "/")
