"""Property-based fuzzing of every operation from the OpenAPI schema (schemathesis):
whatever the input, no 5xx, and every response matches the documented schema."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fusionflow.accounts import Accounts
from fusionflow.api import create_app
from fusionflow.api.security import AccessTokens
from fusionflow.config import Settings
from fusionflow.db import Database, migrate
from tests.servers import free_port

SECRET = "fuzzing-secret-key-long-enough-for-hs256"


def _app() -> tuple[Any, dict[str, str]]:
    """The API on SQLite in a scratch folder (gone at exit), and the headers of its admin,
    made here so that the fuzzer reaches every route. S3 inputs point at a closed port, so
    they fail fast. schemathesis runs the app's lifespan itself."""
    root = Path(tempfile.mkdtemp(prefix="fusionflow-fuzz-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "allowed").mkdir()
    (root / "allowed" / "a.log").write_text("ERROR x\n")
    settings = Settings(
        data_dir=root / "data",
        secret_key=SECRET,
        allowed_roots=[root / "allowed"],
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        s3_max_retries=0,
        max_attempts=1,
    )
    migrate.upgrade(settings.database)
    db = Database(settings.database)
    admin = Accounts(db).create("admin", "fuzz-admin-password", "admin")
    db.dispose()
    token = AccessTokens(SECRET, 3600).issue(admin.id, admin.created_at)
    return create_app(settings), {"Authorization": f"Bearer {token}"}


APP, ADMIN = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    # More in a long local run: FUSIONFLOW_FUZZ_EXAMPLES=500 pytest tests/api/test_fuzz.py
    max_examples=int(os.environ.get("FUSIONFLOW_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors_and_responses_match_the_schema(case: Any) -> None:
    case.call_and_validate(
        headers=ADMIN,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
