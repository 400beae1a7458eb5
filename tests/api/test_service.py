"""Notifications, pipelines, probes and metrics."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from fusionflow.api import create_app
from fusionflow.config import Settings
from tests.api.conftest import submit_grep, wait_for
from tests.servers import redis_server


def test_a_notification_when_a_users_job_ends(
    client: TestClient, alice: dict[str, str], bob: dict[str, str], allowed: Path
) -> None:
    job = submit_grep(client, alice, [str(allowed / "logs")])
    wait_for(client, job["id"], alice)
    page = client.get("/api/v1/notifications", headers=alice).json()
    assert page["unread"] == 1
    (note,) = page["items"]
    assert (note["job_id"], note["kind"], note["read"]) == (job["id"], "job.completed", False)
    assert note["message"] == "grep job grep logs completed"
    assert client.post(f"/api/v1/notifications/{note['id']}/read", headers=bob).status_code == 404
    read = client.post(f"/api/v1/notifications/{note['id']}/read", headers=alice)
    assert read.json()["read"] is True
    assert client.get("/api/v1/notifications?unread=true", headers=alice).json() == {
        "items": [],
        "unread": 0,
    }
    failed = client.post(
        "/api/v1/jobs",
        json={
            "pipeline": "grep",
            "inputs": [str(allowed / "missing")],
            "params": {"patterns": ["x"]},
        },
        headers=alice,
    ).json()
    assert wait_for(client, failed["id"], alice)["status"] == "failed"
    page = client.get("/api/v1/notifications", headers=alice).json()
    assert page["unread"] == 1
    assert page["items"][0]["kind"] == "job.failed"
    assert client.post("/api/v1/notifications/read-all", headers=alice).json() == {"marked": 1}
    assert client.get("/api/v1/notifications", headers=bob).json()["items"] == []


def test_pipelines_come_with_their_parameter_schemas(
    client: TestClient, alice: dict[str, str]
) -> None:
    listed = client.get("/api/v1/pipelines", headers=alice).json()
    assert [p["name"] for p in listed] == [
        "csv-aggregate",
        "extract-text",
        "grep",
        "resize-images",
    ]
    grep = client.get("/api/v1/pipelines/grep", headers=alice).json()
    assert grep["params_schema"]["required"] == ["patterns"]
    assert grep["params_schema"]["properties"]["context"]["maximum"] == 10_000
    assert client.get("/api/v1/pipelines/nope", headers=alice).status_code == 404


def test_the_docs_describe_every_route(client: TestClient) -> None:
    assert "swagger-ui" in client.get("/docs").text
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "FusionFlow"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("description") or operation.get("summary"), (method, path)


def test_probes(client: TestClient, api_settings: Settings) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == {"ok": True, "error": None}
    assert set(ready.json()["checks"]) == {"database", "storage"}  # no broker without Redis


def test_readyz_checks_the_broker_and_is_503_when_it_is_down(api_settings: Settings) -> None:
    with redis_server() as (url, server):
        settings = api_settings.model_copy(update={"redis_url": url})
        with TestClient(create_app(settings)) as client:  # jobs would go to Celery
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["broker"] == {"ok": True, "error": None}
            server.terminate()
            server.wait(10)
            down = client.get("/readyz")
            assert client.get("/healthz").status_code == 200  # up, but not ready
    assert down.status_code == 503
    assert down.json()["ready"] is False
    assert down.json()["checks"]["broker"]["ok"] is False
    assert down.json()["checks"]["database"]["ok"] is True


def test_metrics_count_requests_by_route_template(
    client: TestClient, alice: dict[str, str]
) -> None:
    for job_id in ("a", "b", "c"):
        assert client.get(f"/api/v1/jobs/{job_id}", headers=alice).status_code == 404
    text = client.get("/metrics").text
    line = 'fusionflow_http_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="404"}'
    assert any(row.startswith(line) and float(row.split()[-1]) >= 3 for row in text.splitlines())
    count = (
        'fusionflow_http_request_duration_seconds_count{method="GET",route="/api/v1/jobs/{job_id}"}'
    )
    assert any(row.startswith(count) and float(row.split()[-1]) >= 3 for row in text.splitlines())
    assert "fusionflow_jobs_submitted_total" in text


def test_oversized_json_bodies_are_413(client: TestClient, alice: dict[str, str]) -> None:
    huge = {"pipeline": "grep", "inputs": ["/x" * (9 << 20)], "params": {}}
    response = client.post("/api/v1/jobs", json=huge, headers=alice)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}
    # Without a Content-Length (chunked), the body is counted as it is read.
    chunked = client.post(
        "/api/v1/jobs",
        content=iter([b'{"inputs": ["' + b"x" * (10 << 20), b"x" * (10 << 20) + b'"]}']),
        headers={**alice, "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    assert chunked.json() == {"detail": "request body too large"}
    big_upload = client.post(
        "/api/v1/uploads", files={"files": ("big.log", b"x" * (17 << 20))}, headers=alice
    )
    assert big_upload.status_code == 201  # uploads stream past the JSON limit
