"""Settings come from the environment, or from files named by ``<NAME>_FILE``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionflow.config import Settings


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FUSIONFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/ff")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("FUSIONFLOW_ALLOWED_ROOTS", "/srv/logs:/data")
    monkeypatch.setenv("FUSIONFLOW_SHARD_BYTES", "1048576")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.database == "postgresql+psycopg://u:p@db:5432/ff"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.allowed_roots == [Path("/srv/logs"), Path("/data")]
    assert settings.shard_bytes == 1 << 20
    assert settings.storage == str(tmp_path / "storage")


def test_secrets_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "db-url"
    secret.write_text("postgresql://u:s3cret@db/ff\n")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret))
    monkeypatch.setenv("FUSIONFLOW_SECRET_KEY_FILE", str(secret))
    settings = Settings()
    assert settings.database == "postgresql+psycopg://u:s3cret@db/ff"
    assert settings.secret_key == "postgresql://u:s3cret@db/ff"


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUSIONFLOW_SHARD_FILES", "0")
    with pytest.raises(ValueError, match="FUSIONFLOW_SHARD_FILES"):
        Settings()
