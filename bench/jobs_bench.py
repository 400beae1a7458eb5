#!/usr/bin/env python3
"""What the job machinery costs: FusionFlow jobs next to in-process runs.

    python bench/jobs_bench.py [--size 1GB] [--runs 3] [--overhead-runs 30] [--json [PATH]]

1. Overhead: a one-file grep job on the local executor (SQLite, the embedded default),
   from submit to completed, against ``fusionflow.run`` of the same file in-process.
2. Scale-out: the grep corpus (plain tree, as bench/grep_bench.py) as a sharded job on two
   Celery worker processes (Redis broker started here on a free port, SQLite shared
   through the data dir) against the in-process run, alternating run by run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fusionflow  # noqa: E402
import gen_logs  # noqa: E402
from fusionflow.config import Settings  # noqa: E402
from fusionflow.db import Database, migrate  # noqa: E402
from fusionflow.executors import LocalExecutor  # noqa: E402
from grep_bench import COMPRESSED_GLOBS, ensure_corpus, write_json  # noqa: E402

PARAMS = {"patterns": ["ERROR", "FATAL"]}
MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def overhead(runs: int, scratch: Path) -> dict:
    log = scratch / "one.log"
    log.write_text("ok\nERROR disk full\n" * 1000)
    settings = Settings(data_dir=scratch / "overhead")
    migrate.upgrade(settings.database)
    db = Database(settings.database)
    executor = LocalExecutor(db, settings).start()
    job_s, run_s = [], []
    try:
        for i in range(runs + 1):  # the first of each warms caches
            t0 = time.perf_counter()
            job = executor.jobs.submit("grep", [str(log)], PARAMS)
            done = executor.jobs.wait(job.id, timeout=60, poll=0.002)
            elapsed = time.perf_counter() - t0
            assert done.status == "completed", done.error
            t0 = time.perf_counter()
            fusionflow.run("grep", [str(log)], PARAMS, scratch / f"run{i}")
            in_process = time.perf_counter() - t0
            if i:
                job_s.append(elapsed)
                run_s.append(in_process)
    finally:
        executor.close()
        db.dispose()
    result = {
        "job_median_ms": 1000 * statistics.median(job_s),
        "job_p95_ms": 1000 * sorted(job_s)[int(0.95 * (len(job_s) - 1))],
        "in_process_median_ms": 1000 * statistics.median(run_s),
    }
    print(
        f"overhead: one-file job submit->completed median {result['job_median_ms']:.0f} ms "
        f"(p95 {result['job_p95_ms']:.0f} ms); in-process run {result['in_process_median_ms']:.0f}"
        " ms; goal <= 300 ms"
    )
    return result


def scale_out(corpus: Path, runs: int, scratch: Path, shard_bytes: int, concurrency: int) -> dict:
    redis = shutil.which("redis-server")
    if redis is None:
        raise SystemExit("redis-server is needed for the scale-out part")
    port = free_port()
    broker = subprocess.Popen(
        [redis, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    data = scratch / "celery"
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "FUSIONFLOW_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'fusionflow.db'}",
        "FUSIONFLOW_SHARD_BYTES": str(shard_bytes),
    }
    env.pop("S3_ENDPOINT_URL", None)
    settings = Settings(data_dir=data, redis_url=env["REDIS_URL"], database_url=env["DATABASE_URL"])
    migrate.upgrade(settings.database)
    script = Path(sys.executable).with_name("fusionflow")
    workers = [
        subprocess.Popen(
            [script, "worker", "--loglevel", "WARNING", "--concurrency", str(concurrency)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    from fusionflow.executors.celery import CeleryExecutor

    db = Database(settings.database)
    executor = CeleryExecutor(db, settings)
    params = {**PARAMS, "exclude": COMPRESSED_GLOBS}
    size = sum(
        p.stat().st_size
        for p in corpus.rglob("*")
        if p.is_file() and p.suffix not in (".gz", ".bz2")
    )
    job_s, run_s, cli_s, shards = [], [], [], 0
    cli = [str(script), "run", "grep", str(corpus), "-e", "ERROR", "-e", "FATAL"]
    cli += [arg for glob in COMPRESSED_GLOBS for arg in ("--exclude", glob)]
    try:
        time.sleep(3)  # workers connect
        for i in range(runs):
            t0 = time.perf_counter()
            job = executor.jobs.submit("grep", [str(corpus)], params)
            done = executor.jobs.wait(job.id, timeout=600, poll=0.01)
            job_s.append(time.perf_counter() - t0)
            assert done.status == "completed", done.error
            shards = done.shards_total
            t0 = time.perf_counter()
            fusionflow.run("grep", [str(corpus)], params, scratch / f"scale{i}")
            run_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([*cli, "-o", str(scratch / f"cli{i}")], check=True)
            cli_s.append(time.perf_counter() - t0)
            print(
                f"  run {i + 1}: job {job_s[-1]:.2f} s, library call {run_s[-1]:.2f} s, "
                f"CLI command {cli_s[-1]:.2f} s",
                flush=True,
            )
    finally:
        executor.close()
        db.dispose()
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
        broker.terminate()
        broker.wait()
    job_median, run_median = statistics.median(job_s), statistics.median(run_s)
    cli_median = statistics.median(cli_s)
    result = {
        "bytes": size,
        "shard_bytes": shard_bytes,
        "worker_concurrency": concurrency,
        "shards": shards,
        "job_median_s": job_median,
        "library_median_s": run_median,
        "cli_median_s": cli_median,
        "job_mib_s": size / MIB / job_median,
        "library_mib_s": size / MIB / run_median,
        "ratio_vs_library": run_median / job_median,
        "ratio_vs_cli": cli_median / job_median,
    }
    print(
        f"scale-out: {size / MIB:.0f} MiB in {shards} shards (<= {shard_bytes / MIB:.0f} MiB) on "
        f"2 Celery workers x {concurrency} {job_median:.2f} s ({result['job_mib_s']:.0f} MiB/s); "
        f"library call {run_median:.2f} s: {result['ratio_vs_library']:.2f}x; "
        f"CLI command {cli_median:.2f} s: {result['ratio_vs_cli']:.2f}x (target >= 0.8x)"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=gen_logs.parse_size, default=gen_logs.parse_size("1GB"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--overhead-runs", type=int, default=30)
    ap.add_argument(
        "--shard-bytes",
        type=gen_logs.parse_size,
        action="append",
        help="shard size limit(s) to measure (repeatable; default: 256MB, the default setting)",
    )
    ap.add_argument("--json", nargs="?", const="-", metavar="PATH")
    ap.add_argument(
        "--worker-concurrency",
        type=int,
        action="append",
        help="shards each worker runs at once (repeatable; default: 1, the default setting)",
    )
    args = ap.parse_args(argv)
    label = f"logs-{gen_logs.format_size(args.size)}-{args.seed}"
    corpus = ensure_corpus(HERE / ".data" / label, args.size, args.seed, 0.15, None).resolve()
    with tempfile.TemporaryDirectory(prefix="ff-jobs-bench-") as tmp:
        scratch = Path(tmp)
        results = {
            "overhead": overhead(args.overhead_runs, scratch),
            "scale_out": [
                scale_out(corpus, args.runs, scratch, shard_bytes, concurrency)
                for shard_bytes in args.shard_bytes or [256 * MIB]
                for concurrency in args.worker_concurrency or [1]
            ],
        }
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
