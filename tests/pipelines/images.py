"""Test images made with Pillow: known sizes, orientations, colour modes and broken files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

# What Pillow's exif_transpose does for each EXIF orientation, and its inverse: storing
# ``upright.transpose(STORE[o])`` tagged ``o`` displays as ``upright``.
STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
ORIENTATION_TAG = 0x0112
ICC_TAG = "icc_profile"


def quadrants(width: int, height: int) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right: any turn or
    flip shows."""
    image = Image.new("RGB", (width, height))
    w2, h2 = width // 2, height // 2
    image.paste((255, 0, 0), (0, 0, w2, h2))
    image.paste((0, 255, 0), (w2, 0, width, h2))
    image.paste((0, 0, 255), (0, h2, w2, height))
    image.paste((255, 255, 255), (w2, h2, width, height))
    return image


def save_oriented(upright: Image.Image, orientation: int, path: Path, **options: object) -> None:
    """Store ``upright`` turned so that EXIF ``orientation`` shows it upright again."""
    how = STORE[orientation]
    stored = upright if how is None else upright.transpose(how)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    exif[0x010F] = "FusionFlow Test Camera"  # Make: something else to keep or strip
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, exif=exif.tobytes(), **options)


def huge_png_header(path: Path, width: int = 100_000, height: int = 100_000) -> None:
    """A PNG whose header claims ``width``x``height`` pixels, with a scrap of data: a bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(1000)))
        + chunk(b"IEND", b"")
    )


def colour_at(image: Image.Image, fx: float, fy: float) -> tuple[int, ...]:
    """The RGB colour at a fraction of the width and height."""
    rgb = image.convert("RGB")
    x = min(rgb.width - 1, int(rgb.width * fx))
    y = min(rgb.height - 1, int(rgb.height * fy))
    pixel = rgb.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return pixel


def near(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))
