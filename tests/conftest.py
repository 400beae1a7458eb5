"""Shared fixtures. Each fixture states its scope; corpora are generated, never checked in."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fusionflow.config import Settings, get_settings, normalize_database_url
from fusionflow.db import Database, migrate
from tests.servers import a_postgres, require, s3_server

ROOT = Path(__file__).resolve().parents[1]

# Celery workers as processes (tests/jobs, tests/deploy).
pytest_plugins = ["tests.jobs.workers"]

# What `-m "not slow"` (`make check`) leaves out: folders, modules and tests whose cases take
# seconds each, as node-id prefixes. Marked here, in one place, because pytest reads
# `pytestmark` from test modules only, never from a conftest.py. tests/test_slow_marks.py
# fails if a test under one of these escapes the mark or a prefix matches nothing.
SLOW = (
    "tests/e2e/",  # a live `serve --ui` and Chromium per test
    "tests/faults/",  # servers stopped, slowed and killed under running jobs
    "tests/api/test_e2e.py",  # `fusionflow serve` processes, TLS, SIGTERM drains
    "tests/api/test_replicas.py",  # two `serve` processes on PostgreSQL and Redis
    "tests/api/test_fuzz.py",  # schemathesis over every operation
    "tests/jobs/test_celery.py",  # Celery worker processes started, killed and restarted
    "tests/jobs/test_quarantine.py::test_a_file_that_kills_its_worker_is_quarantined_and_the_job_completes",
    "tests/jobs/test_quarantine.py::test_workers_dying_for_other_reasons_fail_no_job",
    "tests/deploy/test_queue.py",  # KEDA's view of the queue with workers scaled in
    "tests/deploy/test_compose.py::test_the_stack_runs_a_job_on_its_workers",
    "tests/storage/test_s3.py::test_a_listing_is_read_to_the_last_page",  # 1,236 uploads
    "tests/test_slow_marks.py::test_xdist_schedules_with_the_suites_own_scheduler",  # -n 2
    "tests/test_slow_marks.py::test_a_run_that_leaves_tests_out_fails",  # -n 2
)


def is_slow(nodeid: str) -> bool:
    """Whether ``nodeid`` is under one of SLOW's prefixes: a folder, a module, or a test
    (with any of its parameters)."""
    return any(
        nodeid.startswith(prefix) and (prefix[-1] == "/" or nodeid[len(prefix) :][:1] in ":[")
        for prefix in SLOW
    )


# Folders whose tests run one after another on a single pytest-xdist worker, while the
# other workers share out the rest test by test: the browser tests share one `serve --ui`
# and one Chromium per worker, and the fault cases time what they do to the servers they
# stop and slow down, which more of their own kind at once would blur. (pytest-xdist's
# `--dist loadgroup` would do this from marks, but under pytest 9 it ignores them.)
SERIAL = {"tests/e2e/": "browser", "tests/faults/": "faults"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item.nodeid):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under `-n`, a run that would pass with fewer tests run than collected fails:
    pytest-xdist's scope-based schedulers (`--dist loadscope`, `loadfile`, `loadgroup`) keep
    tests by node id, run one of schemathesis's 36 that share one, and report success."""
    config = session.config
    if (
        session.exitstatus != 0
        or not config.pluginmanager.has_plugin("dsession")
        or config.option.collectonly
        or config.option.setupplan
    ):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    outcomes = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
    # One report a test: its call's, or its setup's when the setup failed or skipped it.
    ran = sum(
        r.when == "call" or (r.when == "setup" and not r.passed)
        for outcome in outcomes
        for r in reporter.stats.get(outcome, [])
    )
    if ran < session.testscollected:
        missing = session.testscollected - ran
        reporter.write_line(f"{missing} of {session.testscollected} tests never ran", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def serial_group(nodeid: str) -> str | None:
    """The SERIAL group ``nodeid`` belongs to, if any."""
    return next((group for folder, group in SERIAL.items() if nodeid.startswith(folder)), None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `-n`: pytest-xdist's load balancing, except that each SERIAL group goes whole to
    one worker (one group a worker, in the first round) before anything else is shared out.
    Built on `load`, which keeps tests by their index: schemathesis's tests share one node
    id, and the scope-based schedulers, keyed by node id, would run one of them."""
    from xdist.scheduler import LoadScheduling

    if config.getoption("dist") != "load":
        return None  # a `--dist` asked for on the command line

    class SerialFolders(LoadScheduling):  # type: ignore[misc]
        groups: dict[str, list[int]] | None = None

        def _send_tests(self, node: Any, num: int) -> None:
            if self.groups is None:
                self.groups = {}
                for index in self.pending:
                    group = serial_group(self.collection[index])
                    if group is not None:
                        self.groups.setdefault(group, []).append(index)
                serial = {index for indices in self.groups.values() for index in indices}
                self.pending[:] = [index for index in self.pending if index not in serial]
            if self.groups:
                _, indices = self.groups.popitem()
                self.node2pending[node].extend(indices)
                node.send_runtest_some(indices)
            super()._send_tests(node, num)

    return SerialFolders(config, log)


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_logs", ROOT / "bench" / "gen_logs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_logs"] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Argon2id at its cheapest in this process (1 pass over 1 MiB, 1 lane): hundreds of
    tests create users and log in, and the server's cost (64 MiB, 3 passes, 4 lanes) is the
    bulk of their time. What the server uses is checked where it runs as its own process
    (test_accounts.py::test_users_cli)."""
    from argon2 import PasswordHasher

    import fusionflow.accounts

    with pytest.MonkeyPatch.context() as patch:
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        patch.setattr(fusionflow.accounts, "_hasher", cheap)
        patch.setattr(fusionflow.accounts, "_DUMMY_HASH", cheap.hash("not a real password"))
        yield


@pytest.fixture(scope="session")
def log_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark's realistic log tree, small: gz, bz2, binaries, NUL holes, long lines."""
    root = tmp_path_factory.mktemp("corpus") / "logs"
    _load_generator().generate(root, 8 << 20, seed=7, jobs=1, quiet=True)
    return root


@pytest.fixture(scope="session")
def realworld() -> Path:
    """`../shared/realworld/`: public files FusionFlow once got wrong (never copied here).
    Beside the checkout, or where FUSIONFLOW_REALWORLD says (a clone elsewhere)."""
    candidates = [
        Path(os.environ.get("FUSIONFLOW_REALWORLD", ROOT.parent / "shared" / "realworld")),
        Path("/work/shared/realworld"),  # this machine's, for clones made elsewhere
    ]
    found = next((str(c) for c in candidates if (c / "README.md").is_file()), None)
    return Path(require("the real-world files", found, "set FUSIONFLOW_REALWORLD"))


@pytest.fixture(scope="session")
def rg() -> str:
    """Path of ripgrep, the reference tool (.ci/run installs it)."""
    path = shutil.which("rg")
    if path is None:
        pytest.fail("ripgrep (rg) is required for the reference tests: apt-get install ripgrep")
    return path


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A tiny log tree with known content."""
    root = tmp_path / "logs"
    (root / "app").mkdir(parents=True)
    (root / "app" / "a.log").write_text("start\nERROR disk full\nok\nFATAL oom\n")
    (root / "b.log").write_text("nothing\n")
    return root


# -- databases and settings for the jobs tests --------------------------------------------

SETTING_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "S3_ENDPOINT_URL",
    "FUSIONFLOW_DATA_DIR",
    "FUSIONFLOW_STORAGE_URL",
)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the whole session."""
    with a_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every database-backed test runs on both: a SQLite file and a fresh PostgreSQL DB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fusionflow.db'}"
    import psycopg

    admin = request.getfixturevalue("postgres_admin_url")
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return normalize_database_url(f"{admin}/{name}")


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings of an isolated installation: its own data dir, database and storage."""
    for name in SETTING_ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        shard_files=2,
        shard_lost_after_s=3.0,
        max_attempts=3,
        retry_backoff_s=0.05,
    )
    get_settings.cache_clear()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """The migrated database of ``settings``."""
    migrate.upgrade(settings.database)
    database = Database(settings.database)
    yield database
    database.dispose()


# -- S3 -------------------------------------------------------------------------------

S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A throwaway S3-compatible server for the whole session."""
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """boto3, only to set up and inspect what the tests expect (FusionFlow uses the core)."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **S3_CREDENTIALS)


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A fresh, empty bucket."""
    name = f"ff-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


def s3_settings(settings: Settings, endpoint: str, **more: Any) -> Settings:
    """``settings`` pointed at an S3 endpoint, its storage in ``more['storage_url']``."""
    return settings.model_copy(
        update={
            "s3_endpoint_url": endpoint,
            "aws_region": "us-east-1",
            **S3_CREDENTIALS,
            **more,
        }
    )
