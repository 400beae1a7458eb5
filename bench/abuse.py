#!/usr/bin/env python3
"""Abuse on loopback: what anonymous and ordinary users can do to `fusionflow serve`.

    python bench/abuse.py [--flood-clients 16] [--pollers 50] [--duration 10] [--json [PATH]]

Starts `fusionflow serve` (embedded defaults: SQLite, local executor) on a free port, then
runs three scenes, one after the other, and prints their figures:

1. login flood: ``--flood-clients`` anonymous clients post logins with made-up names as
   fast as they are answered, while a signed-in user creates API tokens (a database write)
   every 0.1 s: the writes' p50/p99, and what the flood was answered (200/401/429/503);
2. login and poll: ``--pollers`` users log in at once (coming back after ``Retry-After``
   when answered 503), submit a small job and poll it for the duration: login outcomes
   and the polls' p50/p99;
3. bomb cancel: a grep job with 200 patterns over a 4 MB zstd file holding 40 GiB; once
   it runs, cancel it and time until the server's CPU time stops growing (the kernel has
   really stopped, not just the job's status).

And the server's peak RSS. Bounded: every scene ends after ``--duration`` seconds, and
only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import zstandard

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from api_bench import PASSWORD, free_port, pct, peak_rss_mib, start_server  # noqa: E402
from grep_bench import write_json  # noqa: E402

LINE = b"2026-12-02 12:00:00 INFO request served in 12 ms by worker 7\n"


async def token_of(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    login = await api.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def login_flood(base: str, clients: int, duration: float) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=30) as api:
        admin = await token_of(api, "admin")
        stop = time.monotonic() + duration
        answers: Counter[str] = Counter()
        writes: list[float] = []

        async def guesser() -> None:
            while time.monotonic() < stop:
                form = {"username": f"nobody-{uuid.uuid4().hex}", "password": "guess-guess"}
                try:
                    answers[str((await api.post("/api/v1/auth/token", data=form)).status_code)] += 1
                except httpx.HTTPError as e:
                    answers[type(e).__name__] += 1

        async def writer() -> None:
            n = 0
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                made = await api.post("/api/v1/tokens", json={"name": f"w{n}"}, headers=admin)
                writes.append(time.perf_counter() - t0)
                answers[f"write {made.status_code}"] += 1
                n += 1
                await asyncio.sleep(0.1)

        await asyncio.gather(writer(), *(guesser() for _ in range(clients)))
    return {
        "writes": len(writes),
        "write_p50_ms": pct(writes, 0.5),
        "write_p99_ms": pct(writes, 0.99),
        "answers": dict(sorted(answers.items())),
    }


async def login_and_poll(base: str, users: int, duration: float, small: str) -> dict:
    limits = httpx.Limits(max_connections=users + 10)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as api:
        admin = await token_of(api, "admin")
        for i in range(users):
            body = {"username": f"poller{i:03}", "password": PASSWORD}
            (await api.post("/api/v1/users", json=body, headers=admin)).raise_for_status()
        job_body = {"pipeline": "grep", "inputs": [small], "params": {"patterns": ["ERROR"]}}
        logins: Counter[int] = Counter()
        polls: list[float] = []
        stop = time.monotonic() + duration

        async def user(i: int) -> None:
            form = {"username": f"poller{i:03}", "password": PASSWORD}
            while True:  # a 503 says: come back after Retry-After
                answer = await api.post("/api/v1/auth/token", data=form)
                logins[answer.status_code] += 1
                if answer.status_code != 503 or time.monotonic() > stop:
                    break
                await asyncio.sleep(float(answer.headers.get("Retry-After", 1)))
            if answer.status_code != 200:
                return
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            job = (await api.post("/api/v1/jobs", json=job_body, headers=headers)).json()["id"]
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                await api.get(f"/api/v1/jobs/{job}", headers=headers)
                polls.append(time.perf_counter() - t0)
                await asyncio.sleep(0.2)

        await asyncio.gather(*(user(i) for i in range(users)))
    return {
        "logins": dict(sorted(logins.items())),
        "polls": len(polls),
        "poll_p50_ms": pct(polls, 0.5),
        "poll_p99_ms": pct(polls, 0.99),
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bomb_cancel(base: str, pid: int, bomb: Path, duration: float) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=30) as api:
        admin = await token_of(api, "admin")
        params = {"patterns": [f"worker {n}[0-9]" for n in range(200)], "binary": "text"}
        body = {"pipeline": "grep", "inputs": [str(bomb)], "params": params}
        job = (await api.post("/api/v1/jobs", json=body, headers=admin)).json()["id"]
        deadline = time.monotonic() + duration
        while (await api.get(f"/api/v1/jobs/{job}", headers=admin)).json()["status"] != "running":
            if time.monotonic() > deadline:
                return {"error": "the job never ran"}
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # deep inside the bomb
        asked = time.monotonic()
        await api.post(f"/api/v1/jobs/{job}/cancel", headers=admin)
        status_after = None
        last, still = cpu_seconds(pid), time.monotonic()
        while time.monotonic() - asked < duration:
            await asyncio.sleep(0.1)
            if status_after is None:
                found = (await api.get(f"/api/v1/jobs/{job}", headers=admin)).json()
                if found["status"] == "cancelled":
                    status_after = time.monotonic() - asked
            now = cpu_seconds(pid)
            if now - last > 0.05:  # still burning (more than half a core)
                last, still = now, time.monotonic()
            elif time.monotonic() - still > 1.0:
                break
    return {"status_cancelled_s": status_after, "cpu_stopped_s": round(still - asked, 2)}


def make_bomb(path: Path) -> Path:
    frame = zstandard.ZstdCompressor(level=19).compress(LINE * ((64 << 20) // len(LINE)))
    path.write_bytes(frame * 640)  # 40 GiB decoded
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-clients", type=int, default=16)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--json", nargs="?", const="-", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ff-abuse-") as tmp:
        scratch = Path(tmp)
        port = free_port()
        server = start_server(scratch, port, None)
        base = f"http://127.0.0.1:{port}"
        allowed = scratch / "allowed"
        try:
            results = {
                "login_flood": asyncio.run(login_flood(base, args.flood_clients, args.duration)),
                "login_and_poll": asyncio.run(
                    login_and_poll(base, args.pollers, args.duration, str(allowed / "small.log"))
                ),
                "bomb_cancel": asyncio.run(
                    bomb_cancel(base, server.pid, make_bomb(allowed / "bomb.log.zst"), 30)
                ),
                "server_peak_rss_mib": round(peak_rss_mib(server.pid), 1),
            }
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    for scene, figures in results.items():
        print(f"{scene}: {figures}")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
