"""Settings come from the environment, or from files named by ``<NAME>_FILE``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fusionflow.config import Settings


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FUSIONFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/ff")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("FUSIONFLOW_ALLOWED_ROOTS", "/srv/logs:s3://lake/team-a/:/data:s3://b")
    monkeypatch.setenv("FUSIONFLOW_SHARD_BYTES", "1048576")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.database == "postgresql+psycopg://u:p@db:5432/ff"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.allowed_roots == ["/srv/logs", "s3://lake/team-a/", "/data", "s3://b"]
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


def test_passwords_from_their_own_files_join_the_urls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A mounted secret holds just the password; the URL in the config map names no secret.
    (tmp_path / "db").write_text("p@ss:/word\n")
    (tmp_path / "redis").write_text("r pw")
    monkeypatch.setenv("DATABASE_URL", "postgresql://fusionflow@db:5432/ff")
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(tmp_path / "db"))
    monkeypatch.setenv("REDIS_URL", "rediss://redis:6380/1")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(tmp_path / "redis"))
    settings = Settings()
    assert settings.database == "postgresql+psycopg://fusionflow:p%40ss%3A%2Fword@db:5432/ff"
    assert settings.broker == "rediss://:r%20pw@redis:6380/1"

    from sqlalchemy.engine import make_url

    assert make_url(settings.database).password == "p@ss:/word"


def test_a_password_in_the_url_wins() -> None:
    settings = Settings(
        database_url="postgresql://u:inline@db/ff",
        database_password="other",
        redis_url="redis://:inline@r:6379/0",
        redis_password="other",
    )
    assert settings.database == "postgresql+psycopg://u:inline@db/ff"
    assert settings.broker == "redis://:inline@r:6379/0"


def test_no_broker_without_redis_and_sqlite_takes_no_password(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, redis_password="x", database_password="y")
    assert settings.broker is None
    assert settings.database == f"sqlite:///{tmp_path / 'fusionflow.db'}"


def test_environment_names_lists_every_setting() -> None:
    from fusionflow.config import environment_names

    names = environment_names()
    assert {"DATABASE_URL", "DATABASE_PASSWORD", "REDIS_PASSWORD", "FUSIONFLOW_PORT"} <= names
    assert len(names) >= len(Settings.model_fields)


def test_password_hashes_default_to_half_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUSIONFLOW_PASSWORD_HASHES", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert Settings().hashes_at_once == max(1, cores // 2)
    assert Settings(password_hashes=3).hashes_at_once == 3


def test_allowed_roots_are_absolute_folders_or_s3_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUSIONFLOW_ALLOWED_ROOTS", "/srv:logs")
    with pytest.raises(ValueError, match="'logs' is neither an absolute path nor an s3:// prefix"):
        Settings()
