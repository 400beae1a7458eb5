"""resize-images on Pillow's own test images (`../shared/realworld/images/`), next to Pillow."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat, PngImagePlugin

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


def grey_tiff(bits: int, width: int, height: int) -> bytes:
    """An uncompressed grey TIFF of ``bits`` bits a sample (2 and 4: what scanners and fax
    software write), a ramp across each row; Pillow reads these."""
    levels = (1 << bits) - 1
    per_byte = 8 // bits
    rows = b""
    for y in range(height):
        samples = [(x + y) * levels // (width + height) for x in range(width)]
        samples += [0] * (-len(samples) % per_byte)
        rows += bytes(
            sum(s << (8 - bits * (i + 1)) for i, s in enumerate(samples[n : n + per_byte]))
            for n in range(0, len(samples), per_byte)
        )
    entries = [
        (256, 3, width),  # ImageWidth
        (257, 3, height),  # ImageLength
        (258, 3, bits),  # BitsPerSample
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # PhotometricInterpretation: BlackIsZero
        (273, 4, 8),  # StripOffsets: right after the header
        (277, 3, 1),  # SamplesPerPixel
        (278, 3, height),  # RowsPerStrip
        (279, 4, len(rows)),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries)
    return b"II*\0" + struct.pack("<I", 8 + len(rows)) + rows + ifd + b"\0\0\0\0"


@pytest.mark.parametrize(
    "make", ["palette-1bit", "palette-8bit", "grey-2bit", "grey-4bit", "tiled-planar", "ycbcr"]
)
def test_tiffs_the_image_crate_refuses_are_read_as_pillow_reads_them(
    make: str, realworld: Path, tmp_path: Path
) -> None:
    if make == "palette-1bit":
        source = realworld / "images" / "multipage.tiff"  # its first page, as Pillow
    elif make == "tiled-planar":  # on which the TIFF decoder panics (image-tiff#403)
        source = realworld / "images" / "tiff_tiled_planar_raw.tif"
    else:
        source = tmp_path / f"{make}.tif"
        if make in ("palette-8bit", "ycbcr"):
            with Image.open(realworld / "images" / "hopper_bigtiff.tif") as hopper:
                rgb = hopper.convert("RGB")
                (rgb.quantize(64) if make == "palette-8bit" else rgb.convert("YCbCr")).save(source)
        else:
            source.write_bytes(grey_tiff(int(make[5]), 37, 23))
    with Image.open(source) as original:
        reference = original.convert("RGB")
    params = {"max_width": reference.width, "format": "png"}
    summary = fusionflow.run("resize-images", [source], params, tmp_path / "out")
    assert summary["errors"] == []
    ours = Image.open(tmp_path / "out" / f"{source.stem}.png").convert("RGB")
    assert ours.size == reference.size
    # < 1: Pillow converts YCbCr in integers, rounding its own way (ours is the nearer to
    # the RGB image the YCbCr one was made from: 0.83 against 1.27).
    assert difference(ours, reference) < 1


@pytest.mark.parametrize("form", ["attribute", "element"])
def test_png_xmp_orientation_is_applied_as_pillow_applies_it(
    form: str, realworld: Path, tmp_path: Path
) -> None:
    """PNG writers keep the orientation in XMP (`tiff:Orientation`), as an attribute or an
    element; Pillow's ``exif_transpose`` reads both."""
    value = (
        '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
        if form == "attribute"
        else "<rdf:Description><tiff:Orientation>6</tiff:Orientation></rdf:Description>"
    )
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        + value
        + "</rdf:RDF></x:xmpmeta>"
    )
    source = tmp_path / "sideways.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    with Image.open(realworld / "images" / "hopper_bigtiff.tif") as hopper:
        hopper.convert("RGB").crop((0, 0, 128, 96)).save(source, pnginfo=info)
    fusionflow.run("resize-images", [source], {"max_width": 48}, tmp_path / "out")
    ours = Image.open(tmp_path / "out" / source.name).convert("RGB")
    with Image.open(source) as original:
        upright = ImageOps.exif_transpose(original).convert("RGB")
        assert upright.size == (96, 128)  # Pillow turned it
    assert ours.size == (48, 64)
    assert difference(ours, upright.resize(ours.size)) < 8
