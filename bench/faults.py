#!/usr/bin/env python3
"""The fault suite's figures: what each fault does to a running job, and how soon after
it ends the job has completed.

    python bench/faults.py [--runs 3] [-k EXPR]

Runs ``tests/faults`` (real PostgreSQL, Redis, moto's S3 server and two `fusionflow
worker` processes, all on loopback; the job: grep over 40 files, one a shard) ``--runs``
times and prints, per fault, the outcome, the median time from the fault's end to the
job's end (for a fault that lasts the whole job, the job's time) with the range seen, and
whether the outputs equalled an in-process run's byte for byte in every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-k", default=None, help="only the cases pytest -k selects")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "faults.jsonl"
        env = {**os.environ, "FUSIONFLOW_FAULT_REPORT": str(report)}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"]
        if args.k:
            command += ["-k", args.k]
        for run in range(1, args.runs + 1):
            print(f"run {run} of {args.runs}", file=sys.stderr, flush=True)
            if subprocess.run(command, cwd=ROOT, env=env).returncode != 0:
                sys.exit("a fault case failed: see pytest's report above")
        lines = [json.loads(line) for line in report.read_text().splitlines()]

    cases: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        cases[line["fault"]].append(line)
    print("| fault | outcome | time to recover (median, range) | output exact |")
    print("|---|---|---|---|")
    for fault, seen in cases.items():
        times = [case["recovered_s"] for case in seen]
        outcome = seen[0]["outcome"].split(":")[0]
        exact = "yes" if all(case["exact"] for case in seen) else "n/a (job failed)"
        spread = f"{statistics.median(times):.1f} s ({min(times):.1f} to {max(times):.1f})"
        print(f"| {fault} | {outcome} | {spread} | {exact} |")


if __name__ == "__main__":
    main()
