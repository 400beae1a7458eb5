#!/usr/bin/env python3
"""Seeded generator of photo-like JPEGs for the image benchmark.

    python bench/gen_photos.py OUT_DIR [--count 200] [--width 3000] [--height 2000] [--seed 42]

Each picture has what makes real photos cost what they cost to decode: a sky gradient, a
horizon, fractal (multi-octave) texture in the landscape, a few soft blobs, fine detail and
sensor grain, so that the entropy-coded data is as dense as a camera's (about 1.5-3 MB per
6 MP at quality 90, 4:2:0). Files are written as `OUT_DIR/<group>/img_NNNN.jpg`, 50 per folder.
Generating is deterministic for a seed, and skipped for files already present.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def _octave(rng: np.random.Generator, cells: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Random values on a coarse grid, smoothly enlarged to ``size`` (w, h): value noise."""
    grid = rng.random((cells[1], cells[0]), dtype=np.float32)
    image = Image.fromarray((grid * 255).astype(np.uint8), "L").resize(size, Image.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 255.0


def fractal(
    rng: np.random.Generator,
    size: tuple[int, int],
    base: int = 6,
    octaves: int = 7,
    persistence: float = 0.55,
) -> np.ndarray:
    """Sum of octaves of value noise, each twice as fine and ``persistence`` as strong:
    natural texture (rough for a persistence near 1)."""
    w, h = size
    total = np.zeros((h, w), dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for i in range(octaves):
        cells = (max(2, base * 2**i * w // max(w, h)), max(2, base * 2**i * h // max(w, h)))
        total += amplitude * _octave(rng, cells, size)
        norm += amplitude
        amplitude *= persistence
    return total / norm


def photo(seed: int, width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    size = (width, height)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    horizon = 0.35 + 0.3 * rng.random()
    # The horizon wanders: a 1-D fractal line.
    line = horizon + 0.08 * (fractal(rng, (width, 1), base=4, octaves=6)[0] - 0.5)
    ground = y > line[None, :]
    sky_top, sky_low = rng.uniform(0.3, 0.6, 3), rng.uniform(0.6, 0.95, 3)
    land_a, land_b = rng.uniform(0.05, 0.35, 3), rng.uniform(0.3, 0.7, 3)
    texture = fractal(rng, size, octaves=9, persistence=0.75)  # grass, gravel: rough
    clouds = fractal(rng, size, base=3, octaves=6)
    rgb = np.empty((height, width, 3), dtype=np.float32)
    for c in range(3):
        sky = sky_top[c] + (sky_low[c] - sky_top[c]) * (y / horizon) + 0.25 * (clouds - 0.5)
        land = land_a[c] + (land_b[c] - land_a[c]) * texture
        rgb[:, :, c] = np.where(ground, land, sky)
    # Soft blobs (trees, rocks, people) of random colour.
    for _ in range(int(rng.integers(4, 12))):
        cx, cy = rng.integers(0, width), rng.integers(int(height * 0.3), height)
        r = rng.integers(width // 40, width // 8)
        yy, xx = np.ogrid[max(0, cy - r) : min(height, cy + r), max(0, cx - r) : min(width, cx + r)]
        mask = np.clip(1.0 - ((xx - cx) ** 2 + (yy - cy) ** 2) / float(r * r), 0.0, 1.0)
        colour = rng.uniform(0.0, 0.8, 3)
        for c in range(3):
            region = rgb[yy, xx, c]
            rgb[yy, xx, c] = region + mask * (colour[c] * (0.7 + 0.3 * texture[yy, xx]) - region)
    # Fine detail and sensor grain.
    rgb += 0.10 * (fractal(rng, size, base=300, octaves=3, persistence=0.8)[:, :, None] - 0.5)
    # Grain: mostly in brightness (as a sensor's), a little in colour.
    rgb += rng.normal(0.0, 0.03, (height, width, 1)).astype(np.float32)
    rgb += rng.normal(0.0, 0.01, (height, width, 3)).astype(np.float32)
    return Image.fromarray((np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8), "RGB")


def _write(task: tuple[Path, int, int, int, int]) -> None:
    path, seed, width, height, quality = task
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    photo(seed, width, height).save(partial, "JPEG", quality=quality, subsampling=2)
    partial.rename(path)


def generate(
    out: Path, count: int, width: int, height: int, seed: int, quality: int = 90, jobs: int = 0
) -> list[Path]:
    """Writes the photos (those missing), ``jobs`` at a time, and returns all their paths."""
    paths = [out / f"group_{i // 50:02d}" / f"img_{i:04d}.jpg" for i in range(count)]
    tasks = [
        (path, seed * 100_003 + i, width, height, quality)
        for i, path in enumerate(paths)
        if not path.exists()
    ]
    if tasks:
        print(f"generating {len(tasks)} photos into {out}", file=sys.stderr)
        with multiprocessing.Pool(jobs or os.cpu_count()) as pool:
            for done, _ in enumerate(pool.imap_unordered(_write, tasks), 1):
                if done % 20 == 0:
                    print(f"  {done}/{len(tasks)} photos", file=sys.stderr)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    paths = generate(args.out, args.count, args.width, args.height, args.seed)
    total = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} photos, {total / 1e6:.0f} MB in {args.out}")


if __name__ == "__main__":
    main()
