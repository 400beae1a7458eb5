"""The Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from fusionflow.config import Settings
from fusionflow.db import Base, Database, migrate

HEAD = "0006"  # the newest migration


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert migrate.current(db.url) == HEAD


def test_upgrade_is_idempotent(db: Database) -> None:
    migrate.upgrade(db.url)
    assert set(inspect(db.engine).get_table_names()) >= {
        "users",
        "jobs",
        "shards",
        "artifacts",
        "notifications",
    }


def test_json_columns_are_jsonb_on_postgresql(db: Database) -> None:
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("jobs")}
    expected = "JSONB" if db.engine.dialect.name == "postgresql" else "JSON"
    assert type(columns["params"]["type"]).__name__ == expected


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.dispose()


def test_cli_db_upgrade(settings: Settings, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("fusionflow")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database}
    result = subprocess.run(
        [script, "db", "upgrade"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"database at revision {HEAD}: ")
    assert "Traceback" not in result.stderr


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database == f"sqlite:///{tmp_path / 'fusionflow.db'}"


def test_concurrent_upgrades_do_not_collide(database_url: str) -> None:
    """Every worker and server migrates at start; several may start at once."""
    script = Path(sys.executable).with_name("fusionflow")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url}
    processes = [
        subprocess.Popen([script, "db", "upgrade"], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    assert migrate.current(database_url) == HEAD


def test_a_new_sqlite_database_is_private_to_its_owner(tmp_path: Path) -> None:
    # It holds password hashes and token digests: 0600, like the signing key (was 0644).
    url = f"sqlite:///{tmp_path / 'data' / 'fusionflow.db'}"
    migrate.upgrade(url)
    database = Database(url)
    with database.session() as session:  # WAL and shared memory appear with a write
        session.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
    files = sorted((tmp_path / "data").iterdir())
    assert [f.name for f in files][:1] == ["fusionflow.db"]
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    database.dispose()


def test_an_upgrade_lets_every_user_read_what_they_could_before(
    settings: Settings, tmp_path: Path
) -> None:
    from fusionflow.db import User
    from fusionflow.grants import EVERYONE, Grants

    migrate.upgrade(settings.database, "0005")
    db = Database(settings.database)
    with db.session() as session:
        session.add_all(User(username=name, password_hash="x") for name in ("bob", "alice"))
    (tmp_path / "logs").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "logs")
    roots = f"{tmp_path / 'link'}:s3://lake//team/"
    script = Path(sys.executable).with_name("fusionflow")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database}
    result = subprocess.run(
        [script, "db", "upgrade"],
        capture_output=True,
        text=True,
        env={**env, "FUSIONFLOW_ALLOWED_ROOTS": roots},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    grants = Grants(db, settings)
    [group] = grants.groups()
    assert (group.name, group.members) == (EVERYONE, ["alice", "bob"])
    assert [(g.location, g.group) for g in grants.find()] == [
        (str(tmp_path / "logs"), EVERYONE),
        ("s3://lake/team", EVERYONE),
    ]
    with db.reading() as session:
        alice = session.scalar(text("SELECT id FROM users WHERE username = 'alice'"))
    assert sorted(grants.locations_for(alice)) == [str(tmp_path / "logs"), "s3://lake/team"]
    db.dispose()


def test_a_new_installation_grants_nothing(db: Database, settings: Settings) -> None:
    from fusionflow.grants import Grants

    grants = Grants(db, settings)
    assert grants.groups() == []
    assert grants.find() == []
