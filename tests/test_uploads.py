"""Upload batches on local storage: safe names, no overwrites, nothing half-written listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionflow.config import Settings
from fusionflow.uploads import UploadBatch, Uploads, UploadTooLarge, safe_name


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
