"""resize-images on Pillow's own test images (`../shared/realworld/images/`), next to Pillow."""

from __future__ import annotations

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
