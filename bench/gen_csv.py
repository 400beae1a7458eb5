#!/usr/bin/env python3
"""Seeded generator of a sales CSV corpus (many small files) for FusionFlow benchmarks.

    python bench/gen_csv.py OUTDIR [--files 10000] [--size 1GB] [--seed 42] [--dirty] [--jobs N]

Files live in Hive-style directories, ``year=YYYY/month=MM/part-NNNNN.csv``, with the header
``region,product,date,quantity,price,customer,channel``. About 1 % of the values of every column
are empty; some product and customer names are quoted because they contain a comma (one has an
escaped quote); a few files use CRLF line ends and a few start with a UTF-8 BOM. File 0 (the
first in sorted order, which tools sniff) is always plain: LF, no BOM, no damage.

``--dirty`` adds exactly 14 malformed rows of six kinds (see BAD_KINDS) and writes
``OUTDIR/_expected_bad_rows.json`` with each one's file, 1-based line and kind, plus the number of
well-formed rows. Output depends only on (files, size, seed, dirty): every file is seeded from its
own path, so generation can run in parallel. Sizes use binary units (1 MB = 2**20 bytes).
"""

from __future__ import annotations

import argparse
import calendar
import functools
import json
import operator
import os
import random
import sys
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_logs import parse_size  # noqa: E402  (sibling script, not an installed package)

HEADER = "region,product,date,quantity,price,customer,channel"
EXPECTED_FILE = "_expected_bad_rows.json"
FIRST_YEAR, MONTHS = 2022, 36  # files spread over Jan 2022 .. Dec 2024, in date order
EMPTY_RATE = 0.01  # share of empty values, per column
SPECIAL_RATE = 0.02  # share of files with CRLF line ends; the same share again has a BOM
PRICE_VARIANTS = 24  # distinct prices per product (list price, discounts, rounding)
MIB = 1 << 20

REGIONS = ("north", "south", "east", "west", "central", "northeast", "southwest", "islands")
REGION_WEIGHTS = (18, 16, 15, 15, 12, 10, 9, 5)
CHANNELS = ("web", "store", "phone", "partner")
CHANNEL_WEIGHTS = (45, 35, 12, 8)
# 50 products: 8 contain a comma (quoted in the file), one an escaped quote, one is non-ASCII.
PRODUCTS = (
    "Widget",
    "Widget, large",
    "Widget, small",
    "Gadget",
    "Gadget Pro",
    "Gadget, refurbished",
    "Sprocket",
    "Sprocket 12mm",
    "Gizmo",
    "Gizmo Mini",
    "Doohickey",
    "Thingamajig",
    "Flange",
    "Flange, stainless",
    "Bracket",
    "Bracket L",
    "Hinge",
    "Hinge, brass",
    "Bolt M8",
    "Bolt M10",
    "Nut M8",
    "Washer",
    'Pipe 3/4"',
    "Valve",
    "Valve, ball",
    "Pump",
    "Hose 10m",
    "Clamp",
    "Cable 2m",
    "Cable, shielded",
    "Switch",
    "Relay",
    "Fuse 5A",
    "Sensor",
    "Sensor, humidity",
    "Motor",
    "Gearbox",
    "Bearing",
    "Belt",
    "Pulley",
    "Spring",
    "Gasket",
    "O-ring",
    "Filter",
    "Nozzle",
    "Caf\u00e9 table",
    "Lamp",
    "Battery",
    "Charger",
    "Adapter",
)
COMPANY_NAMES = ("Acme, Inc.", "Globex, LLC", "Initech", "Umbrella Corp", "Stark, Ltd.")

# The six kinds of malformed row and how many of each --dirty injects (14 in all).
BAD_KINDS = {
    "too_few_fields": 3,  # the customer field missing
    "too_many_fields": 3,  # a product with a comma written unquoted
    "unclosed_quote": 2,  # a partial write: `north,"Widget` and then normal rows
    "non_numeric_quantity": 2,  # quantity `abc`
    "truncated_last_line": 2,  # the file ends mid-row: no newline, too few fields
    "price_with_text": 2,  # price `12.5x`
}


def quote(value: str) -> str:
    """CSV-quote a value when it needs it (RFC 4180)."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


QUANTITIES = [str(q) for q in (*range(1, 13), 20, 24, 50, 100, 250, -1, -2)]
QUANTITY_WEIGHTS = [30, 18, 12, 9, 7, 5, 4, 3, 2, 2, 1, 3, 2, 1.5, 1, 0.5, 0.2, 0.6, 0.2]

# Speed. A row is a prefix "region,product,date,quantity,price" and a suffix
# ",customer,channel\n", each picked from a per-month pool of 4096, so a row costs two C-level
# lookups and the file one str.join (drawing 7 values per row in Python is ~10x slower; pools
# bigger than this miss the CPU cache and are ~2x slower). That gives 16.7M distinct rows per
# month and ~150k customers in all; a few rows repeat, which does not matter for aggregation.
# Pool values are drawn by table lookup too: a table holds 2**16 entries, each value repeated in
# proportion to its weight (random.choices would run a Python bisect per value).
POOL_SIZE = 1 << 12
TABLE_SIZE = 1 << 16
LOW_NIBBLE = bytes(b & 0x0F for b in range(256))


def lookup_table(values: list, weights: list[float], empty: object = "") -> list:
    """TABLE_SIZE entries: values by weight, the rest (EMPTY_RATE, plus rounding) `empty`."""
    total = sum(weights)
    table = []
    for value, w in zip(values, weights, strict=True):
        table += [value] * int(w / total * (1 - EMPTY_RATE) * TABLE_SIZE)
    return table + [empty] * (TABLE_SIZE - len(table))


def indices(rng: random.Random, n: int, bits: int = 16) -> array:
    """n random indices below 2**bits (16 or 12), the same on any machine."""
    buf = bytearray(2 * n)
    buf[0::2] = rng.randbytes(n)  # little-endian: low bytes first
    high = rng.randbytes(n)
    buf[1::2] = high if bits == 16 else high.translate(LOW_NIBBLE)
    a = array("H", buf)
    if sys.byteorder == "big":
        a.byteswap()
    return a


@dataclass
class Tables:
    region: list[str]
    product: list[str]  # product and price share an index: prices depend on the product
    price: list[str]
    quantity: list[str]
    channel: list[str]


@functools.cache
def tables(seed: int) -> Tables:
    """The value tables, once per process and seed."""
    rng = random.Random(f"{seed}/tables")
    n = len(PRODUCTS)
    products = lookup_table(list(range(n)), [1 / (i + 4) for i in range(n)], empty=n)
    return Tables(
        region=lookup_table(list(REGIONS), list(REGION_WEIGHTS)),
        product=[quote(PRODUCTS[p]) if p < n else "" for p in products],
        price=price_column(rng, products),
        quantity=lookup_table(QUANTITIES, QUANTITY_WEIGHTS),
        channel=lookup_table(list(CHANNELS), list(CHANNEL_WEIGHTS)),
    )


def price_column(rng: random.Random, products: list[int]) -> list[str]:
    """A price for each product entry: one of the product's PRICE_VARIANTS, or empty."""
    prices = []  # also for the empty product (the last index)
    for _ in range(len(PRODUCTS) + 1):
        base = 2 ** rng.uniform(0, 10)  # 1 .. 1024
        prices.append([f"{base * rng.uniform(0.7, 1.1):.2f}" for _ in range(PRICE_VARIANTS)])
    return ["" if rng.random() < EMPTY_RATE else rng.choice(prices[p]) for p in products]


def customer(rng: random.Random) -> str:
    """An id, ~2 % quoted company names, EMPTY_RATE empty."""
    x = rng.random()
    if x < EMPTY_RATE:
        return ""
    if x < EMPTY_RATE + 0.02:
        return quote(rng.choice(COMPANY_NAMES))
    return f"C{rng.getrandbits(20):07d}"


@dataclass
class Pools:
    prefixes: list[bytes]
    suffixes: dict[bytes, list[bytes]]  # by line end
    avg_row: float  # mean length of a row without its line end


@functools.lru_cache(maxsize=4)  # workers get files in path order, i.e. month by month
def pools(seed: int, year: int, month: int) -> Pools:
    """The month's row prefixes and suffixes."""
    rng = random.Random(f"{seed}/pools/{year}-{month:02d}")
    t = tables(seed)
    last = calendar.monthrange(year, month)[1]
    days = [f"{year}-{month:02d}-{d:02d}" for d in range(1, last + 1)]
    dates = lookup_table(days, [1.0] * len(days))
    n = POOL_SIZE
    prod = indices(rng, n)  # one index for product and price
    cols = [
        [t.region[i] for i in indices(rng, n)],
        [t.product[i] for i in prod],
        [dates[i] for i in indices(rng, n)],
        [t.quantity[i] for i in indices(rng, n)],
        [t.price[i] for i in prod],
    ]
    heads = [",".join(c).encode() for c in zip(*cols, strict=True)]
    tails = [f",{customer(rng)},{t.channel[i]}".encode() for i in indices(rng, n)]
    return Pools(
        prefixes=heads,
        suffixes={nl: [s + nl for s in tails] for nl in (b"\n", b"\r\n")},
        avg_row=(sum(map(len, heads)) + sum(map(len, tails))) / n,
    )


@dataclass
class FileSpec:
    path: str  # relative, with / separators
    size: int  # target bytes
    crlf: bool = False
    bom: bool = False
    bad: list[str] = field(default_factory=list)  # BAD_KINDS keys to inject


@dataclass
class FileResult:
    path: str
    bytes: int
    rows: int  # well-formed data rows
    bad: list[tuple[int, str]]  # (1-based line, kind)


def plan(n_files: int, size: int, seed: int, dirty: bool) -> list[FileSpec]:
    """Paths, target sizes (0.5x .. 1.5x the mean), CRLF/BOM files and bad-row placement."""
    rng = random.Random(f"{seed}/plan/{n_files}/{size}")
    weights = [rng.uniform(0.5, 1.5) for _ in range(n_files)]
    scale = size / sum(weights)
    specs = []
    for i, w in enumerate(weights):
        month = i * MONTHS // n_files
        year, mon = FIRST_YEAR + month // 12, month % 12 + 1
        specs.append(FileSpec(f"year={year}/month={mon:02d}/part-{i:05d}.csv", int(w * scale)))
    # File 0 stays plain: it is the one tools sniff for the dialect and types.
    others = list(range(1, n_files)) or [0]
    n_special = max(1, round(SPECIAL_RATE * n_files)) if n_files > 2 else 0
    for i in rng.sample(others, min(n_special, len(others))):
        specs[i].crlf = True
    for i in rng.sample(others, min(n_special, len(others))):
        specs[i].bom = True
    if dirty:
        place_bad_rows(rng, specs, others)
    return specs


def place_bad_rows(rng: random.Random, specs: list[FileSpec], others: list[int]) -> None:
    """One bad row per file while there are files enough; a truncated line needs its own file."""
    kinds = [k for k, n in BAD_KINDS.items() for _ in range(n)]
    order = rng.sample(others, len(others))
    truncated = [k for k in kinds if k == "truncated_last_line"]
    rest = [k for k in kinds if k != "truncated_last_line"]
    if len(order) < len(truncated):
        raise SystemExit(f"--dirty needs at least {len(truncated) + 1} files")
    for n, kind in enumerate(truncated):
        specs[order[n]].bad.append(kind)
    pool = order[len(truncated) :] or order
    for n, kind in enumerate(rest):
        specs[pool[n % len(pool)]].bad.append(kind)


# --------------------------------------------------------------------------------------------
# Rows


def month_of(path: str) -> tuple[int, int]:
    """(year, month) from the file's year=/month= directories."""
    return int(path.split("year=")[1][:4]), int(path.split("month=")[1][:2])


def row_pieces(rng: random.Random, target: int, pool: Pools, nl: bytes) -> list[bytes]:
    """Data rows of `target` bytes on average, as alternating prefixes and suffixes."""
    n = max(1, round(target / (pool.avg_row + len(nl))))
    pieces = [b""] * (2 * n)
    pieces[0::2] = map(pool.prefixes.__getitem__, indices(rng, n, 12))
    pieces[1::2] = map(pool.suffixes[nl].__getitem__, indices(rng, n, 12))
    return pieces


def bad_row(rng: random.Random, kind: str, day: str) -> str:
    """One malformed row of the given kind (truncated_last_line has no line end)."""
    region = rng.choice(REGIONS)
    product = rng.choice([p for p in PRODUCTS if "," in p])
    good = f"{region},{quote(product)},{day},3,19.99,C0001234,web"
    if kind == "too_few_fields":
        return f"{region},{quote(product)},{day},3,19.99,web"
    if kind == "too_many_fields":
        return f"{region},{product},{day},3,19.99,C0001234,web"
    if kind == "unclosed_quote":
        return f'{region},"{product.split(",")[0]}'
    if kind == "non_numeric_quantity":
        return f"{region},{quote(product)},{day},abc,19.99,C0001234,web"
    if kind == "price_with_text":
        return f"{region},{quote(product)},{day},3,12.5x,C0001234,web"
    if kind == "truncated_last_line":
        return good[: good.index(day) + 5]  # cut inside the date: 3 fields, quotes closed
    raise ValueError(kind)


def inject(rng: random.Random, rows: list[bytes], kinds: list[str], day: str, nl: bytes) -> list:
    """Insert bad rows among the data rows (each with its line end), in place.

    Returns [(1-based line, kind)].
    """
    inner = [k for k in kinds if k != "truncated_last_line"]
    # Distinct slots inside the file, not right after the header nor at the end; tiny files
    # (fewer rows than bad rows) may get them side by side.
    middle = range(1, len(rows) - 1)
    if len(middle) >= len(inner):
        slots = sorted(rng.sample(middle, len(inner)))
    else:
        slots = sorted(rng.choices(range(len(rows) + 1), k=len(inner)))
    placed = []
    for shift, (slot, kind) in enumerate(zip(slots, inner, strict=True)):
        rows.insert(slot + shift, bad_row(rng, kind, day).encode() + nl)
        placed.append((slot + shift + 2, kind))  # +1 for 1-based, +1 for the header
    if "truncated_last_line" in kinds:
        rows.append(bad_row(rng, "truncated_last_line", day).encode())  # no line end
        placed.append((len(rows) + 1, "truncated_last_line"))
    return placed


def render(spec: FileSpec, seed: int) -> tuple[bytes, int, list]:
    """The file's bytes, its well-formed row count and its bad rows."""
    rng = random.Random(f"{seed}/file/{spec.path}")
    year, month = month_of(spec.path)
    nl = b"\r\n" if spec.crlf else b"\n"
    body = row_pieces(rng, spec.size - len(HEADER) - 1, pools(seed, year, month), nl)
    good = len(body) // 2
    bad = []
    if spec.bad:  # the few dirty files: whole rows, so bad ones can go between them
        body = list(map(operator.add, body[0::2], body[1::2]))
        bad = inject(rng, body, spec.bad, f"{year}-{month:02d}-{rng.randint(1, 28):02d}", nl)
    bom = "\ufeff".encode() if spec.bom else b""
    return b"".join([bom, HEADER.encode(), nl, *body]), good, bad


def write_file(root: Path, spec: FileSpec, seed: int) -> FileResult:
    data, good, bad = render(spec, seed)
    out = root / spec.path
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return FileResult(spec.path, len(data), good, bad)


def _worker(args: tuple[str, FileSpec, int]) -> FileResult:
    root, spec, seed = args
    return write_file(Path(root), spec, seed)


# --------------------------------------------------------------------------------------------


def write_expected(outdir: Path, seed: int, summary: dict, bad: list[dict]) -> None:
    """_expected_bad_rows.json, one bad row per line."""
    head = {"seed": seed, "files": summary["files"], "well_formed_rows": summary["rows"]}
    rows = ",\n".join("  " + json.dumps(b) for b in bad)
    text = json.dumps(head)[:-1] + ',\n "bad_rows": [\n' + rows + "\n ]\n}\n"
    json.loads(text)  # still valid JSON
    (outdir / EXPECTED_FILE).write_text(text)


def generate(
    outdir: Path,
    n_files: int = 10_000,
    size: int = 1 << 30,
    seed: int = 42,
    dirty: bool = False,
    jobs: int | None = None,
    quiet: bool = False,
) -> dict:
    """Generate the corpus into outdir (must be empty or absent); returns summary counts."""
    outdir.mkdir(parents=True, exist_ok=True)
    if any(outdir.iterdir()):
        raise SystemExit(f"{outdir} is not empty; refusing to mix corpora")
    t0 = time.perf_counter()
    specs = plan(n_files, size, seed, dirty)
    tasks = [(str(outdir), s, seed) for s in specs]
    jobs = min(jobs or os.cpu_count() or 1, len(tasks))
    if jobs > 1:
        with Pool(jobs) as p:
            results = list(p.imap_unordered(_worker, tasks, chunksize=16))
    else:
        results = [_worker(t) for t in tasks]
    results.sort(key=lambda r: r.path)
    bad = [{"path": r.path, "line": line, "kind": k} for r in results for line, k in r.bad]
    summary = {
        "files": len(results),
        "bytes": sum(r.bytes for r in results),
        "rows": sum(r.rows for r in results),
        "bad_rows": len(bad),
        "crlf_files": sum(s.crlf for s in specs),
        "bom_files": sum(s.bom for s in specs),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if dirty:
        write_expected(outdir, seed, summary, bad)
    if not quiet:
        print(
            f"{outdir}: {summary['files']} files, {summary['bytes'] / MIB:.1f} MB, "
            f"{summary['rows']:,} rows + {summary['bad_rows']} malformed, "
            f"CRLF {summary['crlf_files']} / BOM {summary['bom_files']} files; "
            f"{summary['seconds']:.1f} s "
            f"({summary['bytes'] / MIB / max(summary['seconds'], 1e-9):.0f} MB/s, {jobs} procs)"
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--files", type=int, default=10_000, help="number of files (default 10000)")
    ap.add_argument(
        "--size",
        type=parse_size,
        default=parse_size("1GB"),
        help="total size, e.g. 20MB, 1GB (default 1GB)",
    )
    ap.add_argument("--seed", type=int, default=42)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument(
        "--dirty",
        action="store_true",
        help=f"inject 14 malformed rows, list them in {EXPECTED_FILE}",
    )
    mode.add_argument("--clean", action="store_true", help="no malformed rows (the default)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: all CPUs)")
    args = ap.parse_args(argv)
    if args.files < 1:
        ap.error("--files must be at least 1")
    generate(args.outdir, args.files, args.size, args.seed, args.dirty, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
