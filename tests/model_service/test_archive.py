"""Archive scans through POST /v1/colorize (Flask's test client, the tiny checkpoint): TIFF in and out, 16-bit
photos answered at 16 bits with their lightness kept, metadata carried, and hostile TIFFs refused with a 4xx
that says what is wrong while the service goes on answering."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from colorize import photoio
from tests.colorize.test_photoio import (
    MAKE,
    ORIENTATION,
    SRGB,
    ZeroAB,
    grey16_ramp,
    hand_tiff,
    lightness16,
    opened,
    pages_tiff,
    pillow_tiff,
    read_png16,
    rgb16,
    tagged_jpeg,
    tagged_tiff16,
    tifffile_tiff,
)
from tests.colorize.test_photoio_reading import count_profile_parses, exif_bytes
from tests.conftest import natural_image
from tests.model_service.images import encode, lightness, photo_bytes, red_blue_swapped_profile

URL = "/v1/colorize?render_size=64"


def post(client, data: bytes, query: str = "", content_type: str = "image/tiff"):
    return client.post(URL + query, data=data, content_type=content_type)


def ok(response, mimetype: str, depth: int):
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == mimetype and response.headers["X-Bit-Depth"] == str(depth)
    return response


@pytest.fixture
def grey_answers(app, monkeypatch):
    """The service's model predicts ab = 0: every answer is grey, its RGB its lightness alone."""
    monkeypatch.setattr(app.extensions["model_service"].default, "model", ZeroAB())


# -- 16-bit in, 16-bit out --------------------------------------------------------------------------------


def test_a_16_bit_grey_tiff_is_answered_in_16_bits_with_its_own_levels(client, grey_answers):
    ramp = grey16_ramp()
    response = ok(post(client, tifffile_tiff(ramp)), "image/tiff", 16)
    answer = tifffile.imread(io.BytesIO(response.data))
    assert answer.dtype == np.uint16 and answer.shape == (*ramp.shape, 3)
    assert np.abs(answer.astype(int) - ramp[..., None]).max() <= 2  # B within 2: the LAB constants' white
    assert len(np.unique(answer[..., 1])) == ramp.size  # every one of the 3,072 levels


def test_a_coloured_16_bit_answer_keeps_the_lightness_at_16_bits(client):
    """With the tiny model's own (random) colours: where they are in gamut, L is the scan's to a thousandth
    of a unit; an 8-bit answer would be off by up to half a unit (the typical step of 8-bit L)."""
    ramp = grey16_ramp()
    answer = tifffile.imread(io.BytesIO(ok(post(client, tifffile_tiff(ramp)), "image/tiff", 16).data))
    error = np.abs(lightness16(answer) - lightness16(ramp))
    assert np.median(error) < 0.01
    assert len(np.unique(answer.reshape(-1, 3), axis=0)) > 2000  # far more colours than 256 grey levels


def test_a_16_bit_colour_tiff_keeps_its_lightness(client, grey_answers):
    photo = rgb16(30, 40)
    data = tifffile_tiff(photo, photometric="rgb", compression="lzw", predictor=True)
    answer = tifffile.imread(io.BytesIO(ok(post(client, data), "image/tiff", 16).data))
    assert answer.dtype == np.uint16 and answer.shape == photo.shape
    assert np.abs(lightness16(answer) - lightness16(photo)).max() < 0.002


def test_format_png_gives_a_16_bit_png_of_the_same_pixels(client):
    data = tifffile_tiff(grey16_ramp())
    as_tiff = tifffile.imread(io.BytesIO(ok(post(client, data), "image/tiff", 16).data))
    png = ok(post(client, data, "&format=png"), "image/png", 16).data
    assert struct.unpack(">IIBB", png[16:26]) == (64, 48, 16, 2)  # IHDR: 16-bit RGB
    np.testing.assert_array_equal(read_png16(png)[0], as_tiff)


def test_a_16_bit_png_is_answered_as_a_16_bit_png(client, grey_answers):
    ramp = grey16_ramp()
    answer, _ = read_png16(ok(post(client, encode(Image.fromarray(ramp), "PNG"), content_type="image/png"),
                              "image/png", 16).data)
    assert np.abs(answer.astype(int) - ramp[..., None]).max() <= 2


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_a_16_bit_colour_png_is_answered_at_16_bits_with_its_metadata(client, fmt):
    photo = rgb16(20, 30)
    data = photoio.png16(photo, SRGB, (300, 300), exif_bytes(orientation=6))
    response = ok(post(client, data, f"&format={fmt}", "image/png"), f"image/{fmt}", 16)
    answer = read_png16(response.data)[0] if fmt == "png" else tifffile.imread(io.BytesIO(response.data))
    assert answer.shape == (30, 20, 3)  # turned upright
    # with the tiny model's own colours, where in gamut L is the scan's to a thousandth (8 bits: half a unit)
    assert np.median(np.abs(lightness16(answer) - lightness16(np.rot90(photo, -1)))) < 0.01
    out = opened(response.data)
    assert out.info["icc_profile"] == SRGB and out.getexif()[MAKE] == "Nikon"
    assert out.getexif().get(ORIENTATION, 1) == 1 and out.info["dpi"] == pytest.approx((300, 300), abs=0.01)


@pytest.mark.parametrize("fmt, mimetype", [("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_8_bit_formats_get_8_bits(client, fmt, mimetype):
    response = ok(post(client, tifffile_tiff(grey16_ramp()), f"&format={fmt}"), mimetype, 8)
    image = opened(response.data)
    assert image.mode == "RGB" and image.size == (64, 48)


@pytest.mark.parametrize("image", [natural_image(30, 40).convert("L"), natural_image(30, 40)], ids=["grey", "rgb"])
def test_an_8_bit_tiff_is_answered_as_an_8_bit_tiff(client, image):
    response = ok(post(client, pillow_tiff(image, compression="tiff_lzw")), "image/tiff", 8)
    answer = tifffile.imread(io.BytesIO(response.data))
    assert answer.dtype == np.uint8 and answer.shape == (30, 40, 3)
    assert np.abs(lightness(opened(response.data)) - lightness(image)).mean() < 0.5


@pytest.mark.parametrize("pixels", [np.asarray(natural_image(12, 16)), rgb16(12, 16)], ids=["8-bit", "16-bit"])
def test_a_bigtiff_is_answered(client, pixels):
    response = ok(post(client, tifffile_tiff(pixels, photometric="rgb", bigtiff=True)), "image/tiff",
                  pixels.itemsize * 8)
    assert tifffile.imread(io.BytesIO(response.data)).shape == (12, 16, 3)


def test_a_tiff_without_a_resolution_is_answered_without_one(client):
    answer = opened(ok(post(client, pillow_tiff(natural_image(12, 16))), "image/tiff", 8).data)
    assert 282 not in answer.tag_v2 and 283 not in answer.tag_v2  # not the 1 dpi Pillow reads it as


def test_format_tiff_for_a_jpeg(client):
    response = ok(post(client, photo_bytes(30, 40), "&format=tif", "image/jpeg"), "image/tiff", 8)
    assert opened(response.data).size == (40, 30)


# -- pages ------------------------------------------------------------------------------------------------


def test_a_multi_page_tiff_is_answered_with_its_first_page_and_says_so(client, grey_answers):
    levels = (200, 40, 120)
    response = ok(post(client, pages_tiff([np.full((12, 16), v, np.uint8) for v in levels])), "image/tiff", 8)
    assert response.headers["X-Source-Pages"] == "3" and response.headers["X-Page"] == "1"
    assert np.abs(np.asarray(opened(response.data)).astype(int) - levels[0]).max() <= 1


def test_a_single_page_says_nothing_of_pages(client):
    response = ok(post(client, pillow_tiff(natural_image(12, 16))), "image/tiff", 8)
    assert "X-Source-Pages" not in response.headers and "X-Page" not in response.headers


# -- metadata ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", photoio.FORMATS)
def test_a_camera_jpeg_s_metadata_is_carried_and_its_orientation_applied_once(client, fmt):
    data = tagged_jpeg(orientation=6)  # 30 x 20, to be shown turned a quarter clockwise
    response = ok(post(client, data, f"&format={fmt}", "image/jpeg"), f"image/{fmt}", 8)
    answer = opened(response.data)
    assert answer.size == (20, 30)
    upright = ImageOps.exif_transpose(opened(data))
    assert np.abs(lightness(answer) - lightness(upright)).mean() < 1.0  # turned the right way, not twice
    exif = answer.getexif()
    assert exif[MAKE] == "Nikon" and exif.get(ORIENTATION, 1) == 1
    assert answer.info.get("icc_profile") == SRGB
    if fmt != "webp":
        assert answer.info["dpi"] == pytest.approx((300, 300), abs=0.01)


@pytest.mark.parametrize("pixels", [grey16_ramp(20, 30), rgb16(20, 30)], ids=["grey", "rgb"])
def test_a_16_bit_tiff_s_metadata_is_carried(client, pixels):
    data = tagged_tiff16(pixels, orientation=6)
    with tifffile.TiffFile(io.BytesIO(ok(post(client, data), "image/tiff", 16).data)) as tif:
        page = tif.pages.first
        assert page.dtype == np.uint16 and page.shape == (30, 20, 3)  # turned upright
        assert page.tags.valueof(274, 1) == 1
        assert page.tags.valueof(282) == (300, 1) and page.tags.valueof(296) == 2
        assert page.tags.valueof(34675) == SRGB and page.tags.valueof(MAKE) == "Nikon"
    png = opened(ok(post(client, data, "&format=png"), "image/png", 16).data)
    assert png.size == (20, 30) and png.info["icc_profile"] == SRGB and png.getexif()[MAKE] == "Nikon"
    assert png.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_the_icc_profile_is_parsed_once_a_request(client, monkeypatch):
    profile = red_blue_swapped_profile()  # its own RGB: converted to sRGB, and the answer back into it
    data = encode(natural_image(12, 16), "JPEG", icc_profile=profile)
    profile_parses = count_profile_parses(monkeypatch)
    answer = opened(ok(post(client, data, content_type="image/jpeg"), "image/jpeg", 8).data)
    assert answer.info["icc_profile"] == profile
    assert profile_parses == [profile]


# -- hostile TIFFs ----------------------------------------------------------------------------------------


def lzw_tiff_cut_in_half() -> bytes:
    data = pillow_tiff(natural_image(64, 64), compression="tiff_lzw")
    return data[: len(data) // 2]


def pixels_cut_short() -> bytes:
    """An intact header whose 16-bit colour strip ends halfway."""
    data = tifffile_tiff(rgb16(32, 32), photometric="rgb")
    return data[: len(data) - 3000]


def corrupt_icc(fmt: str) -> bytes:
    garbage = np.random.default_rng(1).integers(0, 256, 600, dtype=np.uint8).tobytes()
    return encode(natural_image(8, 8), fmt, icc_profile=garbage)


HOSTILE = [
    ("truncated-lzw", lzw_tiff_cut_in_half(), 400, "corrupt_image", "TIFF"),
    ("truncated-16-bit-pixels", pixels_cut_short(), 400, "corrupt_image", "16-bit TIFF data"),
    ("bomb", hand_tiff(100_000, 100_000, strip=bytes(64)), 422, "too_many_pixels", "too many pixels"),
    ("over-the-limit", hand_tiff(8_000, 8_000, strip=bytes(64)), 422, "too_many_pixels", "8000x8000"),
    ("32-bit-float", tifffile_tiff(np.zeros((8, 8), np.float32)), 415, "unsupported_bit_depth",
     "32-bit floating-point"),
    ("32-bit-float-rgb", tifffile_tiff(np.zeros((8, 8, 3), np.float32), photometric="rgb"), 415,
     "unsupported_bit_depth", "floating-point"),
    ("1-bit", pillow_tiff(Image.new("1", (8, 8))), 415, "unsupported_bit_depth", "1-bit"),
    ("jpeg2000", hand_tiff(8, 8, compression=34712), 415, "unsupported_compression", "compression"),
    ("old-style-jpeg", hand_tiff(8, 8, compression=6), 415, "unsupported_compression", "tiff_jpeg"),
    ("1000-pages", pages_tiff([np.zeros((1, 1), np.uint8)] * 1000), 422, "too_many_pages", "more than 64 pages"),
    ("corrupt-icc-png", corrupt_icc("PNG"), 422, "corrupt_icc_profile", "ICC profile"),
    ("corrupt-icc-jpeg", corrupt_icc("JPEG"), 422, "corrupt_icc_profile", "ICC profile"),
    ("corrupt-icc-tiff", corrupt_icc("TIFF"), 422, "corrupt_icc_profile", "ICC profile"),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns of the truncated directories it reads
@pytest.mark.parametrize("data, status, code, words", [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_tiffs_are_refused_with_what_is_wrong(client, data, status, code, words):
    response = post(client, data, content_type="application/octet-stream")
    assert response.status_code == status, response.data[:300]
    error = response.get_json()["error"]
    assert error["code"] == code and words in error["message"], error
    assert ok(post(client, pillow_tiff(natural_image(12, 16))), "image/tiff", 8)  # the next one is coloured
