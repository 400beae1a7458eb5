"""The whole story against a real `fusionflow serve` process, as a script would do it:
log in, upload log files, run a grep job, follow its events until it completes, and
download matches.txt, which equals the CLI's output. On the embedded defaults (SQLite,
local executor, nothing configured) and on PostgreSQL + Redis + a Celery worker."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from fusionflow.config import Settings
from fusionflow.db import Database, Shard
from tests.api.conftest import ADMIN_PASSWORD
from tests.api.processes import FUSIONFLOW, base_env, serve
from tests.jobs.helpers import SLOW_PATTERN, slow_corpus
from tests.servers import WebhookReceiver, a_redis, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "logs"


def grep_story(
    base_url: str, env: dict[str, str], tmp_path: Path, notify: dict | None = None
) -> str:
    """Upload the example logs, grep them, compare with `fusionflow run` on the server's
    settings (``env``: the uploads' names resolve there too). Returns the job's id."""
    with httpx.Client(base_url=base_url, timeout=30) as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"

        logs = sorted(p for p in EXAMPLES.rglob("*") if p.is_file())
        files = [("files", (p.relative_to(EXAMPLES).as_posix(), p.read_bytes())) for p in logs]
        uploaded = api.post("/api/v1/uploads", files=files)
        assert uploaded.status_code == 201, uploaded.text
        items = uploaded.json()
        assert [i["name"] for i in items] == [p.relative_to(EXAMPLES).as_posix() for p in logs]
        folder = items[0]["url"].removesuffix("/" + items[0]["name"])

        job = api.post(
            "/api/v1/jobs",
            json={
                "pipeline": "grep",
                "inputs": [folder],
                "params": {"patterns": ["ERROR", "FATAL"]},
                **({"notify": notify} if notify else {}),
            },
        )
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]

        statuses = []
        with api.stream("GET", f"/api/v1/jobs/{job_id}/events") as events:
            for line in events.iter_lines():
                if line.startswith("data: "):
                    statuses.append(json.loads(line.removeprefix("data: "))["status"])
        assert statuses[-1] == "completed", statuses

        matches = api.get(f"/api/v1/jobs/{job_id}/artifacts/matches.txt")
        assert matches.status_code == 200

    expected = tmp_path / "cli"
    subprocess.run(
        [FUSIONFLOW, "run", "grep", folder, "-e", "ERROR", "-e", "FATAL", "-o", expected],
        check=True,
        capture_output=True,
        env=env,
    )
    assert matches.content == (expected / "matches.txt").read_bytes()
    assert matches.content.count(b"\n") > 10
    return str(job_id)


def test_the_grep_story_on_the_embedded_defaults(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    with serve(env, tmp_path) as url:
        grep_story(url, env, tmp_path)
    assert (tmp_path / "data" / "fusionflow.db").is_file()  # SQLite in the data dir


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_grep_story_on_celery_workers(settings: Settings, tmp_path: Path) -> None:
    with a_redis() as redis_url:
        env = {
            **base_env(settings.data_dir),
            "DATABASE_URL": settings.database,
            "REDIS_URL": redis_url,
            "FUSIONFLOW_SHARD_FILES": "2",
            "FUSIONFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
            "FUSIONFLOW_NOTIFY_INTERVAL": "0.2",
        }
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [FUSIONFLOW, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            with serve(env, tmp_path) as url, WebhookReceiver() as hook:
                ready = httpx.get(f"{url}/readyz").json()
                assert set(ready["checks"]) == {"database", "storage", "broker"}
                assert ready["ready"] is True
                job_id = grep_story(url, env, tmp_path, notify={"webhook_url": hook.url})
                deadline = time.monotonic() + 15
                while not hook.bodies:  # the worker's notifier sends it
                    assert time.monotonic() < deadline, "no webhook from the worker"
                    time.sleep(0.05)
                assert hook.bodies[0]["fusionflow"]["job_id"] == job_id
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    db = Database(settings.database)
    with db.session() as session:
        ran_on = set(session.scalars(select(Shard.worker).where(Shard.job_id == job_id)))
    db.dispose()
    assert len(ran_on) == 1
    assert f":{worker.pid}:" in ran_on.pop()  # the worker process ran the shards, not serve


def test_download_link_tokens_stay_out_of_the_access_log(tmp_path: Path) -> None:
    with serve(base_env(tmp_path / "data"), tmp_path) as url:
        secret = "eyJhbGciOiJIUzI1NiJ9.not-a-real-token.signature"
        # A link's token travels in the query; with or without a valid one, it is logged blank.
        httpx.get(f"{url}/api/v1/jobs/x/artifacts/matches.txt?link={secret}")
        httpx.get(f"{url}/healthz?token={secret}&other=1")
        time.sleep(0.3)
    logged = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    assert "/artifacts/matches.txt?link=***" in logged
    assert "/healthz?token=***&other=1" in logged
    assert secret not in logged


def test_serve_speaks_tls_when_given_a_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = base_env(tmp_path / "data")
    with serve(env, tmp_path, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)) as url:
        assert url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(f"{url}/healthz", verify=trust).json() == {"status": "ok"}
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https", "http") + "/healthz")


def test_serve_refuses_half_a_tls_configuration(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    result = subprocess.run(
        [FUSIONFLOW, "serve", "--ssl-certfile", str(cert)],
        env=base_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--ssl-certfile and --ssl-keyfile go together" in result.stderr
    assert "Traceback" not in result.stderr


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_reports_a_bad_admin_password_in_one_line(tmp_path: Path) -> None:
    env = {**base_env(tmp_path / "data"), "FUSIONFLOW_ADMIN_PASSWORD": "short"}
    result = subprocess.run(
        [FUSIONFLOW, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "error: invalid parameter `password`: 8 to 1024 characters\n"


def test_sigterm_drains_then_stops(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("x\n")
    with a_redis() as redis_url:  # and no worker: the job stays pending, its stream open
        env = {
            **base_env(tmp_path / "data"),
            "FUSIONFLOW_ALLOWED_ROOTS": str(tmp_path),
            "FUSIONFLOW_SHUTDOWN_DRAIN": "3",
            "REDIS_URL": redis_url,
        }
        port = free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            server = subprocess.Popen(
                [FUSIONFLOW, "serve", "--port", str(port)], env=env, stdout=log, stderr=log
            )
        try:
            wait_for_port(port, process=server, timeout=60)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
                token = api.post(
                    "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
                ).json()["access_token"]
                api.headers["Authorization"] = f"Bearer {token}"
                body = {"pipeline": "grep", "inputs": [str(logs)], "params": {"patterns": ["x"]}}
                job_id = api.post("/api/v1/jobs", json=body).json()["id"]
                assert api.get("/readyz").status_code == 200
                with api.stream("GET", f"/api/v1/jobs/{job_id}/events") as events:
                    lines = events.iter_lines()
                    next(lines)  # the stream is open
                    told = time.monotonic()
                    server.send_signal(signal.SIGTERM)
                    list(lines)  # the stream ends: cleanly, not cut off
                ended_after = time.monotonic() - told
                # Draining: not ready, but still serving, new requests included.
                ready = api.get("/readyz")
                assert ready.status_code == 503
                shutdown = ready.json()["checks"]["shutdown"]
                assert shutdown == {"ok": False, "error": "shutting down"}
                assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "pending"
                assert time.monotonic() - told < 3  # all of that within the drain
            server.wait(30)
            stopped_after = time.monotonic() - told
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(30)
    assert ended_after < 2, ended_after
    assert 3 <= stopped_after < 15, stopped_after
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()


def test_serve_with_ui_runs_the_web_ui_beside_the_api(tmp_path: Path) -> None:
    ui_port = free_port()
    with serve(base_env(tmp_path / "data"), tmp_path, "--ui", "--ui-port", str(ui_port)) as url:
        wait_for_port(ui_port, timeout=60)
        assert httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health").text == "ok"
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 15
    while True:  # the UI stops with serve
        try:
            httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health", timeout=1)
        except httpx.TransportError:
            break
        assert time.monotonic() < deadline, "the UI outlived serve"
        time.sleep(0.2)


def test_crashes_of_the_api_process_fail_no_job(tmp_path: Path) -> None:
    """The in-process executor's shards die with `serve`: crashes that were not the job's
    doing cost a rerun each, and the job completes (two used to fail it)."""
    data = tmp_path / "data"
    env = {
        **base_env(data),
        "FUSIONFLOW_ALLOWED_ROOTS": str(tmp_path),
        "FUSIONFLOW_SHARD_LOST_AFTER": "2",
    }
    slow = slow_corpus(tmp_path / "slow", files=1, lines=1_500_000)  # one shard, seconds
    db = Database(f"sqlite:///{data / 'fusionflow.db'}")

    def start() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        with (tmp_path / f"serve-{port}.log").open("wb") as log:
            server = subprocess.Popen(
                [FUSIONFLOW, "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # killed whole, with any process it started
            )
        wait_for_port(port, process=server, timeout=60)
        return server, f"http://127.0.0.1:{port}/api/v1"

    def running_on(pid: int) -> bool:
        with db.session() as session:
            workers = session.scalars(select(Shard.worker).where(Shard.status == "running"))
            return any(f":{pid}:" in (worker or "") for worker in workers)

    server, url = start()
    try:
        with httpx.Client(base_url=url, timeout=30) as api:
            token = api.post(
                "/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
            ).json()["access_token"]
            params = {"patterns": ["ERROR", SLOW_PATTERN]}
            body = {"pipeline": "grep", "inputs": [str(slow)], "params": params}
            headers = {"Authorization": f"Bearer {token}"}
            job_id = api.post("/jobs", json=body, headers=headers).json()["id"]
        for _ in range(2):
            deadline = time.monotonic() + 60
            while not running_on(server.pid):
                assert time.monotonic() < deadline, "the shard never ran on this server"
                time.sleep(0.05)
            os.killpg(server.pid, signal.SIGKILL)  # a crash, not a shutdown
            server.wait(30)
            server, url = start()
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=url, timeout=30, headers=headers) as api:
            while (job := api.get(f"/jobs/{job_id}").json())["status"] == "running":
                assert time.monotonic() < deadline, "the job never finished"
                time.sleep(0.2)
            assert job["status"] == "completed", job["error"]
            summary = api.get(f"/jobs/{job_id}/summary").json()
        assert (summary["matches"], summary["skipped"]) == (1, [])
        with db.session() as session:
            assert session.scalars(select(Shard.lost)).all() == [2]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)
        db.dispose()
