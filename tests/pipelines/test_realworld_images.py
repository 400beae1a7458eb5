"""resize-images on Pillow's own test images (`../shared/realworld/images/`), next to Pillow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

import fusionflow


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two RGB images of one size, 0 to 255."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_webp_exif_orientation_is_applied_as_pillow_applies_it(
    orientation: int, realworld: Path, tmp_path: Path
) -> None:
    source = realworld / "images" / f"hopper_orientation_{orientation}.webp"
    fusionflow.run("resize-images", [source], {"max_width": 64}, tmp_path / "out")
    ours = Image.open(tmp_path / "out" / source.name).convert("RGB")
    with Image.open(source) as original:
        upright = ImageOps.exif_transpose(original).convert("RGB").resize(ours.size)
        stored = original.convert("RGB").resize(ours.size)
    assert difference(ours, upright) < 8  # resampling differs a little
    assert difference(ours, stored) > 3 * difference(ours, upright)  # and it was turned


def test_a_tiff_with_fill_order_2_is_decoded_as_libtiff_decodes_it(
    realworld: Path, tmp_path: Path
) -> None:
    """``16bit.r.tif`` stores each byte's bits lowest first (FillOrder=2): read in the
    usual order its grey levels are noise around 32,775; Pillow (libtiff) reads 291..694."""
    source = realworld / "images" / "16bit.r.tif"
    summary = fusionflow.run("resize-images", [source], {"max_width": 64}, tmp_path / "out")
    assert summary["errors"] == []
    ours = Image.open(tmp_path / "out" / source.name).convert("L")
    with Image.open(source) as original:
        assert original.mode == "I;16"
        levels = [original.getpixel((x, y)) for y in range(64) for x in range(64)]
    # 16 bits to 8: v / 257, as the 16-bit decoder scales them.
    expected = [round(v / 257) for v in levels]
    shown = [ours.getpixel((x, y)) for y in range(64) for x in range(64)]
    assert max(abs(a - b) for a, b in zip(shown, expected, strict=True)) <= 1


def test_a_bigtiff_is_read(realworld: Path, tmp_path: Path) -> None:
    source = realworld / "images" / "hopper_bigtiff.tif"
    summary = fusionflow.run("resize-images", [source], {"max_width": 64}, tmp_path / "out")
    assert (summary["files_resized"], summary["errors"]) == (1, [])
    ours = Image.open(tmp_path / "out" / source.name).convert("RGB")
    with Image.open(source) as original:
        assert difference(ours, original.convert("RGB").resize(ours.size)) < 4


@pytest.mark.parametrize(
    ("name", "defect"),
    [
        ("junk_jpeg_header.jpg", "5 extraneous bytes before marker 0xdb"),
        ("photoshop-200dpi-broken.jpg", "16 extraneous bytes before marker 0xe1"),
        ("icc-after-SOF.jpg", "bad ICC marker"),
        ("hopper_bad_exif.jpg", "1214 extraneous bytes before marker 0xd0"),
    ],
)
def test_jpegs_libjpeg_reads_past_a_defect_are_read_with_a_warning(
    name: str, defect: str, realworld: Path, tmp_path: Path
) -> None:
    """libjpeg warns and goes on; Pillow ignores the warning. At full size (no DCT
    scaling) and written losslessly, the pixels are Pillow's, within rounding."""
    source = realworld / "images" / name
    with Image.open(source) as original:
        reference = original.convert("RGB")
    params = {"max_width": reference.width, "format": "png"}
    summary = fusionflow.run("resize-images", [source], params, tmp_path / "out")
    assert summary["errors"] == []
    (recovered,) = summary["recovered"]
    assert recovered["path"] == str(source)
    assert defect in recovered["warning"]
    (entry,) = [
        json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()
    ]
    assert entry["warning"] == recovered["warning"]
    ours = Image.open(tmp_path / "out" / entry["output"]).convert("RGB")
    assert ours.size == reference.size
    assert difference(ours, reference) < 1
