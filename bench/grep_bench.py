#!/usr/bin/env python3
"""Side-by-side grep benchmark: ripgrep vs FusionFlow on a generated server-log corpus.

    python bench/grep_bench.py [--corpus DIR] [--size 1GB] [--runs 5] [--json [PATH]]

Two trees are measured: "plain" (the corpus with .gz/.bz2 excluded) and "gz" (a second corpus in
which nearly every log is gzipped, searched with decompression). Without --corpus both are
generated once into bench/.data/ (git-ignored). See bench/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_logs  # noqa: E402  (sibling script, not an installed package)

PATTERNS = ["ERROR", "FATAL"]
COMPRESSED_GLOBS = ["*.gz", "*.bz2"]
MIB = 1 << 20

# Runs in a fresh interpreter so each run gets its own peak RSS; only the library call is timed
# (with a cold page cache for nothing: the parent warms it first).
FF_CHILD = r"""
import json, sys, tempfile, time
import fusionflow
from fusionflow.pipelines import get
get("grep")  # load the pipeline (pydantic) first: start-up is measured as CLI overhead
inputs, params = json.loads(sys.argv[1]), json.loads(sys.argv[2])
with tempfile.TemporaryDirectory(prefix="ff-bench-") as out:
    t0 = time.perf_counter()
    summary = fusionflow.run("grep", inputs=inputs, params=params, output=out)
    elapsed = time.perf_counter() - t0
if not isinstance(summary, dict):
    summary = getattr(summary, "__dict__", {"repr": repr(summary)})
print(json.dumps({"elapsed": elapsed, "summary": summary}, default=str))
"""


@dataclass
class Tree:
    name: str  # "plain" or "gz"
    root: Path
    exclude: list[str]  # globs both tools skip
    files: int = 0
    bytes: int = 0  # uncompressed bytes in scope: the MB in MB/s
    disk_bytes: int = 0


@dataclass
class Proc:
    wall: float
    maxrss_kb: int
    cpu: float
    rc: int
    stdout: bytes = b""
    stderr: str = ""


@dataclass
class Result:
    tool: str
    tree: str
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    matches: int | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def _gnu_time() -> str | None:
    """GNU time, if present: it reports the peak RSS of its own (small) child correctly."""
    exe = "/usr/bin/time"
    if not os.access(exe, os.X_OK):
        return None
    ok = subprocess.run(
        [exe, "-f", "%M", "-o", os.devnull, "true"], capture_output=True, check=False
    )
    return exe if ok.returncode == 0 else None


# A child forked from this (large) Python process inherits its RSS high-water mark, so
# os.wait4's ru_maxrss is never below our own RSS. Peak RSS therefore comes from GNU time's
# %M when available; wait4 still supplies CPU time (it includes reaped grandchildren, e.g.
# the gzip processes of `rg -z`).
GNU_TIME = _gnu_time()
RSS_METHOD = "GNU time %M" if GNU_TIME else "os.wait4 ru_maxrss (floored at this script's RSS)"


def run(cmd: list[str], capture: bool = False, stdout_file: Path | None = None) -> Proc:
    """Run cmd once: wall time, peak RSS (KB), CPU seconds, exit code, output.

    With stdout_file, output goes to that new file: the same work FusionFlow does when it
    writes matches.txt (rg > /dev/null would skip the output entirely).
    """
    sink = stdout_file.open("wb") if stdout_file else None
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        full = [GNU_TIME, "-f", "%M", "-o", rss.name, *cmd] if GNU_TIME else cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else (sink or subprocess.DEVNULL),
            stderr=err,
        )
        out = p.stdout.read() if capture else b""  # drain before waiting: no pipe deadlock
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # so Popen won't wait again
        if p.stdout:
            p.stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        # GNU time may prefix "Command exited with non-zero status N"; %M is the last line.
        lines = rss.read().split()
        maxrss = int(lines[-1]) if GNU_TIME and lines and lines[-1].isdigit() else ru.ru_maxrss
    if sink:
        sink.close()
    return Proc(wall, maxrss, ru.ru_utime + ru.ru_stime, p.returncode, out, stderr)


def write_json(target: str, doc: dict) -> None:
    """Results as JSON on stdout (`-`) or into a file."""
    text = json.dumps(doc, indent=2, default=str)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n")


# --------------------------------------------------------------------------------------------
# Corpus


def ensure_corpus(path: Path, size: int, seed: int, gz_fraction: float, jobs: int | None) -> Path:
    """Generate into path once; a .partial dir is renamed at the end so aborts don't stick."""
    if path.is_dir():
        return path
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"generating {path} ...", flush=True)
    gen_logs.generate(tmp, size, seed, gz_fraction, jobs)
    tmp.rename(path)
    return path


def excluded(rel: str, globs: list[str]) -> bool:
    return any(Path(rel).match(g) for g in globs)


def warm_and_measure(tree: Tree) -> None:
    """Read every in-scope file once (page cache) and count uncompressed bytes."""
    for path in sorted(p for p in tree.root.rglob("*") if p.is_file()):
        if excluded(str(path.relative_to(tree.root)), tree.exclude):
            continue
        tree.files += 1
        tree.disk_bytes += path.stat().st_size
        opener = {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix, open)
        if opener is not open:
            path.read_bytes()  # the compressed bytes are what the tools read from cache
        with opener(path, "rb") as f:
            while chunk := f.read(4 * MIB):
                tree.bytes += len(chunk)


# --------------------------------------------------------------------------------------------
# ripgrep


def rg_cmd(rg: str, tree: Tree, *flags: str) -> list[str]:
    cmd = [rg, *flags, "--no-ignore"]  # bench/.data is git-ignored: don't let rg skip it
    for g in tree.exclude:
        cmd += ["-g", f"!{g}"]
    if tree.name == "gz":
        cmd.append("-z")
    for p in PATTERNS:
        cmd += ["-e", p]
    return [*cmd, str(tree.root)]


def count_lines(out: bytes) -> int:
    """Match lines in `rg -n` output ("path:line:text"), not binary-file notices."""
    return len(re.findall(rb"^[^\n]*?:\d+:", out, re.MULTILINE))


def sum_counts(out: bytes) -> int:
    """Total of `rg -c` output ("path:count" per file)."""
    return sum(int(line.rsplit(b":", 1)[1]) for line in out.splitlines() if line)


def time_rg(rg: str, tree: Tree, res: Result) -> None:
    """One timed ripgrep run, its output written to a new file."""
    with tempfile.TemporaryDirectory(prefix="rg-bench-") as out:
        p = run(rg_cmd(rg, tree, "-n"), stdout_file=Path(out) / "matches.txt")
    if p.rc not in (0, 1):  # 1 = no match; 2 = error (may still have searched)
        res.note = f"rg exit {p.rc}: {p.stderr.strip()[-300:]}"
    res.seconds.append(p.wall)
    res.rss_mb.append(p.maxrss_kb / 1024)
    res.cpu_s.append(p.cpu)


def count_rg(rg: str, tree: Tree, res: Result) -> None:
    # Repeated: the -n count can differ between runs (see README, "match counts").
    counts = [count_lines(run(rg_cmd(rg, tree, "-n"), capture=True).stdout) for _ in range(3)]
    res.matches = counts[-1]
    res.extra["rg_n_counts"] = sorted(set(counts))
    res.extra["rg_c_total"] = sum_counts(run(rg_cmd(rg, tree, "-c"), capture=True).stdout)
    res.extra["rg_a_c_total"] = sum_counts(run(rg_cmd(rg, tree, "-a", "-c"), capture=True).stdout)


# --------------------------------------------------------------------------------------------
# FusionFlow


def ff_available() -> tuple[bool, str]:
    p = run(
        [sys.executable, "-c", "import fusionflow; print(getattr(fusionflow, '__version__', '?'))"],
        capture=True,
    )
    if p.rc != 0:
        return False, (p.stderr.strip().splitlines() or ["import failed"])[-1]
    return True, p.stdout.decode().strip()


def ff_once(tree: Tree, binary: str | None = None) -> tuple[Proc, dict]:
    params: dict = {"patterns": PATTERNS}
    if tree.exclude:
        params["exclude"] = tree.exclude
    if binary:
        params["binary"] = binary
    p = run(
        [sys.executable, "-c", FF_CHILD, json.dumps([str(tree.root)]), json.dumps(params)],
        capture=True,
    )
    if p.rc != 0:
        raise RuntimeError(f"fusionflow child exit {p.rc}: {p.stderr.strip()[-500:]}")
    return p, json.loads(p.stdout.decode().strip().splitlines()[-1])


def time_ff(tree: Tree, res: Result) -> None:
    """One timed FusionFlow run (the library call only) in a fresh interpreter."""
    try:
        p, data = ff_once(tree)
    except (RuntimeError, ValueError, KeyError) as e:
        res.note = str(e)
        return
    res.seconds.append(data["elapsed"])
    res.rss_mb.append(p.maxrss_kb / 1024)
    res.cpu_s.append(p.cpu)
    res.extra.setdefault("process_wall_s", []).append(round(p.wall, 4))
    res.matches = data["summary"].get("matches")
    res.extra["summary"] = data["summary"]


def count_ff(tree: Tree, res: Result) -> None:
    # Same search with binaries read as text: comparable to `rg -a -c`.
    try:
        _, text = ff_once(tree, binary="text")
        res.extra["binary_text_matches"] = text["summary"].get("matches")
    except (RuntimeError, ValueError, KeyError) as e:
        res.note = str(e)


def bench_tree(rg: str | None, ff_ok: bool, tree: Tree, runs: int) -> list[Result]:
    """Alternate the tools run by run, so that drift on a noisy machine hits both alike."""
    rg_res = Result("ripgrep", tree.name) if rg else None
    ff_res = Result("fusionflow", tree.name) if ff_ok else None
    print(f"{tree.name} tree: {runs} alternating runs ...", flush=True)
    for _ in range(runs):
        if rg and rg_res:
            time_rg(rg, tree, rg_res)
        if ff_res:
            time_ff(tree, ff_res)
    if rg and rg_res:
        count_rg(rg, tree, rg_res)
    if ff_res:
        count_ff(tree, ff_res)
    return [r for r in (rg_res, ff_res) if r]


def bench_cli(runs: int, rg: str | None, seed: int) -> list[Result]:
    """Process start-up cost: `fusionflow --version` and a one-small-file grep."""
    results = []
    with tempfile.TemporaryDirectory(prefix="ff-cli-") as tmp:
        spec = gen_logs.FileSpec("small/app.log", "java", 64 << 10, "host01", "billing")
        gen_logs.write_file(Path(tmp), spec, seed)
        small = str(Path(tmp) / spec.path)
        # The script of this interpreter's environment: a PATH lookup may find a version
        # manager's shim (pyenv's adds ~50 ms of bash to every call).
        beside = Path(sys.executable).with_name("fusionflow")
        ff = str(beside) if beside.exists() else shutil.which("fusionflow")
        cmds = []
        if ff:
            cmds.append(("fusionflow --version", lambda out: [ff, "--version"]))
            cmds.append(
                (
                    "fusionflow run grep 64KB",
                    lambda out: [ff, "run", "grep", small, "-e", "ERROR", "-o", out],
                )
            )
        if rg:
            cmds.append(("rg -n 64KB", lambda out: [rg, "-n", "-e", "ERROR", small]))
        for name, make in cmds:
            res = Result(name, "cli")
            for i in range(runs):
                p = run(make(tempfile.mkdtemp(dir=tmp, prefix=f"out{i}-")))
                if p.rc not in (0, 1):
                    res.note = f"exit {p.rc}: {p.stderr.strip()[-300:]}"
                res.seconds.append(p.wall)
                res.rss_mb.append(p.maxrss_kb / 1024)
                res.cpu_s.append(p.cpu)
            results.append(res)
        if not ff:
            print("note: no `fusionflow` executable on PATH; CLI overhead not measured")
    return results


# --------------------------------------------------------------------------------------------
# Report


def mbps(tree: Tree, res: Result) -> float | None:
    return tree.bytes / MIB / res.median if res.median else None


def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def report(trees: dict[str, Tree], results: list[Result], cli: list[Result]) -> dict:
    print()
    print(
        f"{'tool':<11} {'tree':<6} {'files':>6} {'MB':>8} {'median s':>9} {'min s':>7} "
        f"{'max s':>7} {'MB/s':>8} {'RSS MB':>7} {'CPU s':>7} {'matches':>8}"
    )
    for r in results:
        t = trees[r.tree]
        print(
            f"{r.tool:<11} {r.tree:<6} {t.files:>6} {t.bytes / MIB:>8.1f} "
            f"{fmt(r.median, '9.3f')} {fmt(min(r.seconds, default=None), '7.3f')} "
            f"{fmt(max(r.seconds, default=None), '7.3f')} {fmt(mbps(t, r), '8.0f')} "
            f"{fmt(max(r.rss_mb, default=None), '7.1f')} "
            f"{fmt(statistics.median(r.cpu_s) if r.cpu_s else None, '7.2f')} "
            f"{fmt(r.matches, '8d')}" + (f"  [{r.note}]" if r.note else "")
        )
    print("MB = MiB of data in scope, uncompressed (MB/s counts bytes after decompression).")
    if "gz" in trees:
        print(f"gz tree: {trees['gz'].disk_bytes / MIB:.1f} MB on disk.")
    print("FusionFlow seconds = the fusionflow.run() call only; RSS/CPU = whole child process.")
    print(f"peak RSS via {RSS_METHOD}.")

    ratios = {}
    for name in trees:
        by = {r.tool: r for r in results if r.tree == name}
        rg, ff = by.get("ripgrep"), by.get("fusionflow")
        if rg and ff and rg.median and ff.median:
            ratios[name] = rg.median / ff.median
            print(
                f"{name}: FusionFlow/ripgrep throughput = {ratios[name]:.2f}x "
                "(>1: FusionFlow faster)"
            )

    print("\nmatch counts (lines containing ERROR or FATAL):")
    for r in results:
        if r.tool == "ripgrep":
            print(
                f"  rg {r.tree}: -n output {'/'.join(map(str, r.extra['rg_n_counts']))}, "
                f"-c total {r.extra['rg_c_total']}, -a -c total {r.extra['rg_a_c_total']}"
            )
        elif r.extra.get("summary"):
            s = r.extra["summary"]
            print(
                f"  fusionflow {r.tree}: matches {s.get('matches')} "
                f"(binary=text: {r.extra.get('binary_text_matches')}), files_scanned "
                f"{s.get('files_scanned')}, files_matched {s.get('files_matched')}, "
                f"skipped_binary {_short(s.get('skipped_binary'))}, "
                f"bytes_scanned {s.get('bytes_scanned')}, errors {_short(s.get('errors'))}"
            )

    if any(r.tool == "ripgrep" for r in results):
        print(
            "  rg -n prints a NUL-hole file's matches up to the NUL, or none when the NUL is in\n"
            "  its first buffer (buffer size varies per thread), -c omits such files, -a reads\n"
            "  them as text. FusionFlow auto = NUL-hole logs as text, binaries skipped;\n"
            "  binary=text ~ rg -a."
        )
    if cli:
        print("\nstart-up overhead (wall, median of runs):")
        for r in cli:
            print(
                f"  {r.tool:<26} {fmt(r.median, '.4f')} s  RSS {max(r.rss_mb):.1f} MB"
                + (f"  [{r.note}]" if r.note else "")
            )
    return ratios


def _short(v) -> str:
    """Counts or lists in the summary: show a length for long lists."""
    if isinstance(v, list):
        names = [Path(str(x.get("path", x) if isinstance(x, dict) else x)).name for x in v[:3]]
        return f"{len(v)} {names}{'...' if len(v) > 3 else ''}"
    return str(v)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, help="plain tree (default: generate into bench/.data)")
    ap.add_argument(
        "--gz-corpus",
        type=Path,
        help="gzip-heavy tree (default: generated, or skipped when --corpus is given)",
    )
    ap.add_argument("--size", type=gen_logs.parse_size, default=gen_logs.parse_size("1GB"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--trees", default="plain,gz", help="comma list of trees to run")
    ap.add_argument("--rg", default="rg", help="ripgrep executable")
    ap.add_argument("--jobs", type=int, help="generator processes (default: all CPUs)")
    ap.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write results as JSON to PATH (default: stdout)",
    )
    args = ap.parse_args(argv)

    label = f"logs-{gen_logs.format_size(args.size)}-{args.seed}"
    data = HERE / ".data"
    wanted = set(args.trees.split(","))
    trees: dict[str, Tree] = {}
    if "plain" in wanted:
        root = args.corpus or ensure_corpus(data / label, args.size, args.seed, 0.15, args.jobs)
        trees["plain"] = Tree("plain", root.resolve(), list(COMPRESSED_GLOBS))
    if "gz" in wanted:
        root = args.gz_corpus
        if root is None and args.corpus is None:
            root = ensure_corpus(data / f"{label}-gz", args.size, args.seed, 1.0, args.jobs)
        if root is None:
            print("note: --corpus given without --gz-corpus; skipping the gz tree")
        else:
            trees["gz"] = Tree("gz", root.resolve(), [])

    for t in trees.values():
        print(f"warming page cache: {t.name} tree {t.root}", flush=True)
        warm_and_measure(t)

    rg = shutil.which(args.rg)
    if not rg:
        print(f"note: ripgrep ({args.rg}) not found; skipping the ripgrep side")
    ff_ok, ff_info = ff_available()
    if not ff_ok:
        print(
            f"note: fusionflow is not importable ({ff_info}); skipping the FusionFlow side. "
            "Build it first (maturin develop / pip install .)."
        )
    if rg and any(t.name == "gz" for t in trees.values()):
        missing = [z for z in ("gzip", "bzip2") if not shutil.which(z)]
        if missing:
            print(f"note: rg -z shells out to {missing}, which are missing: expect rg errors")

    results: list[Result] = []
    for t in trees.values():
        results.extend(bench_tree(rg, ff_ok, t, args.runs))
    cli = bench_cli(args.runs, rg, args.seed)
    ratios = report(trees, results, cli)

    if args.json:
        doc = {
            "env": {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "rg": run([rg, "--version"], capture=True).stdout.decode().split("\n")[0]
                if rg
                else None,
                "fusionflow": ff_info if ff_ok else None,
                "size": args.size,
                "seed": args.seed,
                "runs": args.runs,
                "rss_method": RSS_METHOD,
            },
            "trees": {k: {**asdict(v), "root": str(v.root)} for k, v in trees.items()},
            "results": [
                {**asdict(r), "median": r.median, "mb_per_s": mbps(trees[r.tree], r)}
                for r in results
            ],
            "ratios_ff_over_rg": ratios,
            "cli": [{**asdict(r), "median": r.median} for r in cli],
        }
        write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
