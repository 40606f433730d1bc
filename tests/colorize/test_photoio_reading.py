"""What colorize.photoio reads from a photo: a 16-bit colour PNG at full depth (imagecodecs, where Pillow reads 8
bits), only the resolution the file states (not one Pillow makes up), and the ICC profile parsed once."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, TiffImagePlugin

from colorize import batch, photoio
from colorize.pipeline import colorize_upright
from tests.colorize.test_photoio import (
    MAKE,
    ORIENTATION,
    SRGB,
    ZeroAB,
    hand_tiff,
    lightness16,
    opened,
    pillow_tiff,
    read_png16,
    rgb16,
    tifffile_tiff,
)
from tests.conftest import natural_image


def exif_bytes(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[MAKE], exif[ORIENTATION] = "Nikon", orientation
    return exif.tobytes()


# -- 16-bit colour PNGs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [3, 4])
def test_a_16_bit_colour_png_is_read_with_every_level(channels):
    pixels = rgb16()
    if channels == 4:
        pixels = np.dstack([pixels, np.full(pixels.shape[:2], 40000, np.uint16)])
    data = photoio.png16(pixels)
    image = opened(data)
    assert photoio.read_meta(image).depth == 16
    read = photoio.full_depth(image, data)
    assert isinstance(read, np.ndarray) and read.dtype == np.uint16
    np.testing.assert_array_equal(read, pixels[..., :3])  # alpha dropped, as for a 16-bit RGBA TIFF


def test_an_8_bit_png_is_left_to_pillow():
    buffer = io.BytesIO()
    natural_image(6, 8).save(buffer, "PNG")
    image = opened(buffer.getvalue())
    assert photoio.read_meta(image).depth == 8 and photoio.full_depth(image, buffer.getvalue()) is image


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_a_16_bit_colour_png_is_turned_upright_as_pillow_turns_8_bit(orientation):
    eight = np.asarray(natural_image(6, 10))
    data = photoio.png16(eight.astype(np.uint16) * 257, exif=exif_bytes(orientation))
    buffer = io.BytesIO()
    Image.fromarray(eight).save(buffer, "PNG", exif=exif_bytes(orientation))
    expected = ImageOps.exif_transpose(opened(buffer.getvalue()))
    np.testing.assert_array_equal(photoio.full_depth(opened(data), data) // 257, np.asarray(expected))


def test_a_broken_16_bit_colour_png_is_a_corrupt_image():
    data = photoio.png16(rgb16(32, 32), level=0)
    with pytest.raises(photoio.PhotoError, match="16-bit PNG") as refused:
        photoio.full_depth(opened(data[:-2000]), data[:-2000])
    assert refused.value.code == "corrupt_image"


def test_colorize_predict_answers_a_16_bit_colour_png_at_16_bits_with_its_metadata(tmp_path):
    photo = rgb16(20, 30)
    source, target = tmp_path / "scan.png", tmp_path / "out" / "scan.png"
    source.write_bytes(photoio.png16(photo, SRGB, (600, 600), exif_bytes()))
    model = ZeroAB()
    batch.colorize_file(batch.Item(source, target, "scan.png"),
                        lambda pixels, depth: colorize_upright(pixels, model, 32, depth=depth), "png")
    answer, _ = read_png16(target.read_bytes())
    # 8 bits would miss by up to 0.67; the 16-bit lightness within a thousandth
    assert np.abs(lightness16(answer) - lightness16(photo)).max() < 0.002
    written = opened(target.read_bytes())
    assert written.info["icc_profile"] == SRGB and written.getexif()[MAKE] == "Nikon"
    assert written.info["dpi"] == pytest.approx((600, 600), abs=0.01)


# -- the resolution the file states -----------------------------------------------------------------------


def jpeg_with_exif_but_no_resolution() -> bytes:
    buffer = io.BytesIO()
    natural_image(8, 8).save(buffer, "JPEG", exif=exif_bytes())
    return buffer.getvalue()


NO_RESOLUTION = [
    ("8-bit-tiff", pillow_tiff(natural_image(8, 8))),  # Pillow reads it as 1 dpi
    ("hand-made-tiff", hand_tiff(8, 8)),
    ("16-bit-tiff-unitless", tifffile_tiff(rgb16(8, 8), photometric="rgb")),  # tifffile: 1 x 1, no unit
    ("jpeg-exif", jpeg_with_exif_but_no_resolution()),  # Pillow reads it as 72 dpi
]


@pytest.mark.parametrize("data", [c[1] for c in NO_RESOLUTION], ids=[c[0] for c in NO_RESOLUTION])
@pytest.mark.parametrize("fmt", ["png", "tiff", "jpeg"])
def test_a_photo_without_a_resolution_is_answered_without_one(data, fmt):
    meta = photoio.read_meta(opened(data))
    assert meta.dpi is None
    answer = opened(photoio.encode(natural_image(8, 8), fmt, meta))
    if fmt == "png":
        assert "dpi" not in answer.info
    elif fmt == "tiff":
        assert 282 not in answer.tag_v2 and 283 not in answer.tag_v2
    else:
        assert answer.info.get("jfif_unit") == 0  # an aspect ratio, no density


@pytest.mark.parametrize("unit, dpi", [("INCH", 300), ("CENTIMETER", 762)])
def test_a_tiff_s_stated_resolution_is_read(unit, dpi):
    data = tifffile_tiff(np.zeros((4, 4), np.uint8), resolution=(300, 300), resolutionunit=unit, metadata=None)
    assert photoio.read_meta(opened(data)).dpi == pytest.approx((dpi, dpi))


def test_a_tiff_resolution_without_a_unit_is_in_inches():
    """TIFF's default unit."""
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[282] = tags[283] = 300.0
    meta = photoio.read_meta(opened(pillow_tiff(Image.new("L", (4, 4)), tiffinfo=tags)))
    assert meta.dpi == (300, 300)


# -- the ICC profile, parsed once -------------------------------------------------------------------------


def count_profile_parses(monkeypatch) -> list[bytes]:
    """The ICC profiles parsed from bytes from now on (LittleCMS's profile_frombytes, under every
    ImageCmsProfile made from bytes). Shared with tests/model_service/test_archive.py."""
    parsed: list[bytes] = []
    real = ImageCms.core.profile_frombytes

    def counting(data):
        parsed.append(bytes(data))
        return real(data)

    monkeypatch.setattr(ImageCms.core, "profile_frombytes", counting)
    return parsed


def test_an_own_rgb_profile_is_parsed_once_from_reading_to_the_converted_answer(monkeypatch):
    from tests.model_service.images import red_blue_swapped_profile

    profile = red_blue_swapped_profile()
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG", icc_profile=profile)
    profile_parses = count_profile_parses(monkeypatch)
    meta = photoio.read_meta(opened(buffer.getvalue()))
    out = opened(photoio.encode(Image.new("RGB", (4, 4), (255, 0, 0)), "png", meta))
    assert out.info["icc_profile"] == profile and out.getpixel((1, 1))[2] > 200  # converted into it
    assert profile_parses == [profile]
