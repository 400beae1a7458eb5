#!/usr/bin/env python3
"""Side-by-side CSV aggregation benchmark: DuckDB, Polars and FusionFlow `csv-aggregate`.

    python bench/csv_bench.py [--corpus DIR] [--files 10000] [--size 1GB] [--runs 3] [--json [PATH]]

The job: group every row of a tree of CSV files by region, product and channel (--group-by) and
compute count(*), sum(quantity), mean(price), min(price) and max(price), written as a CSV file.
Without --corpus the tree is generated once into bench/.data/ (git-ignored) by gen_csv.py. Each
run is a fresh process timing only the query; the tools alternate run by run. The results of
all tools are compared group by group. See bench/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_csv  # noqa: E402  (sibling scripts, not installed packages)
from gen_logs import format_size, parse_size  # noqa: E402
from grep_bench import RSS_METHOD, Proc, fmt, run, write_json  # noqa: E402

MIB = 1 << 20
TYPES = {
    "region": "VARCHAR",
    "product": "VARCHAR",
    "date": "DATE",
    "quantity": "BIGINT",
    "price": "DOUBLE",
    "customer": "VARCHAR",
    "channel": "VARCHAR",
}
# (FusionFlow metric, output column, SQL expression); the output names are FusionFlow's.
METRICS = [
    ("count", "count", "count(*)"),
    ("sum:quantity", "sum_quantity", "sum(quantity)"),
    ("mean:price", "mean_price", "avg(price)"),
    ("min:price", "min_price", "min(price)"),
    ("max:price", "max_price", "max(price)"),
]
TOOLS = ("duckdb", "duckdb-explicit", "duckdb-auto", "polars", "fusionflow")
# DuckDB's read_csv options per variant. "duckdb": explicit types, the dialect (delimiter, quote,
# line end) still sniffed, from the first file only, and applied to all. "duckdb-explicit": types
# and dialect given, nothing sniffed. "duckdb-auto": everything detected, file by file.
DUCKDB_DIALECT = "auto_detect=false, delim=',', quote='\"', escape='\"'"
REL_TOL = 1e-9

# Each run is a fresh interpreter (its own peak RSS, nothing cached in-process); only the query
# is timed: imports, connecting and loading the pipeline module are start-up, not engine cost.
# argv: JSON config. Prints one JSON line: elapsed seconds and tool-specific facts.
DUCKDB_CHILD = r"""
import json, sys, time
import duckdb
cfg = json.loads(sys.argv[1])
con = duckdb.connect()
t0 = time.perf_counter()
con.execute(cfg["sql"])
elapsed = time.perf_counter() - t0
print(json.dumps({"elapsed": elapsed, "version": duckdb.__version__}))
"""

POLARS_CHILD = r"""
import json, sys, time
import polars as pl
cfg = json.loads(sys.argv[1])
types = {"VARCHAR": pl.String, "DATE": pl.Date, "BIGINT": pl.Int64, "DOUBLE": pl.Float64}
schema = {name: types[t] for name, t in cfg["types"].items()}
keys = cfg["group_by"]
t0 = time.perf_counter()
lf = pl.scan_csv(cfg["glob"], schema=schema, ignore_errors=cfg["ignore_errors"])
df = (
    lf.group_by(keys)
    .agg(
        pl.len().alias("count"),
        pl.col("quantity").sum().alias("sum_quantity"),
        pl.col("price").mean().alias("mean_price"),
        pl.col("price").min().alias("min_price"),
        pl.col("price").max().alias("max_price"),
    )
    .sort(keys, nulls_last=True)
    .collect(engine=cfg["engine"])
)
df.write_csv(cfg["out"])
elapsed = time.perf_counter() - t0
print(json.dumps({"elapsed": elapsed, "version": pl.__version__}))
"""

FF_CHILD = r"""
import json, sys, time
import fusionflow
from fusionflow.pipelines import get
get("csv-aggregate")  # load the pipeline (pydantic) first: start-up is not the engine's cost
cfg = json.loads(sys.argv[1])
t0 = time.perf_counter()
summary = fusionflow.run(
    "csv-aggregate", inputs=cfg["inputs"], params=cfg["params"], output=cfg["out"]
)
elapsed = time.perf_counter() - t0
if not isinstance(summary, dict):
    summary = getattr(summary, "__dict__", {"repr": repr(summary)})
print(json.dumps({"elapsed": elapsed, "summary": summary}, default=str))
"""


@dataclass
class Corpus:
    root: Path
    files: int = 0
    bytes: int = 0  # on disk, *.csv only: the MB in MB/s
    other_files: list[str] = field(default_factory=list)  # not *.csv (e.g. the expected list)
    expected: dict | None = None  # gen_csv's _expected_bad_rows.json, when present
    dirty: bool = False  # malformed rows expected: DuckDB and Polars must skip errors

    @property
    def glob(self) -> str:
        return str(self.root / "**" / "*.csv")


@dataclass
class Result:
    tool: str
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    process_wall_s: list[float] = field(default_factory=list)
    note: str = ""
    version: str = ""
    groups: dict | None = None  # parsed output of the last run, see read_result
    summary: dict = field(default_factory=dict)  # FusionFlow's summary

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def rows(self) -> int | None:
        """Rows aggregated: the sum of the count column."""
        return sum(v["count"] for v in self.groups.values()) if self.groups else None


# --------------------------------------------------------------------------------------------
# Corpus


def ensure_corpus(path: Path, files: int, size: int, seed: int, dirty: bool, jobs: int | None):
    """Generate into path once; a .partial dir is renamed at the end so aborts don't stick."""
    if path.is_dir():
        return path
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"generating {path} ...", flush=True)
    gen_csv.generate(tmp, files, size, seed, dirty, jobs)
    tmp.rename(path)
    return path


def warm_and_measure(corpus: Corpus) -> None:
    """Read every CSV file once (page cache) and add up their sizes."""
    for path in sorted(p for p in corpus.root.rglob("*") if p.is_file()):
        if path.suffix != ".csv":
            corpus.other_files.append(str(path.relative_to(corpus.root)))
            continue
        corpus.files += 1
        corpus.bytes += len(path.read_bytes())
    expected = corpus.root / gen_csv.EXPECTED_FILE
    if expected.is_file():
        corpus.expected = json.loads(expected.read_text())
        corpus.dirty = corpus.dirty or bool(corpus.expected["bad_rows"])


# --------------------------------------------------------------------------------------------
# The three tools


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_sql(corpus: Corpus, group_by: list[str], tool: str, out: Path) -> str:
    """COPY (the aggregation) TO out: DuckDB writes the CSV file itself, like FusionFlow."""
    options = ["header=true"]
    if tool != "duckdb-auto":
        cols = ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in TYPES.items())
        options.append(f"columns={{{cols}}}")
    if tool == "duckdb-explicit":
        options.append(DUCKDB_DIALECT)
    if corpus.dirty:
        options.append("ignore_errors=true")  # otherwise the first bad row fails the query
    metrics = ", ".join(f"{expr} AS {name}" for _, name, expr in METRICS)
    query = (
        f"SELECT {', '.join(group_by)}, {metrics} "
        f"FROM read_csv({sql_literal(corpus.glob)}, {', '.join(options)}) "
        "GROUP BY ALL ORDER BY ALL"
    )
    return f"COPY ({query}) TO {sql_literal(str(out))} (HEADER, DELIMITER ',')"


def child_cmd(tool: str, corpus: Corpus, args: argparse.Namespace, out_dir: Path) -> list[str]:
    """The command of one timed run; the result goes to a file in out_dir."""
    if tool.startswith("duckdb"):
        sql = duckdb_sql(corpus, args.group_by, tool, out_dir / "aggregate.csv")
        return [sys.executable, "-c", DUCKDB_CHILD, json.dumps({"sql": sql})]
    if tool == "polars":
        cfg = {
            "glob": corpus.glob,
            "types": TYPES,
            "group_by": args.group_by,
            "ignore_errors": corpus.dirty,
            "engine": args.polars_engine,
            "out": str(out_dir / "aggregate.csv"),
        }
        return [sys.executable, "-c", POLARS_CHILD, json.dumps(cfg)]
    cfg = {"inputs": [str(corpus.root)], "params": ff_params(corpus, args), "out": str(out_dir)}
    return [sys.executable, "-c", FF_CHILD, json.dumps(cfg)]


def ff_params(corpus: Corpus, args: argparse.Namespace) -> dict:
    params: dict = {"group_by": args.group_by, "metrics": [m for m, _, _ in METRICS]}
    if corpus.other_files:
        params["include"] = ["*.csv"]  # what the others' **/*.csv glob reads
    return params


def probe(tool: str) -> tuple[bool, str]:
    """Whether the tool can run here, and its version or why not."""
    code = {
        "duckdb": "import duckdb; print(duckdb.__version__)",
        "polars": "import polars; print(polars.__version__)",
        "fusionflow": (
            "import fusionflow; from fusionflow.pipelines import get; get('csv-aggregate'); "
            "print(getattr(fusionflow, '__version__', '?'))"
        ),
    }[tool.split("-")[0]]
    p = run([sys.executable, "-c", code], capture=True)
    if p.rc != 0:
        return False, error_line(p.stderr)
    return True, p.stdout.decode().strip()


def time_once(tool: str, corpus: Corpus, args: argparse.Namespace, res: Result) -> None:
    """One timed run in a fresh process; keeps the parsed result of the latest run."""
    with tempfile.TemporaryDirectory(prefix=f"{tool}-bench-") as tmp:
        out_dir = Path(tmp)
        p: Proc = run(child_cmd(tool, corpus, args, out_dir), capture=True)
        if p.rc != 0:
            res.note = f"exit {p.rc}: {error_line(p.stderr)}"
            return
        data = json.loads(p.stdout.decode().strip().splitlines()[-1])
        res.groups = read_result(out_dir / "aggregate.csv", len(args.group_by))
    res.seconds.append(data["elapsed"])
    res.rss_mb.append(p.maxrss_kb / 1024)
    res.cpu_s.append(p.cpu)
    res.process_wall_s.append(round(p.wall, 4))
    res.version = data.get("version", res.version)
    res.summary = data.get("summary") or {}


def error_line(stderr: str) -> str:
    """The exception line of a child's traceback (its last line may be a detail)."""
    lines = stderr.strip().splitlines() or ["?"]
    starts = [i for i, x in enumerate(lines) if re.match(r"[\w.]+(Error|Exception)\b", x)]
    first = starts[-1] if starts else len(lines) - 1
    message = []
    for line in lines[first:]:  # up to the first blank line: messages may span lines
        if not line.strip():
            break
        message.append(line.strip())
    return " / ".join(message)[:300]


def bench(tools: list[str], corpus: Corpus, args: argparse.Namespace) -> list[Result]:
    """Alternate the tools run by run, so that drift on a noisy machine hits all alike."""
    results = {t: Result(t) for t in tools}
    print(f"{args.runs} alternating runs of {', '.join(tools)} ...", flush=True)
    for _ in range(args.runs):
        for tool, res in results.items():
            if not res.note:  # a tool that failed once is not retried
                time_once(tool, corpus, args, res)
    return list(results.values())


# --------------------------------------------------------------------------------------------
# Results


def read_result(path: Path, n_keys: int) -> dict:
    """{group values: {metric: value}} from an output CSV; an empty key value is null."""
    groups = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        for row in reader:
            key = tuple(v if v != "" else None for v in row[:n_keys])
            values = zip(header[n_keys:], row[n_keys:], strict=True)
            groups[key] = {name: number(v) for name, v in values}
    return groups


def number(text: str) -> int | float | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def same(name: str, a, b) -> bool:
    """Counts and integer sums exactly; means, min and max within REL_TOL."""
    if name == "sum_quantity":
        a, b = a or 0, b or 0  # sum over no values: DuckDB says NULL, Polars and FusionFlow 0
    if a is None or b is None:
        return a is b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=REL_TOL)


def compare(ref: Result, other: Result) -> list[str]:
    """Differences between two results, worst first: missing groups, then values."""
    a, b = ref.groups or {}, other.groups or {}
    problems = []
    only_ref, only_other = a.keys() - b.keys(), b.keys() - a.keys()
    if only_ref:
        problems.append(f"{len(only_ref)} groups only in {ref.tool}, e.g. {min(only_ref, key=str)}")
    if only_other:
        problems.append(
            f"{len(only_other)} groups only in {other.tool}, e.g. {min(only_other, key=str)}"
        )
    for _, name, _ in METRICS:
        bad = [k for k in a.keys() & b.keys() if not same(name, a[k].get(name), b[k].get(name))]
        if bad:
            k = min(bad, key=str)
            problems.append(
                f"{name} differs in {len(bad)} groups, e.g. {k}: "
                f"{a[k].get(name)} vs {b[k].get(name)}"
            )
    return problems


def mbps(corpus: Corpus, res: Result) -> float | None:
    return corpus.bytes / MIB / res.median if res.median else None


def report(corpus: Corpus, results: list[Result], unavailable: dict[str, str]) -> dict:
    """Print the table, the ratios and the agreement; returns them for the JSON."""
    print()
    print(
        f"{'tool':<15} {'median s':>9} {'min s':>7} {'max s':>7} {'MB/s':>7} "
        f"{'RSS MB':>7} {'CPU s':>7} {'groups':>7} {'rows':>11}"
    )
    for r in results:
        if not r.seconds:  # fusionflow.run() raised: the pipeline may not be built yet
            print(
                f"{r.tool:<15} {'not available' if r.tool == 'fusionflow' else 'failed'}: {r.note}"
            )
            continue
        print(
            f"{r.tool:<15} {fmt(r.median, '9.3f')} {fmt(min(r.seconds, default=None), '7.3f')} "
            f"{fmt(max(r.seconds, default=None), '7.3f')} {fmt(mbps(corpus, r), '7.0f')} "
            f"{fmt(max(r.rss_mb, default=None), '7.1f')} "
            f"{fmt(statistics.median(r.cpu_s) if r.cpu_s else None, '7.2f')} "
            f"{fmt(len(r.groups) if r.groups else None, '7d')} {fmt(r.rows, '11,d')}"
            + (f"  [{r.note}]" if r.note else "")
        )
    for tool, why in unavailable.items():
        print(f"{tool:<15} not available: {why}")
    print(
        f"corpus: {corpus.files} files, {corpus.bytes / MIB:.1f} MB on disk (MB/s uses this). "
        "Seconds = the query only; RSS/CPU = the whole child process."
    )
    print(f"peak RSS via {RSS_METHOD}.")

    by = {r.tool: r for r in results if r.median}
    ratios = {}
    ff = by.get("fusionflow")
    for other in ("duckdb", "duckdb-explicit", "polars"):
        if ff and other in by:
            ratios[other] = by[other].median / ff.median
            print(f"FusionFlow/{other} throughput = {ratios[other]:.2f}x (>1: FusionFlow faster)")

    agreement = agree(results, (corpus.expected or {}).get("well_formed_rows"))
    expected_rows(corpus, results)
    return {"ratios_ff_over": ratios, "agreement": agreement}


def agree(results: list[Result], want_rows: int | None) -> dict:
    """Sort the tools into sets with equal results; the largest set is the reference.

    No tool is assumed right: with three or more, a tool that drops rows stands out. On a tie,
    a set whose row total is the expected one (dirty corpora) wins, then the first.
    """
    done = [r for r in results if r.groups is not None]
    if len(done) < 2:
        return {}
    sets: list[list[Result]] = []
    for r in done:
        match = next((s for s in sets if not compare(s[0], r)), None)
        if match:
            match.append(r)
        else:
            sets.append([r])
    ref = max(sets, key=lambda s: (len(s), s[0].rows == want_rows))  # max keeps the first
    names = ", ".join(r.tool for r in ref)
    print(f"\nresults (same groups, equal counts and sums, floats within {REL_TOL}):")
    if len(ref) > 1:
        print(f"  agree: {names}")
    else:
        print(f"  no two tools agree; the reference is {names}")
    doc = {"agree": [r.tool for r in ref], "differ": {}}
    for s in sets:
        if s is ref:
            continue
        problems = compare(ref[0], s[0])
        print(f"  {', '.join(r.tool for r in s)} DIFFER from {names}:")
        for p in problems:
            print(f"    {p}")
        for r in s:
            doc["differ"][r.tool] = problems
    return doc


def expected_rows(corpus: Corpus, results: list[Result]) -> None:
    """On a generated corpus with an expected list: rows each tool aggregated vs the truth."""
    if not corpus.expected:
        return
    want = corpus.expected["well_formed_rows"]
    print(
        f"\nrows vs {gen_csv.EXPECTED_FILE}: {want:,} well-formed rows, "
        f"{len(corpus.expected['bad_rows'])} malformed"
    )
    for r in results:
        if r.rows is not None:
            extra = ""
            if r.summary:
                extra = (
                    f" (its summary: rows {r.summary.get('rows')}, "
                    f"bad_rows {r.summary.get('bad_rows')})"
                )
            print(f"  {r.tool:<15} {r.rows:>11,} ({r.rows - want:+,}){extra}")


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, help="tree of CSV files (default: generate one)")
    ap.add_argument("--files", type=int, default=10_000, help="generated files (default 10000)")
    ap.add_argument("--size", type=parse_size, default=parse_size("1GB"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--dirty",
        action="store_true",
        help="generate with 14 malformed rows; with --corpus: expect some (ignore_errors)",
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--group-by",
        type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
        default=["region", "product", "channel"],
        help="comma list of columns (default region,product,channel)",
    )
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma list of {', '.join(TOOLS)}")
    ap.add_argument("--polars-engine", default="auto", choices=["auto", "streaming", "in-memory"])
    ap.add_argument("--jobs", type=int, help="generator processes (default: all CPUs)")
    ap.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write results as JSON to PATH (default: stdout)",
    )
    args = ap.parse_args(argv)
    unknown = [c for c in args.group_by if c not in TYPES]
    if unknown:
        ap.error(f"--group-by: unknown columns {unknown} (columns: {', '.join(TYPES)})")
    if bad_tools := [t for t in args.tools.split(",") if t not in TOOLS]:
        ap.error(f"--tools: unknown {bad_tools} (tools: {', '.join(TOOLS)})")

    if args.corpus:
        root = args.corpus
    else:
        label = f"csv-{args.files}-{format_size(args.size)}-{args.seed}"
        label += "-dirty" if args.dirty else ""
        root = ensure_corpus(
            HERE / ".data" / label, args.files, args.size, args.seed, args.dirty, args.jobs
        )
    corpus = Corpus(root.resolve(), dirty=args.dirty)
    print(f"warming page cache: {corpus.root}", flush=True)
    warm_and_measure(corpus)
    if corpus.dirty:
        print(
            "note: malformed rows expected; DuckDB runs with ignore_errors=true, Polars with "
            "ignore_errors=True"
        )
    if corpus.other_files:
        print(
            f"note: {len(corpus.other_files)} non-CSV files in the tree; FusionFlow gets "
            "include=['*.csv'] (the others read **/*.csv)"
        )

    tools, unavailable, versions = [], {}, {}
    for tool in args.tools.split(","):
        ok, info = probe(tool)
        if ok:
            tools.append(tool)
            versions[tool] = info
        else:
            unavailable[tool] = info
            print(f"note: {tool} not available ({info}); running the others")

    results = bench(tools, corpus, args)
    doc = report(corpus, results, unavailable)

    if args.json:
        out = {
            "env": {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "versions": versions,
                "runs": args.runs,
                "group_by": args.group_by,
                "polars_engine": args.polars_engine,
                "rss_method": RSS_METHOD,
            },
            "corpus": {
                **{k: v for k, v in asdict(corpus).items() if k != "expected"},
                "root": str(corpus.root),
                "dirty": corpus.dirty,
                "well_formed_rows": (corpus.expected or {}).get("well_formed_rows"),
            },
            "results": [
                {
                    **{k: v for k, v in asdict(r).items() if k != "groups"},
                    "median": r.median,
                    "mb_per_s": mbps(corpus, r),
                    "groups": len(r.groups) if r.groups is not None else None,
                    "rows": r.rows,
                }
                for r in results
            ],
            "unavailable": unavailable,
            **doc,
        }
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
