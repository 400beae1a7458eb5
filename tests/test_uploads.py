"""Upload batches on local storage: safe names, no overwrites, nothing half-written listed."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from fusionflow.config import Settings
from fusionflow.uploads import STALE_PARTIAL_S, UploadBatch, Uploads, UploadTooLarge, safe_name


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("app.log", "app.log"),
        ("web01/app/app.log", "web01/app/app.log"),
        ("..\\..\\windows\\win.ini", "windows/win.ini"),
        ("/etc/passwd", "etc/passwd"),
        (".bashrc", "bashrc"),
        ("a b;c|d$(e).log", "a_b_c_d_e_.log"),
        ("../..", "upload"),
        ("\u00fcber.txt", "\u00fcber.txt"),
    ],
)
def test_safe_names(given: str, stored: str) -> None:
    assert safe_name(given) == stored


def test_a_file_cut_off_is_never_listed_and_abort_removes_all(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, upload_max_bytes=10)
    batch = UploadBatch(settings, user_id=7)
    batch.begin("done.log")
    batch.write(b"12345")
    batch.end()
    batch.begin("half.log")
    batch.write(b"123")
    listed = Uploads(settings).list(7)
    assert [(i.name, i.size) for i in listed] == [("done.log", 5)]
    with pytest.raises(UploadTooLarge):
        batch.write(b"12345678")
    batch.abort()
    assert Uploads(settings).list(7) == []
    assert not (tmp_path / "storage" / "uploads" / "7" / batch.id).exists()


@pytest.mark.parametrize("storage_url", [None, "s3://bucket/ff"], ids=["local", "s3"])
def test_partials_left_by_a_crash_are_removed_once_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage_url: str | None
) -> None:
    """What a killed server was receiving: hidden partials in local storage, the scratch
    files of uploads to S3 in the temp folder. Fresh ones may be another process's,
    arriving now: they stay."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    where = {"storage_url": storage_url} if storage_url else {}
    settings = Settings(data_dir=tmp_path / "data", **where)

    def half_written() -> tuple[UploadBatch, Path]:
        before = _files(tmp_path)
        batch = UploadBatch(settings, user_id=7)
        batch.begin("app.log")
        batch.write(b"half")
        [partial] = _files(tmp_path) - before
        return batch, partial

    cut, stale = half_written()
    os.utime(stale, (time.time() - STALE_PARTIAL_S - 60,) * 2)
    live, fresh = half_written()
    assert Uploads(settings).remove_stale_partials() == 1
    assert _files(tmp_path) == {fresh}
    if not storage_url:
        assert Uploads(settings).list(7) == []
    cut.close()
    live.close()


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}
