"""compose.yaml: valid for Compose and for the compose-spec schema, and proved by running it.

No Docker engine runs here, so the stack is run natively: every FusionFlow service's own
command (the image's ENTRYPOINT plus the service's `command`) with its own environment and
secrets, against throwaway PostgreSQL, Redis and S3 servers on loopback standing in for the
`postgres`, `redis` and `minio` services. The only changes are addresses: service hostnames
and published ports become loopback ones, `/run/secrets/` a folder of the test's. Each
service's healthcheck runs as written; a job submitted through that API runs on those
workers, and its output equals `fusionflow run`'s. A typo in a command, a variable or a
secret's name fails here.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import select

from fusionflow.config import Settings
from fusionflow.db import Database, Shard
from fusionflow.ui.client import ApiClient
from tests.deploy.conftest import (
    ROOT,
    compose_config,
    dockerfile_instructions,
    fusionflow_services,
    image_entrypoint,
    passes,
    real_names,
    tool,
)
from tests.servers import free_port, postgres_server, redis_server

EXAMPLES = ROOT / "examples" / "logs"
BIN = Path(sys.executable).parent


def test_compose_config_is_valid_with_and_without_the_observability_profile() -> None:
    services = compose_config()["services"]
    core = {"postgres", "redis", "minio", "createbucket", "migrate", "api", "worker", "ui"}
    observability = {"prometheus", "alertmanager", "grafana"}
    assert set(services) == core | observability
    for name in core:
        assert "profiles" not in services[name], name
    for name in observability:
        assert services[name]["profiles"] == ["observability"], name
    assert set(compose_config("observability")["services"]) == core | observability


def test_compose_file_matches_the_compose_spec_schema() -> None:
    checker = tool("check-jsonschema", "pip install check-jsonschema (the dev extra)")
    passes(checker, "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml"))


def test_services_use_only_real_settings_and_mounted_secrets() -> None:
    config = compose_config()
    names = real_names()
    for name, service in fusionflow_services(config).items():
        unknown = set(service.get("environment", {})) - names
        assert not unknown, f"{name}: not FusionFlow settings: {sorted(unknown)}"
        mounted = {s["source"] for s in service.get("secrets", [])}
        for value in service.get("environment", {}).values():
            for secret in re.findall(r"/run/secrets/(\w+)", str(value)):
                assert secret in mounted, f"{name} reads secret {secret} but does not mount it"
    # The stores read their secrets from the same files.
    assert set(config["secrets"]) >= {"postgres_password", "redis_password", "minio_password"}


def test_healthchecks_and_start_order() -> None:
    services = compose_config()["services"]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert services["api"]["healthcheck"]["test"][-1].endswith("/readyz")
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["createbucket"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["ui"]["depends_on"]["api"]["condition"] == "service_healthy"
    # Scalable: no fixed container name or host port on the workers.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]


class Stack:
    """The compose file's FusionFlow services run natively, in dependency order."""

    def __init__(
        self, config: dict[str, Any], tmp: Path, values: dict[str, str], stores: dict[str, str]
    ) -> None:
        self.config = config
        self.tmp = tmp
        self.secrets_dir = tmp / "secrets"  # what Compose mounts at /run/secrets
        self.secrets_dir.mkdir()
        for name, value in values.items():
            (self.secrets_dir / name).write_text(value)
        self.stores = stores  # "host:port" of a compose store -> its loopback address
        self.ports = {"api": free_port(), "ui": free_port()}
        self.processes: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.image_env = image_environment()

    def localize(self, value: str, container_ports: dict[str, int]) -> str:
        for address, local in self.stores.items():
            value = value.replace(address, local)
        value = value.replace("/run/secrets/", f"{self.secrets_dir}/")
        value = value.replace("http://api:8000", f"http://127.0.0.1:{self.ports['api']}")
        for container, local_port in container_ports.items():
            value = value.replace(f"127.0.0.1:{container}", f"127.0.0.1:{local_port}")
        return value

    def command(self, service: dict[str, Any], ports: dict[str, int]) -> list[str]:
        argv = [*image_entrypoint(), *service["command"]]
        argv = [str(ports.get(arg, arg)) for arg in argv]  # --port 8501 -> a free port
        argv = ["127.0.0.1" if arg == "0.0.0.0" else arg for arg in argv]  # loopback only
        return [str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0], *argv[1:]]

    def environment(
        self, name: str, service: dict[str, Any], ports: dict[str, int]
    ) -> dict[str, str]:
        data = self.tmp / f"data-{name}-{len(self.processes.get(name, []))}"
        data.mkdir()
        env = {
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "LANG": "C.UTF-8",
            **self.image_env,
            "HOME": str(data),
            "FUSIONFLOW_DATA_DIR": str(data),
            "FUSIONFLOW_HOST": "127.0.0.1",
        }
        if name == "api":
            env["FUSIONFLOW_PORT"] = str(self.ports["api"])
        for key, value in service.get("environment", {}).items():
            env[key] = self.localize(str(value), ports)
        return env

    def container_ports(self, name: str) -> dict[str, int]:
        if name == "api":
            return {"8000": self.ports["api"]}
        if name == "ui":
            return {"8501": self.ports["ui"]}
        return {"9100": free_port()}  # each worker replica its own metrics port

    def run_one_shot(self, name: str) -> None:
        service = self.config["services"][name]
        ports = self.container_ports(name)
        done = subprocess.run(
            self.command(service, ports),
            env=self.environment(name, service, ports),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"

    def start(self, name: str, replicas: int = 1) -> None:
        service = self.config["services"][name]
        for _ in range(replicas):
            ports = self.container_ports(name)
            log = self.tmp / f"{name}-{len(self.processes.get(name, []))}.log"
            with log.open("wb") as output:
                process = subprocess.Popen(
                    self.command(service, ports),
                    env=self.environment(name, service, ports),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            self.processes.setdefault(name, []).append(process)
            self.wait_healthy(name, service, ports, process)

    def wait_healthy(
        self,
        name: str,
        service: dict[str, Any],
        ports: dict[str, int],
        process: subprocess.Popen[bytes],
    ) -> None:
        check = service["healthcheck"]["test"]
        assert check[0] == "CMD", f"{name}: the healthcheck needs no shell"
        argv = [self.localize(arg, ports) for arg in check[1:]]
        argv[0] = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"{name} exited: {self.log(name)}"
            if subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0:
                return
            assert time.monotonic() < deadline, f"{name} never became healthy: {self.log(name)}"
            time.sleep(0.5)

    def log(self, name: str) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.tmp.glob(f"{name}-*.log")))

    def stop(self) -> dict[str, float]:
        """SIGTERM to every process, as `docker compose stop` sends; seconds each took."""
        took: dict[str, float] = {}
        for name, processes in reversed(self.processes.items()):
            for process in processes:
                if process.poll() is None:
                    told = time.monotonic()
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(90)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(10)
                    took[name] = max(took.get(name, 0.0), time.monotonic() - told)
        return took


def descendants(pid: int) -> set[str]:
    """The process ids under ``pid``, as strings (from /proc)."""
    children: dict[str, list[str]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(fields[1], []).append(status.parent.name)
    found, todo = set(), [str(pid)]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def image_environment() -> dict[str, str]:
    """The runtime stage's ENV of the Dockerfile."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    env: dict[str, str] = {}
    for name, args in instructions[last_from:]:
        if name == "ENV":
            env.update(pair.split("=", 1) for pair in args.split())
    return env


def duration_s(text: str) -> float:
    """Compose's duration ("1m30s", "60s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)([hms])", text))


@contextmanager
def stores(
    config: dict[str, Any], values: dict[str, str], s3_endpoint: str
) -> Iterator[dict[str, str]]:
    """PostgreSQL, Redis and S3 set up as the compose file's store services would be."""
    postgres = config["services"]["postgres"]["environment"]
    with ExitStack() as stack:
        admin = stack.enter_context(
            postgres_server(postgres["POSTGRES_USER"], values["postgres_password"])
        )
        with psycopg.connect(f"{admin}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{postgres["POSTGRES_DB"]}"')
        redis_url, _ = stack.enter_context(redis_server(values["redis_password"]))
        yield {
            "postgres:5432": admin.rpartition("@")[2],
            "redis:6379": redis_url.removeprefix("redis://").split("/")[0],
            "http://minio:9000": s3_endpoint,
        }


def test_the_stack_runs_a_job_on_its_workers(
    tmp_path: Path, s3_endpoint: str, s3_client: Any
) -> None:
    config = compose_config()
    services = config["services"]
    bucket = re.search(r"local/(\S+)", " ".join(services["createbucket"]["command"]))
    assert bucket is not None
    api_env = services["api"]["environment"]
    assert api_env["FUSIONFLOW_STORAGE_URL"].startswith(f"s3://{bucket.group(1)}/")
    s3_client.create_bucket(Bucket=bucket.group(1))  # what the createbucket service does

    # As scripts/compose-init makes them (the signing key needs 32 characters or more).
    values = {name: secrets.token_hex(24) for name in config["secrets"]}
    with stores(config, values, s3_endpoint) as addresses:
        stack = Stack(config, tmp_path, values, addresses)
        try:
            stack.run_one_shot("migrate")
            stack.start("api")
            stack.start("worker", replicas=2)
            stack.start("ui")
            worker_pids = set().union(*(descendants(p.pid) for p in stack.processes["worker"]))
            assert httpx.get(f"http://127.0.0.1:{stack.ports['ui']}/").status_code == 200
            job, matches = grep_through_the_api(stack, values["admin_password"])
        finally:
            took = stack.stop()
        for name, seconds in took.items():
            grace = duration_s(services[name].get("stop_grace_period", "10s"))
            assert seconds < grace, f"{name} took {seconds:.1f} s to stop (grace {grace} s)"

        # The shards ran in the stack's worker processes (under dumb-init), not in the API's.
        url = stack.localize(api_env["DATABASE_URL"], {})
        database = Database(
            Settings(database_url=url, database_password=values["postgres_password"]).database
        )
        with database.session() as session:
            ran_on = set(session.scalars(select(Shard.worker).where(Shard.job_id == job["id"])))
        database.dispose()
        pids = {worker.split(":")[1] for worker in ran_on}
        assert pids
        assert pids <= worker_pids, (pids, worker_pids)

        # `fusionflow run` on the same inputs, with the same settings, writes the same bytes.
        expected = tmp_path / "cli"
        cli = subprocess.run(
            [
                str(BIN / "fusionflow"),
                "run",
                "grep",
                *job["inputs"],
                "-e",
                "ERROR",
                "-e",
                "FATAL",
                "-o",
                str(expected),
            ],
            env=stack.environment("cli", services["api"], {}),
            capture_output=True,
            text=True,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        assert matches == (expected / "matches.txt").read_bytes()
        assert matches.count(b"\n") > 10


def grep_through_the_api(stack: Stack, admin_password: str) -> tuple[dict[str, Any], bytes]:
    """Log in as the first admin, upload the example logs, grep them; the job and its
    matches.txt."""
    import io

    with ApiClient(f"http://127.0.0.1:{stack.ports['api']}") as api:
        assert api.login("admin", admin_password)["role"] == "admin"
        ready = api.http.get("/readyz").json()
        assert ready["ready"]
        assert set(ready["checks"]) == {"database", "storage", "broker"}
        files = sorted(p for p in EXAMPLES.rglob("*") if p.is_file())
        items = api.upload(
            [(p.relative_to(EXAMPLES).as_posix(), io.BytesIO(p.read_bytes())) for p in files]
        )
        folder = items[0]["url"].removesuffix("/" + items[0]["name"])
        assert folder.startswith("upload://")  # kept in S3 (readyz checked it), named for users
        job = api.submit("grep", [folder], {"patterns": ["ERROR", "FATAL"]})
        deadline = time.monotonic() + 120
        while (job := api.job(job["id"]))["status"] not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, f"job still {job['status']}: {stack.log('worker')}"
            time.sleep(0.2)
        assert job["status"] == "completed", job.get("error")
        out = io.BytesIO()
        api.download(job["id"], "matches.txt", out)
    return job, out.getvalue()


def test_compose_init_makes_every_secret_the_file_names_once(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "compose-init", tmp_path / "scripts")
    shutil.copy(ROOT / ".env.example", tmp_path)
    first = subprocess.run(
        ["sh", str(tmp_path / "scripts" / "compose-init")],
        capture_output=True,
        text=True,
        check=True,
    )
    folder = tmp_path / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    wanted = {Path(s["file"]).name for s in compose_config()["secrets"].values()}
    made = {p.name: p.read_text() for p in folder.iterdir()}
    assert set(made) == wanted
    for name, value in made.items():
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644  # containers' users read it
        assert "\n" not in value
    assert len(made["secret_key"]) >= 32  # the API refuses a shorter signing key
    key_name, _, key = made["minio_kms_key"].partition(":")
    assert key_name
    assert len(base64.b64decode(key)) == 32
    assert made["admin_password"] in first.stdout
    assert (tmp_path / ".env").read_text() == (ROOT / ".env.example").read_text()
    # Run again: nothing changes (a stack's data is locked with these).
    subprocess.run(
        ["sh", str(tmp_path / "scripts" / "compose-init")], capture_output=True, check=True
    )
    assert {p.name: p.read_text() for p in folder.iterdir()} == made
