"""``fusionflow groups …`` and ``fusionflow grants …`` on the server's database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fusionflow.config import Settings
from fusionflow.db import Database
from fusionflow.grants import Grants


def fusionflow(
    settings: Settings, roots: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("fusionflow")
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": settings.database,
        "FUSIONFLOW_ALLOWED_ROOTS": roots,
    }
    return subprocess.run(
        [script, *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the API tests do both
def test_admins_manage_groups_and_grants_from_the_command_line(
    settings: Settings, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "team").mkdir(parents=True)
    roots = f"{data}:s3://lake/"

    def ok(*args: str, stdin: str = "") -> str:
        result = fusionflow(settings, roots, *args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    for name in ("ada", "bea"):
        ok("users", "create", name, "--password-stdin", stdin="long enough\n")
    assert ok("groups", "create", "team") == "created group team\n"
    assert ok("groups", "add", "team", "ada", "bea") == "team: added ada bea\n"
    assert ok("groups", "remove", "team", "bea") == "team: removed bea\n"
    assert ok("groups", "list") == "team\tada\n"
    assert ok("grants", "add", f"{data}/team/", "--group", "team").startswith(
        f"granted {data / 'team'} to group team (grant "
    )
    assert ok("grants", "add", "s3://lake//bea/", "--user", "bea").startswith(
        "granted s3://lake/bea to user bea (grant "
    )
    listed = json.loads(ok("grants", "list", "--json"))
    assert [(g["location"], g["username"], g["group"]) for g in listed] == [
        (str(data / "team"), None, "team"),
        ("s3://lake/bea", "bea", None),
    ]
    assert ok("grants", "list", "--user", "bea").splitlines() == [
        f"{listed[1]['id']}\ts3://lake/bea\tuser bea"
    ]
    db = Database(settings.database)
    store = Grants(db, settings)
    ada_grants = [g.location for g in store.find(group="team")]
    assert ada_grants == [str(data / "team")]

    # Mistakes are one line and exit code 2.
    for args, error in (
        (("grants", "add", "/etc", "--user", "ada"), "is outside FUSIONFLOW_ALLOWED_ROOTS"),
        (("grants", "add", str(data), "--group", "nope"), "no group named 'nope'"),
        (("grants", "add", str(data), "--user", "nobody"), "no user named 'nobody'"),
        (("groups", "create", "team"), "a group 'team' exists"),
        (("grants", "remove", "999"), "no grant 999"),
    ):
        result = fusionflow(settings, roots, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: ")
        assert error in result.stderr
        assert result.stderr.count("\n") == 1
    neither = fusionflow(settings, roots, "grants", "add", str(data))
    assert neither.returncode == 2
    assert "give --user or --group" in neither.stderr

    assert ok("grants", "remove", str(listed[1]["id"])) == f"removed grant {listed[1]['id']}\n"
    assert ok("groups", "delete", "team") == "deleted group team\n"
    assert store.find() == []
    db.dispose()
