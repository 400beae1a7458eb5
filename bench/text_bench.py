#!/usr/bin/env python3
"""Side-by-side PDF text benchmark: FusionFlow `extract-text` vs `pdftotext` (poppler-utils).

    python bench/text_bench.py [--docs DIR] [--count 200] [--runs 5] [--workers 2]
                               [--pypdf] [--json [PATH]]

The corpus (generated once by gen_docs.py into bench/.data/docs-<count>) holds multi-page
PDFs with their known text. Contenders, each run in a fresh interpreter, only the work timed:

- pdftotext: one `pdftotext FILE OUT.txt` process per file, WORKERS at a time;
- fusionflow: `extract-text` with WORKERS threads and parser processes (the default,
  isolated: a crash or hang costs one file);
- fusionflow-in-process: the same, parsing on the threads (`isolate: false`);
- pypdf (with --pypdf): `PdfReader(...).pages[i].extract_text()`, WORKERS processes.

Printed: median seconds, pages/s, the ratio to pdftotext, peak RSS; then the accuracy of each
against the known text: token recall (mean and worst document), lines found in reading
order, and whether the page counts are exact.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_docs  # noqa: E402  (sibling script)

FF_CHILD = r"""
import json, resource, sys, time
from fusionflow import _core
from fusionflow.pipelines import get
from fusionflow.pipelines.extract_text import WORKER_COMMAND
docs, out, workers, isolate = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
params = get("extract-text").validate({"isolate": isolate, "detect_language": False})
t0 = time.perf_counter()
summary = json.loads(_core.extract_text(
    [docs], out, params.kernel_options(), include=["*.pdf"], threads=workers,
    worker_command=WORKER_COMMAND))
elapsed = time.perf_counter() - t0
assert not summary["errors"], summary["errors"][:3]
who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
usage = [resource.getrusage(w).ru_maxrss for w in who]
print(json.dumps({"elapsed": elapsed, "rss_kib": max(usage), "self_kib": usage[0]}))
"""

TOOL_CHILD = r"""
import json, resource, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor
from pathlib import Path
kind, docs, out, workers = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
files = sorted(docs.glob("*.pdf"))
out.mkdir(parents=True, exist_ok=True)

def pdftotext(path):
    subprocess.run(["pdftotext", str(path), str(out / (path.name + ".txt"))], check=True)

def pypdf(path):
    from pypdf import PdfReader
    reader = PdfReader(path)
    text = "".join(page.extract_text() + "\f" for page in reader.pages)
    (out / (path.name + ".txt")).write_text(text)

if __name__ == "__main__":
    if kind == "pdftotext":
        pool = ThreadPoolExecutor(workers)  # threads that wait on the processes
    else:
        pool = ProcessPoolExecutor(workers)
        list(pool.map(abs, range(workers)))  # started before the clock
    work = pdftotext if kind == "pdftotext" else pypdf
    t0 = time.perf_counter()
    list(pool.map(work, files))
    elapsed = time.perf_counter() - t0
    pool.shutdown()
    who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    usage = [resource.getrusage(w).ru_maxrss for w in who]
    print(json.dumps({"elapsed": elapsed, "rss_kib": max(usage), "self_kib": usage[0]}))
"""


def run_child(code: str, args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"contender failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def accuracy(out: Path, pdfs: list[Path]) -> dict[str, Any]:
    """Token recall and reading order of the texts in ``out`` against the known text."""
    recalls, orders, exact_pages = [], [], 0
    for pdf in pdfs:
        truth = json.loads(pdf.with_suffix(".truth.json").read_text())
        text = (out / (pdf.name + ".txt")).read_text()
        lines = [line for page in truth["pages"] for line in page]
        recalls.append(gen_docs.recall("\n".join(lines), text))
        orders.append(gen_docs.in_order(lines, text))
        exact_pages += text.count("\f") == len(truth["pages"])
    return {
        "recall_mean": statistics.fmean(recalls),
        "recall_min": min(recalls),
        "in_order_mean": statistics.fmean(orders),
        "in_order_min": min(orders),
        "exact_page_counts": exact_pages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=Path, default=None)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pypdf", action="store_true", help="also run pypdf (slow)")
    parser.add_argument("--json", nargs="?", const="-", default=None)
    args = parser.parse_args()

    docs = args.docs or HERE / ".data" / f"docs-{args.count}"
    pdfs = gen_docs.generate(docs, args.count, seed=42)
    pages = sum(len(json.loads(p.with_suffix(".truth.json").read_text())["pages"]) for p in pdfs)
    for pdf in pdfs:  # warm the page cache
        pdf.read_bytes()
    contenders = ["pdftotext", "fusionflow", "fusionflow-in-process"] + (["pypdf"] * args.pypdf)
    print(
        f"{len(pdfs)} PDFs, {pages} pages; {args.workers} processes/threads; {args.runs} runs",
        file=sys.stderr,
    )
    keep = Path(tempfile.mkdtemp(prefix="ff-text-bench-"))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    for run in range(args.runs):
        for name in contenders:  # interleaved
            out = keep / f"{name}-{run}"
            if name.startswith("fusionflow"):
                isolate = "0" if name.endswith("in-process") else "1"
                r = run_child(FF_CHILD, [str(docs), str(out), str(args.workers), isolate])
            else:
                r = run_child(TOOL_CHILD, [name, str(docs), str(out), str(args.workers)])
            results[name].append(r)
            print(f"  run {run + 1} {name}: {r['elapsed']:.2f} s", file=sys.stderr)

    rows: dict[str, dict[str, Any]] = {}
    for name, runs in results.items():
        median = statistics.median(r["elapsed"] for r in runs)
        rows[name] = {
            "median_s": median,
            "runs_s": [round(r["elapsed"], 3) for r in runs],
            "pages_per_s": pages / median,
            "peak_rss_mib": max(r["rss_kib"] for r in runs) / 1024,
            **accuracy(keep / f"{name}-0", pdfs),
        }
    reference = rows["pdftotext"]["pages_per_s"]
    print(
        f"\n{'':22} {'median s':>9} {'pages/s':>8} {'vs pdftotext':>12} {'peak RSS':>9} "
        f"{'recall':>7} {'worst':>7} {'in order':>8} {'pages ok':>9}"
    )
    for name, row in rows.items():
        row["ratio_to_pdftotext"] = row["pages_per_s"] / reference
        print(
            f"{name:22} {row['median_s']:9.2f} {row['pages_per_s']:8.0f} "
            f"{row['ratio_to_pdftotext']:11.2f}x {row['peak_rss_mib']:5.0f} MiB "
            f"{row['recall_mean']:7.4f} {row['recall_min']:7.4f} {row['in_order_mean']:8.4f} "
            f"{row['exact_page_counts']:5}/{len(pdfs)}"
        )
    subprocess.run(["rm", "-rf", str(keep)], check=False)
    if args.json:
        text = json.dumps({"pdfs": len(pdfs), "pages": pages, "results": rows}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
