#!/usr/bin/env python3
"""Seeded generator of multi-page PDFs with known text, for the text benchmark and tests.

    python bench/gen_docs.py OUT_DIR [--count 200] [--seed 42]

Each PDF (reportlab) has 4 to 26 pages of paragraphs made of words from a mixed vocabulary
(plain words, capitalised names, numbers, words with accents and apostrophes), in Helvetica
or Times; one in four is set in two columns, so that reading order matters. Next to each
`doc_NNNN.pdf` goes `doc_NNNN.truth.json`: the lines of each page, in reading order (the
left column before the right one). Files present are kept.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import json
import random
import re
import sys
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

WORDS = (  # noqa: SIM905 (a paragraph reads better than a list of 110 strings)
    "the of and to in is was for on that with as by at from it an be this which or are "
    "were not have has had but all their they his her one two three report server request "
    "error warning latency throughput database cluster shard worker queue storage bucket "
    "invoice customer payment order shipment region quarter revenue forecast budget market "
    "analysis summary meeting project deadline review approval contract policy security "
    "network interface protocol version release feature backlog sprint incident outage "
    "café résumé naïve façade coöperate Zürich Málaga déjà über straße garçon "
    "don't can't it's we're they'll O'Brien"
).split()
NAMES = "Alice Bob Carol Dmitri Eve Farah Gustavo Hiroko Ingrid Jamal Kofi Lena Mateo".split()  # noqa: SIM905


def sentence(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(6, 18)):
        roll = rng.random()
        if roll < 0.08:
            words.append(rng.choice(NAMES))
        elif roll < 0.14:
            words.append(str(rng.randint(0, 99_999)))
        else:
            words.append(rng.choice(WORDS))
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words) + rng.choice([".", ".", ".", ",", ";", "?", "!"])


def wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def write_pdf(
    path: Path, seed: int, pages: int | None = None, columns: int | None = None
) -> dict[str, object]:
    """One PDF; returns its truth: the lines of each page in reading order."""
    rng = random.Random(seed)
    pages = pages or rng.randint(4, 26)
    columns = columns or (2 if rng.random() < 0.25 else 1)
    font = rng.choice(["Helvetica", "Times-Roman"])
    size = 10
    width, height = A4
    margin, gap, leading = 56, 24, 13
    column_width = (width - 2 * margin - (columns - 1) * gap) / columns
    chars_per_line = int(column_width / (size * 0.5))
    lines_per_column = int((height - 2 * margin) / leading)
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    pdf.setTitle(f"Generated document {seed}")
    truth = []
    for _ in range(pages):
        page_lines: list[str] = []
        for column in range(columns):
            x = margin + column * (column_width + gap)
            y = height - margin
            lines: list[str] = []
            while len(lines) < lines_per_column - 2:
                paragraph = " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))
                lines.extend(wrap(paragraph, chars_per_line))
                lines.append("")  # a blank line between paragraphs
            lines = lines[:lines_per_column]
            text = pdf.beginText(x, y)
            text.setFont(font, size)
            text.setLeading(leading)
            for line in lines:
                text.textLine(line)
            pdf.drawText(text)
            page_lines.extend(line for line in lines if line)
        truth.append(page_lines)
        pdf.showPage()
    pdf.save()
    return {"pages": truth, "columns": columns, "font": font}


def generate(out: Path, count: int, seed: int) -> list[Path]:
    """Writes the PDFs (those missing) with their truth files; returns the PDFs' paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = out / f"doc_{i:04d}.pdf"
        paths.append(path)
        if path.exists() and path.with_suffix(".truth.json").exists():
            continue
        truth = write_pdf(path, seed * 100_003 + i)
        path.with_suffix(".truth.json").write_text(json.dumps(truth, ensure_ascii=False))
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{count} PDFs", file=sys.stderr)
    return paths


TOKEN = re.compile(r"\w+(?:'\w+)?")


def tokens(text: str) -> collections.Counter[str]:
    return collections.Counter(t.lower() for t in TOKEN.findall(text))


def recall(truth_text: str, extracted: str) -> float:
    """Share of the known tokens found in ``extracted`` (as a multiset)."""
    known, found = tokens(truth_text), tokens(extracted)
    total = sum(known.values())
    return sum(min(n, found[t]) for t, n in known.items()) / total if total else 1.0


def in_order(lines: list[str], extracted: str) -> float:
    """Share of the known lines found whole in ``extracted``, in the known order (the
    longest common subsequence of lines, as difflib finds it)."""
    known = [" ".join(line.split()) for line in lines]
    found = [" ".join(line.split()) for line in extracted.replace("\f", "\n").splitlines()]
    matcher = difflib.SequenceMatcher(None, known, [line for line in found if line], autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return matched / len(known) if known else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    paths = generate(args.out, args.count, args.seed)
    pages = sum(len(json.loads(p.with_suffix(".truth.json").read_text())["pages"]) for p in paths)
    print(f"{len(paths)} PDFs, {pages} pages in {args.out}")


if __name__ == "__main__":
    main()
