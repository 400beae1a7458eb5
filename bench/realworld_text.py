#!/usr/bin/env python3
"""FusionFlow's PDF text next to pdftotext's on real PDFs nobody here wrote.

    python bench/realworld_text.py [PATH ...] [--worst 10] [--json [PATH]]

PATH (PDFs, or folders searched for them) defaults to ../shared/realworld/pdf (PDFs from
pdf.js's test suite). For every PDF both tools read, the recall of pdftotext's tokens
(whitespace-separated words, counted with multiplicity) in FusionFlow's text: 1.0 means
every word pdftotext gives is there. Glued words (two of pdftotext's words run together)
count as missing. Printed: the mean and median recall, the worst files, and the files
only one tool read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent / "shared" / "realworld" / "pdf"


def pdftotext(path: Path) -> str | None:
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=False)
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


def recall(theirs: str, ours: str) -> float:
    want = Counter(theirs.split())
    if not want:
        return 1.0
    found = Counter(ours.split())
    return sum(min(n, found[token]) for token, n in want.items()) / sum(want.values())


def fusionflow_texts(pdfs: list[Path]) -> tuple[dict[str, str], dict[str, str]]:
    import fusionflow

    with tempfile.TemporaryDirectory() as out:
        summary = fusionflow.run("extract-text", [str(p) for p in pdfs], {}, Path(out) / "o")
        texts = {}
        for line in (Path(out) / "o" / "documents.jsonl").read_text().splitlines():
            doc = json.loads(line)
            if doc["output"] is None:
                continue
            texts[doc["path"]] = (Path(out) / "o" / doc["output"]).read_text()
    return texts, {e["path"]: e["error"] for e in summary["errors"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--worst", type=int, default=10)
    parser.add_argument("--json", nargs="?", const="-", help="also write results as JSON")
    args = parser.parse_args()
    found = (p for d in args.dirs for p in ([d] if d.is_file() else d.rglob("*")))
    pdfs = sorted(p for p in found if p.suffix.lower() == ".pdf")
    ours, errors = fusionflow_texts(pdfs)
    rows, only = [], []
    for pdf in pdfs:
        theirs = pdftotext(pdf)
        mine = ours.get(str(pdf))
        if theirs is None or mine is None:
            readers = [n for n, text in (("pdftotext", theirs), ("fusionflow", mine)) if text]
            only.append((pdf.name, " and ".join(readers) or "neither", errors.get(str(pdf))))
            continue
        rows.append((recall(theirs, mine), len(theirs.split()), pdf.name))
    if not rows:
        sys.exit("no PDF that both tools read")
    recalls = [r for r, _, _ in rows]
    print(f"{len(rows)} PDFs both read, of {len(pdfs)} ({', '.join(map(str, args.dirs))})")
    print(
        f"recall of pdftotext's tokens: mean {statistics.mean(recalls):.3f}, "
        f"median {statistics.median(recalls):.3f}"
    )
    print(f"worst {args.worst}:")
    for r, n, name in sorted(rows)[: args.worst]:
        print(f"  {r:.3f}  of {n:5d} tokens  {name}")
    for name, reader, error in only:
        who = "read by neither" if reader == "neither" else f"read by {reader} only"
        print(f"  {name}: {who}" + (f" ({error})" if error else ""))
    if args.json:
        data = {"rows": [{"file": n, "recall": r, "tokens": t} for r, t, n in rows], "only": only}
        text = json.dumps(data, indent=2)
        print(text) if args.json == "-" else Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
