#!/usr/bin/env python3
"""Side-by-side thumbnail benchmark: FusionFlow vs pyvips (libvips) vs Pillow.

    python bench/image_bench.py [--photos DIR] [--count 200] [--size 1024] [--runs 3]
                                [--workers 2] [--json [PATH]]

Every contender turns the same photos (generated once by gen_photos.py into bench/.data/,
3000x2000 JPEGs) into JPEG thumbnails that fit SIZE x SIZE, at quality 85, metadata stripped:

- fusionflow: `fusionflow.run("resize-images", ...)`, one process, WORKERS threads;
- pyvips: `Image.thumbnail` + `write_to_file`, WORKERS processes (a multiprocessing pool);
- pillow: `Image.draft` (DCT scaling) + `thumbnail(LANCZOS)` + `save`, WORKERS processes.

Each run is a fresh interpreter; only the work is timed (pools are started before the clock).
The page cache is warmed first. Printed: median seconds, images/s, the ratio to pyvips, and
the peak RSS (for pools, the largest process, and the processes' sum of peaks). A check then
compares FusionFlow's thumbnails with pyvips' (same size; PSNR).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_photos  # noqa: E402  (sibling script)

FF_CHILD = r"""
import json, resource, sys, time
from fusionflow import _core
from fusionflow.pipelines import get
photos, out, size, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
params = get("resize-images").validate({"max_width": size, "max_height": size, "quality": 85})
t0 = time.perf_counter()
summary = json.loads(_core.resize_images([photos], out, params.kernel_options(), threads=threads))
elapsed = time.perf_counter() - t0
assert summary["files_resized"] == summary["files_total"], summary["errors"][:3]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
images = summary["files_resized"]
print(json.dumps({"elapsed": elapsed, "images": images, "rss_kib": rss, "rss_sum_kib": rss}))
"""

# A pool of WORKERS processes; each handles every WORKERS-th photo.
POOL_CHILD = r"""
import json, multiprocessing as mp, os, resource, sys, time
from pathlib import Path
# One libvips thread per process: the processes are the parallelism (the default, a thread
# per core in each process, oversubscribes the cores and measured slower).
os.environ.setdefault("VIPS_CONCURRENCY", "1")
kind, photos, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
size, workers = int(sys.argv[4]), int(sys.argv[5])
files = sorted(photos.rglob("*.jpg"))

def target(path):
    dest = out / path.relative_to(photos)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest

def vips(path):
    import pyvips
    thumb = pyvips.Image.thumbnail(str(path), size, height=size)
    thumb.write_to_file(str(target(path)) + "[Q=85,strip]")

def pillow(path):
    from PIL import Image
    with Image.open(path) as im:
        scale = min(size / im.width, size / im.height)  # draft() wants the fitted size
        im.draft("RGB", (round(im.width * scale), round(im.height * scale)))
        im.thumbnail((size, size), Image.LANCZOS)
        im.save(target(path), quality=85)

def warm():  # imports before the clock starts
    import pyvips  # noqa
    from PIL import Image  # noqa

def run(chunk):
    work = vips if kind == "pyvips" else pillow
    for path in chunk:
        work(path)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=warm) as pool:
        pool.map(abs, range(workers))  # started before the clock
        t0 = time.perf_counter()
        peaks = pool.map(run, [files[i::workers] for i in range(workers)], chunksize=1)
        elapsed = time.perf_counter() - t0
    rss = {"rss_kib": max(peaks), "rss_sum_kib": sum(peaks)}
    print(json.dumps({"elapsed": elapsed, "images": len(files), **rss}))
"""


def run_child(code: str, args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"contender failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def psnr(a: Path, b: Path) -> tuple[tuple[int, int], tuple[int, int], float]:
    import numpy as np
    from PIL import Image

    with Image.open(a) as x, Image.open(b) as y:
        sizes = (x.size, y.size)
        if x.size != y.size:
            return sizes[0], sizes[1], float("nan")
        diff = np.asarray(x.convert("RGB"), dtype=np.float64) - np.asarray(
            y.convert("RGB"), dtype=np.float64
        )
    mse = float((diff**2).mean())
    return sizes[0], sizes[1], float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=None)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", action="append", choices=["fusionflow", "pyvips", "pillow"])
    parser.add_argument("--json", nargs="?", const="-", default=None)
    args = parser.parse_args()

    photos = args.photos or HERE / ".data" / f"photos-{args.count}"
    files = gen_photos.generate(photos, args.count, 3000, 2000, seed=42)
    total_mb = sum(p.stat().st_size for p in files) / 1e6
    for path in files:  # warm the page cache
        path.read_bytes()
    contenders = args.only or ["fusionflow", "pyvips", "pillow"]
    print(
        f"{len(files)} photos of 3000x2000 ({total_mb:.0f} MB) -> fit {args.size}x{args.size}, "
        f"JPEG q85; {args.workers} threads/processes; {args.runs} runs, {os.cpu_count()} cores",
        file=sys.stderr,
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    keep = Path(tempfile.mkdtemp(prefix="ff-image-bench-"))
    for run in range(args.runs):
        for name in contenders:  # interleaved, so that drift in the machine hits all alike
            out = keep / f"{name}-{run}"
            if name == "fusionflow":
                r = run_child(FF_CHILD, [str(photos), str(out), str(args.size), str(args.workers)])
            else:
                r = run_child(
                    POOL_CHILD, [name, str(photos), str(out), str(args.size), str(args.workers)]
                )
            results[name].append(r)
            print(f"  run {run + 1} {name}: {r['elapsed']:.2f} s", file=sys.stderr)

    rows = {}
    for name, runs in results.items():
        median = statistics.median(r["elapsed"] for r in runs)
        rows[name] = {
            "median_s": median,
            "runs_s": [round(r["elapsed"], 3) for r in runs],
            "images_per_s": len(files) / median,
            "peak_rss_mib": max(r["rss_kib"] for r in runs) / 1024,
            "peak_rss_sum_mib": max(r["rss_sum_kib"] for r in runs) / 1024,
        }
    reference = rows.get("pyvips")
    header = f"{'median s':>9} {'images/s':>9} {'vs pyvips':>10} {'peak RSS':>10} {'sum RSS':>9}"
    print(f"\n{'':12} {header}")
    for name, row in rows.items():
        ratio = row["images_per_s"] / reference["images_per_s"] if reference else float("nan")
        row["ratio_to_pyvips"] = ratio
        print(
            f"{name:12} {row['median_s']:9.2f} {row['images_per_s']:9.1f} {ratio:9.2f}x "
            f"{row['peak_rss_mib']:8.0f} MiB {row['peak_rss_sum_mib']:6.0f} MiB"
        )
    if "fusionflow" in rows and reference:
        checks = [
            psnr(
                keep / "fusionflow-0" / f.relative_to(photos),
                keep / "pyvips-0" / f.relative_to(photos),
            )
            for f in files[:10]
        ]
        same_size = sum(a == b for a, b, _ in checks)
        print(
            f"\ncheck: {same_size}/{len(checks)} thumbnails the same size as pyvips'; PSNR against "
            f"pyvips' median {statistics.median(p for *_, p in checks):.1f} dB"
        )
        rows["check"] = {
            "same_size": same_size,
            "compared": len(checks),
            "psnr_db": [round(p, 2) for *_, p in checks],
        }
    subprocess.run(["rm", "-rf", str(keep)], check=False)
    if args.json:
        text = json.dumps(
            {"photos": len(files), "size": args.size, "workers": args.workers, "results": rows},
            indent=2,
        )
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
