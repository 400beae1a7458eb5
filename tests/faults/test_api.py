"""The API process in trouble: killed (SIGKILL) during an upload and during job
submissions, and restarted, one process after the other, behind nginx while clients
poll and submit. An upload is whole or absent; a submitted job exists and runs, or does
not exist; a rolling restart fails no request."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from fusionflow.db import Job, JobStatus
from tests.api.conftest import ADMIN_PASSWORD
from tests.api.processes import base_env, launch
from tests.faults.conftest import Stack
from tests.servers import NginxServer, free_port

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "fusionflow.conf"
TINY: dict = {"patterns": ["ERROR"]}


@pytest.fixture
def api_env(stack: Stack, tmp_path: Path, corpus: Path) -> dict[str, str]:
    return {
        **base_env(tmp_path / "data"),
        **stack.env,
        "FUSIONFLOW_SECRET_KEY": "one key for every API process, 40 characters",
        "FUSIONFLOW_ALLOWED_ROOTS": os.pathsep.join([str(tmp_path), str(corpus.parent)]),
    }


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    """One small log: jobs that finish in a moment."""
    (tmp_path / "tiny").mkdir()
    path = tmp_path / "tiny" / "app.log"
    path.write_text("INFO up\nERROR one\nINFO on\nERROR two\n")
    return [str(path)]


class Api:
    """`fusionflow serve` processes on fixed ports, killed and started again at will."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, port: int | None = None) -> int:
        port = port or free_port()
        self.processes[port] = launch(self.env, self.logs, port)
        deadline = time.monotonic() + 60
        while httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, f"serve on {port} never ready"
            time.sleep(0.1)
        return port

    def stop(self, port: int, sig: signal.Signals) -> None:
        process = self.processes.pop(port)
        process.send_signal(sig)
        process.wait(60)

    def close(self) -> None:
        for port in list(self.processes):
            self.stop(port, signal.SIGKILL)


@pytest.fixture
def api(api_env: dict[str, str], tmp_path: Path) -> Iterator[Api]:
    processes = Api(api_env, tmp_path)
    yield processes
    processes.close()


def bearer(base_url: str) -> dict[str, str]:
    form = {"username": "admin", "password": ADMIN_PASSWORD}
    response = httpx.post(f"{base_url}/auth/token", data=form, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class Trickle(io.RawIOBase):
    """An endless file, read slowly; ``sent`` is set once ``after`` bytes were read."""

    def __init__(self, after: int) -> None:
        self.read_bytes, self.after = 0, after
        self.sent = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.read_bytes >= self.after:
            self.sent.set()
            time.sleep(0.05)
        chunk = b"ERROR half-sent\n" * (len(buffer) // 16)
        buffer[: len(chunk)] = chunk
        self.read_bytes += len(chunk)
        return len(chunk)


def test_api_killed_during_an_upload(stack: Stack, api: Api) -> None:
    port = api.start()
    base = f"http://127.0.0.1:{port}/api/v1"
    auth = bearer(base)
    whole = b"ERROR whole\n" * 1000
    before = httpx.post(
        f"{base}/uploads", files={"files": ("before.log", whole)}, headers=auth, timeout=30
    )
    assert before.status_code == 201, before.text

    body = Trickle(after=8 << 20)
    outcome: list[BaseException | httpx.Response] = []

    def upload() -> None:
        try:
            outcome.append(
                httpx.post(
                    f"{base}/uploads",
                    files={"files": ("cut.log", body)},
                    headers=auth,
                    timeout=60,
                )
            )
        except httpx.HTTPError as e:
            outcome.append(e)

    sender = threading.Thread(target=upload)
    sender.start()
    assert body.sent.wait(60), "the upload never got going"
    api.stop(port, signal.SIGKILL)
    killed = time.monotonic()
    sender.join(60)
    assert not any(isinstance(o, httpx.Response) for o in outcome), outcome  # no answer

    api.start(port)
    back = time.monotonic() - killed
    auth = bearer(base)
    listed = httpx.get(f"{base}/uploads", headers=auth, timeout=30).json()
    assert [item["name"] for item in listed] == ["before.log"]
    # Nothing of the cut file reached storage; the whole one is there, whole.
    keys = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.bucket).get("Contents", [])]
    assert [key.rsplit("/", 1)[-1] for key in keys if "/uploads/" in key] == ["before.log"]
    # As an input, the user's uploads are what was whole.
    stack.start_workers()
    submitted = httpx.post(
        f"{base}/jobs",
        json={"pipeline": "grep", "inputs": [listed[0]["url"].rsplit("/", 2)[0]], "params": TINY},
        headers=auth,
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    done = stack.wait(submitted.json()["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    summary = httpx.get(f"{base}/jobs/{done.id}/summary", headers=auth, timeout=30).json()
    assert (summary["files_total"], summary["matches"]) == (1, 1000)
    stack.assert_nothing_stuck()
    stack.report(
        "API SIGKILLed during an upload",
        "completed: the cut upload absent, the earlier one whole",
        back,
        True,
    )


def test_api_killed_during_job_submissions(stack: Stack, api: Api, tiny: list[str]) -> None:
    stack.start_workers()
    port = api.start()
    base = f"http://127.0.0.1:{port}/api/v1"
    auth = bearer(base)
    accepted: list[str] = []
    stop = threading.Event()

    def submit_until_killed() -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            while not stop.is_set():
                try:
                    job = {"pipeline": "grep", "inputs": tiny, "params": TINY}
                    response = client.post("/jobs", json=job)
                except httpx.HTTPError:
                    return  # killed: this submission's answer is lost
                assert response.status_code == 202, response.text
                accepted.append(response.json()["id"])

    submitters = [threading.Thread(target=submit_until_killed) for _ in range(8)]
    for thread in submitters:
        thread.start()
    stack.wait_until(lambda: len(accepted) >= 20, 60, "submissions under way")
    api.stop(port, signal.SIGKILL)
    killed = time.monotonic()
    stop.set()
    for thread in submitters:
        thread.join(60)
    api.start(port)

    # Every job the database has runs to the end: those answered and those whose answer
    # the kill cut off; none is half made or stuck.
    def every_job_finished() -> bool:
        with stack.db.session() as session:
            statuses = session.scalars(select(Job.status)).all()
        return all(status in JobStatus.FINISHED for status in statuses)

    stack.wait_until(every_job_finished, 120, "every submitted job finished")
    recovered = time.monotonic() - killed
    with stack.db.session() as session:
        jobs = dict(session.execute(select(Job.id, Job.status)).all())
    assert set(accepted) <= set(jobs)
    assert set(jobs.values()) == {JobStatus.COMPLETED}, jobs
    stack.assert_nothing_stuck()
    stack.report(
        "API SIGKILLed during job submissions",
        f"completed: {len(jobs)} jobs, {len(jobs) - len(accepted)} unanswered; none half",
        recovered,
        True,
    )


def test_rolling_restart_behind_nginx_fails_no_request(
    stack: Stack, api: Api, tiny: list[str], tmp_path: Path
) -> None:
    stack.start_workers()
    ports = [api.start(), api.start()]
    with NginxServer(SITE, ports, tmp_path / "nginx") as nginx:
        base = f"http://127.0.0.1:{nginx.port}/api/v1"
        auth = bearer(base)
        job = {"pipeline": "grep", "inputs": tiny, "params": TINY}
        polled = httpx.post(f"{base}/jobs", json=job, headers=auth, timeout=30).json()["id"]
        failures: list[str] = []
        accepted: list[str] = []
        answered: list[int] = []  # list.append is atomic across threads
        stop = threading.Event()

        def client(number: int) -> None:
            with httpx.Client(base_url=base, headers=auth, timeout=60) as session:
                turn = number  # submissions spread over the clients' turns
                while not stop.is_set():
                    turn += 1
                    submitting = turn % 40 == 0
                    try:
                        if submitting:
                            response = session.post("/jobs", json=job)
                        else:
                            response = session.get(f"/jobs/{polled}")
                    except httpx.HTTPError as e:
                        failures.append(f"{type(e).__name__}: {e}")
                        continue
                    answered.append(1)
                    if response.status_code != (202 if submitting else 200):
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                    elif submitting:
                        accepted.append(response.json()["id"])
                    time.sleep(0.1)

        clients = [threading.Thread(target=client, args=(n,)) for n in range(50)]
        for thread in clients:
            thread.start()
        time.sleep(3)
        began = time.monotonic()
        for port in ports:  # one after the other, each back before the next goes
            api.stop(port, signal.SIGTERM)
            api.start(port)
        took = time.monotonic() - began
        time.sleep(3)
        stop.set()
        for thread in clients:
            thread.join(120)
        tried = nginx.upstreams_tried()

    assert failures == [], failures[:5]
    assert len(answered) > 500, len(answered)
    # The restarts were felt: requests nginx passed on after a process refused them.
    assert any(len(upstreams) > 1 for upstreams in tried)
    assert {up for upstreams in tried for up in upstreams} >= {f"127.0.0.1:{p}" for p in ports}
    for job_id in [polled, *accepted]:
        assert stack.wait(job_id).status == JobStatus.COMPLETED
    stack.assert_nothing_stuck()
    stack.report(
        "Rolling restart of 2 API processes behind nginx, 50 clients",
        f"completed: {len(answered)} requests, {len(accepted)} jobs submitted, 0 failed",
        took,
        True,
    )
