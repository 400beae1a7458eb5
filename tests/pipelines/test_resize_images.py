"""``resize-images``: sizes for every mode, orientation, formats, metadata, bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageOps

import fusionflow
from fusionflow.errors import InvalidParameter
from tests.pipelines.images import (
    ICC_TAG,
    ORIENTATION_TAG,
    STORE,
    colour_at,
    huge_png_header,
    near,
    quadrants,
    save_oriented,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def resize(inputs: list[Path], out: Path, **params: Any) -> dict[str, Any]:
    summary: dict[str, Any] = fusionflow.run(
        "resize-images", inputs=[str(i) for i in inputs], params=params, output=out
    )
    return summary


def manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "photo.jpg"
    path.parent.mkdir()
    quadrants(3000, 2000).save(path, quality=90)
    return path


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"max_width": 1024, "max_height": 1024}, (1024, 683)),
        ({"max_width": 300}, (300, 200)),
        ({"max_height": 100}, (150, 100)),
        ({"max_width": 200, "max_height": 200, "mode": "fill"}, (200, 200)),
        ({"max_width": 400, "max_height": 100, "mode": "fill"}, (400, 100)),
        ({"max_width": 300, "max_height": 100, "mode": "exact"}, (300, 100)),
        ({"max_width": 5000, "max_height": 5000}, (3000, 2000)),
        ({"max_width": 6000, "max_height": 6000, "upscale": True}, (6000, 4000)),
        ({"max_width": 4000, "max_height": 4000, "mode": "fill"}, (2000, 2000)),
        ({"max_width": 2999, "max_height": 1999}, (2999, 1999)),
    ],
)
def test_golden_sizes_for_every_mode(
    photo: Path, tmp_path: Path, params: dict[str, Any], size: tuple[int, int]
) -> None:
    out = tmp_path / "out"
    summary = resize([photo], out, **params)
    assert (summary["files_total"], summary["files_resized"], summary["errors"]) == (1, 1, [])
    with Image.open(out / "photo.jpg") as thumb:
        assert thumb.size == size
        assert thumb.format == "JPEG"
        # The picture, not just the size: the centre-cropped or scaled quadrants.
        assert near(colour_at(thumb, 0.1, 0.1), RED)
        assert near(colour_at(thumb, 0.9, 0.9), WHITE)
    (entry,) = manifest(out)
    assert (entry["new_width"], entry["new_height"]) == size
    assert (entry["width"], entry["height"]) == (3000, 2000)
    assert entry["bytes_out"] == (out / "photo.jpg").stat().st_size


def test_fill_crops_the_centre(tmp_path: Path) -> None:
    wide = tmp_path / "wide.png"
    image = Image.new("RGB", (900, 300), BLUE)
    image.paste(RED, (300, 0, 600, 300))  # the middle third
    image.save(wide)
    out = tmp_path / "out"
    resize([wide], out, max_width=100, max_height=100, mode="fill")
    with Image.open(out / "wide.png") as thumb:
        assert thumb.size == (100, 100)
        assert near(colour_at(thumb, 0.02, 0.5), RED)
        assert near(colour_at(thumb, 0.98, 0.5), RED)


@pytest.mark.parametrize("orientation", sorted(STORE))
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_every_exif_orientation_is_applied(tmp_path: Path, orientation: int, suffix: str) -> None:
    source = tmp_path / f"o{orientation}{suffix}"
    save_oriented(
        quadrants(600, 400),
        orientation,
        source,
        **({"lossless": True} if suffix == ".webp" else {}),
    )
    with Image.open(source) as check:  # the fixture is right: Pillow shows it upright
        assert ImageOps.exif_transpose(check).size == (600, 400)
    out = tmp_path / "out"
    summary = resize([source], out, max_width=300, max_height=300)
    assert summary["errors"] == []
    with Image.open(out / source.name) as thumb:
        assert thumb.size == (300, 200)
        assert ORIENTATION_TAG not in thumb.getexif()  # stripped: nothing turns it again
        for (fx, fy), colour in {(0.1, 0.1): RED, (0.9, 0.1): GREEN, (0.1, 0.9): BLUE}.items():
            assert near(colour_at(thumb, fx, fy), colour), (orientation, fx, fy)
    assert manifest(out)[0]["width"] == 600


def test_metadata_is_stripped_by_default_and_kept_on_request(tmp_path: Path) -> None:
    source = tmp_path / "tagged.jpg"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save_oriented(quadrants(800, 600), 6, source, icc_profile=icc)
    stripped, kept = tmp_path / "stripped", tmp_path / "kept"
    resize([source], stripped, max_width=200)
    resize([source], kept, max_width=200, keep_metadata=True)
    with Image.open(stripped / "tagged.jpg") as thumb:
        assert not thumb.getexif()
        assert ICC_TAG not in thumb.info
    with Image.open(kept / "tagged.jpg") as thumb:
        exif = thumb.getexif()
        assert exif[0x010F] == "FusionFlow Test Camera"
        assert exif[ORIENTATION_TAG] == 1  # applied, so reset
        assert thumb.info[ICC_TAG] == icc
        assert thumb.size == (200, 150)
    png = tmp_path / "tagged.png"
    quadrants(400, 300).save(png, icc_profile=icc)
    resize([png], kept, max_width=100, keep_metadata=True)
    with Image.open(kept / "tagged.png") as thumb:
        assert thumb.info[ICC_TAG] == icc


def test_formats_in_and_out(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    upright = quadrants(640, 480)
    upright.save(src / "a.jpg")
    upright.save(src / "b.png")
    upright.save(src / "c.webp", quality=90)
    upright.save(src / "d.gif")
    upright.save(src / "e.tiff")
    upright.save(src / "f.bmp")
    for fmt, expected in (("same", None), ("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")):
        out = tmp_path / f"out-{fmt}"
        summary = resize([src], out, max_width=320, format=fmt)
        assert summary["files_resized"] == 6, summary["errors"]
        for entry in manifest(out):
            with Image.open(out / entry["output"]) as thumb:
                thumb.load()
                assert thumb.size == (320, 240)
                assert thumb.format == (expected or entry["format"].upper())
                assert near(colour_at(thumb, 0.1, 0.1), RED, tolerance=60)
        if fmt == "webp":
            assert sorted(e["output"] for e in manifest(out)) == [f"{n}.webp" for n in "abcdef"]
        if fmt == "same":
            assert sorted(e["output"] for e in manifest(out)) == sorted(
                p.name for p in src.iterdir()
            )


def test_quality_trades_bytes(photo: Path, tmp_path: Path) -> None:
    low = resize([photo], tmp_path / "low", max_width=800, quality=30)
    high = resize([photo], tmp_path / "high", max_width=800, quality=95)
    assert low["bytes_out"] < high["bytes_out"]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    source = tmp_path / "cmyk.jpg"
    quadrants(400, 300).convert("CMYK").save(source, quality=95)
    out = tmp_path / "out"
    summary = resize([source], out, max_width=200)
    assert summary["errors"] == []
    with Image.open(source) as original, Image.open(out / "cmyk.jpg") as thumb:
        assert thumb.mode == "RGB"
        assert thumb.size == (200, 150)
        for fx, fy in ((0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9)):
            assert near(colour_at(thumb, fx, fy), colour_at(original, fx, fy), 20)


def test_16_bit_png_stays_16_bit(tmp_path: Path) -> None:
    source = tmp_path / "deep.png"
    Image.linear_gradient("L").resize((512, 256)).convert("I").point(lambda v: v * 257).convert(
        "I;16"
    ).save(source)
    out = tmp_path / "out"
    resize([source], out, max_width=128)
    with Image.open(out / "deep.png") as thumb:
        assert thumb.size == (128, 64)
        assert thumb.mode == "I;16"
        assert thumb.getextrema()[1] > 255  # really 16 bits of range
    resize([source], tmp_path / "jpeg", max_width=128, format="jpeg")
    with Image.open(tmp_path / "jpeg" / "deep.jpg") as thumb:
        assert thumb.mode == "L"


def test_alpha_is_kept_in_png_and_flattened_on_white_in_jpeg(tmp_path: Path) -> None:
    source = tmp_path / "logo.png"
    logo = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    logo.paste((255, 0, 0, 255), (100, 100, 300, 300))
    logo.save(source)
    resize([source], tmp_path / "png", max_width=100)
    with Image.open(tmp_path / "png" / "logo.png") as thumb:
        assert thumb.mode == "RGBA"
        assert thumb.getpixel((2, 2))[3] == 0
        assert thumb.getpixel((50, 50)) == (255, 0, 0, 255)
    resize([source], tmp_path / "jpg", max_width=100, format="jpeg")
    with Image.open(tmp_path / "jpg" / "logo.jpg") as thumb:
        assert near(colour_at(thumb, 0.02, 0.02), WHITE, 8)
        assert near(colour_at(thumb, 0.5, 0.5), RED, 30)


def test_gif_first_frame(tmp_path: Path) -> None:
    source = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (200, 100), c) for c in (RED, BLUE)]
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100, loop=0)
    resize([source], tmp_path / "out", max_width=50)
    with Image.open(tmp_path / "out" / "anim.gif") as thumb:
        assert thumb.size == (50, 25)
        assert near(colour_at(thumb, 0.5, 0.5), RED)


def test_bad_files_are_reported_and_the_rest_is_done(photo: Path, tmp_path: Path) -> None:
    src = photo.parent
    (src / "empty.jpg").write_bytes(b"")
    (src / "notes.txt").write_text("not an image\n")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    (src / "truncated.jpg").write_bytes(photo.read_bytes()[: photo.stat().st_size // 3])
    huge_png_header(src / "bomb.png")
    out = tmp_path / "out"
    summary = resize([src], out, max_width=256)
    assert summary["files_total"] == 6
    assert summary["files_resized"] == 1
    errors = {Path(e["path"]).name: e["error"] for e in summary["errors"]}
    assert errors["empty.jpg"] == "empty file"
    assert errors["notes.txt"].startswith("not a supported image")
    assert errors["corrupt.png"].startswith("corrupt png")
    assert errors["truncated.jpg"].startswith("corrupt JPEG")
    assert "larger than max_pixels" in errors["bomb.png"]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl", "photo.jpg", "summary.json"]
    assert [e["output"] for e in manifest(out)] == ["photo.jpg"]


def test_trees_are_mirrored_and_several_inputs_kept_apart(tmp_path: Path) -> None:
    for tree in ("a", "b"):
        for sub in ("2024/06", "2025"):
            path = tmp_path / tree / sub / "x.png"
            path.parent.mkdir(parents=True)
            quadrants(64, 64).save(path)
    out = tmp_path / "one"
    resize([tmp_path / "a"], out, max_width=16)
    assert sorted(e["output"] for e in manifest(out)) == ["2024/06/x.png", "2025/x.png"]
    assert (out / "2024/06/x.png").is_file()
    out = tmp_path / "two"
    resize([tmp_path / "a", tmp_path / "b"], out, max_width=16)
    assert sorted(e["output"] for e in manifest(out)) == [
        "a/2024/06/x.png",
        "a/2025/x.png",
        "b/2024/06/x.png",
        "b/2025/x.png",
    ]


def test_same_output_name_twice_is_a_per_file_error(tmp_path: Path) -> None:
    quadrants(64, 64).save(tmp_path / "pic.png")
    quadrants(64, 64).save(tmp_path / "pic.PNG")
    summary = resize(
        [tmp_path / "pic.png", tmp_path / "pic.PNG"], tmp_path / "out", max_width=8, format="jpeg"
    )
    assert summary["files_resized"] == 1
    assert "already written" in summary["errors"][0]["error"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "give max_width, max_height or both"),
        ({"max_width": 10, "mode": "fill"}, "needs both"),
        ({"max_width": 0}, "max_width"),
        ({"max_width": 10, "quality": 101}, "quality"),
        ({"max_width": 10, "format": "avif"}, "format"),
    ],
)
def test_bad_parameters_are_refused_before_any_work(
    photo: Path, tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        resize([photo], tmp_path / "out", **params)
    assert not (tmp_path / "out").exists()


def test_sizes_that_would_exhaust_memory_are_refused_per_file(tmp_path: Path) -> None:
    import gzip

    quadrants(64, 48).save(tmp_path / "small.png")
    # 2 MiB of decompressed data from a tiny file: read, counted and refused at the limit.
    (tmp_path / "bomb.png.gz").write_bytes(gzip.compress(bytes(2 << 20)))
    summary = resize([tmp_path], tmp_path / "out", max_width=32, max_file_bytes=1 << 20)
    errors = {Path(e["path"]).name: e["error"] for e in summary["errors"]}
    assert errors == {"bomb.png.gz": "larger than max_file_bytes (1048576)"}
    # An enlarged box is an allocation too: 65535 x 65535 outputs are refused, not tried.
    huge = resize(
        [tmp_path / "small.png"], tmp_path / "huge",
        max_width=65_535, max_height=65_535, mode="exact", upscale=True,
    )  # fmt: skip
    (error,) = huge["errors"]
    assert error["error"] == (
        "an output of 65535x65535 pixels is larger than max_pixels (100000000)"
    )
