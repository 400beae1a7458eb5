#!/usr/bin/env python3
"""Load on the REST API: concurrent users against a real `fusionflow serve` on loopback.

    python bench/api_bench.py [--users 100] [--duration 30] [--think 1.0] [--json [PATH]]

Starts `fusionflow serve` (embedded defaults: SQLite, local executor) on a free port,
creates the users through the admin API and logs each in. Then every user, in a loop
with ``--think`` seconds between requests (a UI polling), does one of: poll its job
(``GET /jobs/{id}``), list its jobs (``GET /jobs``) or submit a small grep job
(``POST /jobs``), in the ratio 54:36:10 (``--submit`` sets the last; the jobs run in the
server process). Prints p50/p95/p99 latency per endpoint, errors, throughput and the
server's peak RSS. With ``--think 0`` the users hammer the server as fast as it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from grep_bench import write_json  # noqa: E402

PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(scratch: Path, port: int, database_url: str | None) -> subprocess.Popen:
    allowed = scratch / "allowed"
    allowed.mkdir()
    (allowed / "small.log").write_text("ok\nERROR disk full\n" * 200)
    env = {
        **os.environ,
        "FUSIONFLOW_DATA_DIR": str(scratch / "data"),
        "FUSIONFLOW_ADMIN_PASSWORD": PASSWORD,
        "FUSIONFLOW_ALLOWED_ROOTS": str(allowed),
    }
    env.pop("REDIS_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    fusionflow = Path(sys.executable).with_name("fusionflow")
    server = subprocess.Popen(
        [fusionflow, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(scratch / "serve.log").open("wb"),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"serve did not start: {(scratch / 'serve.log').read_text()}")
        time.sleep(0.1)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def setup_users(base: str, users: int, small: str) -> list[tuple[dict[str, str], str]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as api:
        token = (
            await api.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD})
        ).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        # Users read only what is granted: every one joins a group granted the corpus.
        (await api.post("/api/v1/groups", json={"name": "bench"}, headers=admin)).raise_for_status()
        grant = {"location": small, "group": "bench"}
        (await api.post("/api/v1/grants", json=grant, headers=admin)).raise_for_status()
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> tuple[dict[str, str], str]:
            async with sem:
                name = f"user{i:03}"
                body = {"username": name, "password": PASSWORD}
                made = await api.post("/api/v1/users", json=body, headers=admin)
                made.raise_for_status()
                member = f"/api/v1/groups/bench/members/{made.json()['id']}"
                (await api.put(member, headers=admin)).raise_for_status()
                login = await api.post(
                    "/api/v1/auth/token", data={"username": name, "password": PASSWORD}
                )
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                job = await api.post("/api/v1/jobs", json=job_body(small), headers=headers)
                job.raise_for_status()
                return headers, job.json()["id"]

        return await asyncio.gather(*(one(i) for i in range(users)))


def job_body(small: str) -> dict:
    return {"pipeline": "grep", "inputs": [small], "params": {"patterns": ["ERROR"]}}


async def load(
    base: str,
    sessions: list[tuple[dict[str, str], str]],
    duration: float,
    think: float,
    small: str,
    submit: float,
) -> tuple[dict[str, list[float]], dict[str, int]]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    kinds: dict[str, int] = defaultdict(int)
    limits = httpx.Limits(max_connections=len(sessions) + 10)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as api:
        stop = time.monotonic() + duration

        async def user(headers: dict[str, str], job_id: str, seed: int) -> None:
            rng = random.Random(seed)
            await asyncio.sleep(rng.random() * max(think, 0.1))  # spread the starts
            while time.monotonic() < stop:
                roll = rng.random()
                if roll < 0.6 * (1 - submit):
                    name, call = (
                        "GET /jobs/{id}",
                        api.get(f"/api/v1/jobs/{job_id}", headers=headers),
                    )
                elif roll < 1 - submit:
                    name, call = "GET /jobs", api.get("/api/v1/jobs?limit=20", headers=headers)
                else:
                    name, call = (
                        "POST /jobs",
                        api.post("/api/v1/jobs", json=job_body(small), headers=headers),
                    )
                t0 = time.perf_counter()
                try:
                    response = await call
                    ok = response.status_code < 400
                    kind = f"{name}: HTTP {response.status_code}"
                except httpx.HTTPError as e:
                    ok = False
                    kind = f"{name}: {type(e).__name__}"
                latencies[name].append(time.perf_counter() - t0)
                if not ok:
                    errors[name] += 1
                    kinds[kind] += 1
                if think:
                    await asyncio.sleep(think * (0.5 + rng.random()))

        await asyncio.gather(*(user(h, j, i) for i, (h, j) in enumerate(sessions)))
    for kind, count in sorted(kinds.items()):
        print(f"error {kind} x{count}")
    return latencies, errors


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument(
        "--think", type=float, default=1.0, help="Seconds between a user's requests."
    )
    parser.add_argument(
        "--submit", type=float, default=0.1, help="Share of requests that submit a job."
    )
    parser.add_argument("--database-url", help="Serve on this database instead of SQLite.")
    parser.add_argument("--json", nargs="?", const="-", help="Write the results as JSON.")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fusionflow-api-bench-") as tmp:
        scratch = Path(tmp)
        port = free_port()
        server = start_server(scratch, port, args.database_url)
        base = f"http://127.0.0.1:{port}"
        small = str(scratch / "allowed" / "small.log")
        try:
            t0 = time.perf_counter()
            sessions = asyncio.run(setup_users(base, args.users, small))
            print(f"{args.users} users created and logged in in {time.perf_counter() - t0:.1f} s")
            latencies, errors = asyncio.run(
                load(base, sessions, args.duration, args.think, small, args.submit)
            )
            rss = peak_rss_mib(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)

    total = sum(len(v) for v in latencies.values())
    print(
        f"\n{args.users} users, think {args.think} s, {args.duration:.0f} s: {total} requests, "
        f"{total / args.duration:.0f} req/s, {sum(errors.values())} errors, "
        f"server peak RSS {rss:.0f} MiB"
    )
    header = ["requests", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    print(f"{'endpoint':<16} " + " ".join(f"{h:>8}" for h in header))
    rows = {}
    for name in sorted(latencies):
        values = latencies[name]
        row = {
            "requests": len(values),
            "errors": errors.get(name, 0),
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(pct(values, 0.95), 1),
            "p99_ms": round(pct(values, 0.99), 1),
            "max_ms": round(max(values) * 1000, 1),
        }
        rows[name] = row
        print(
            f"{name:<16} {row['requests']:>8} {row['errors']:>6} {row['p50_ms']:>8} "
            f"{row['p95_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8}"
        )
    worst = max(row["p99_ms"] for row in rows.values())
    print(f"\nworst p99 {worst} ms (target < 200 ms, goal < 50 ms)")
    if args.json:
        write_json(
            args.json,
            {
                "users": args.users,
                "think_s": args.think,
                "duration_s": args.duration,
                "requests": total,
                "errors": sum(errors.values()),
                "server_peak_rss_mib": round(rss, 1),
                "endpoints": rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
