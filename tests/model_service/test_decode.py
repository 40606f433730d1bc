"""model_service.decode: every accepted format decodes; everything else raises one typed DecodeError."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from colorize.pipeline import lightness_of, split_alpha
from model_service.decode import (
    CorruptImage,
    DecodeError,
    EmptyImage,
    TooManyPixels,
    UnsupportedFormat,
    decode_image,
    open_image,
)
from tests.conftest import natural_image
from tests.model_service.images import animation, bomb_png, encode, photo_bytes, red_blue_swapped_profile

LIMIT = 50_000_000


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_accepted_formats_decode_at_their_size(fmt):
    image = decode_image(photo_bytes(37, 53, fmt), LIMIT)
    assert image.size == (53, 37)
    assert np.asarray(image).size  # pixels are loaded


def test_sixteen_bit_png_keeps_its_mode():
    grey16 = Image.fromarray(np.asarray(natural_image(20, 30).convert("L"), dtype=np.uint16) * 257)
    image = decode_image(encode(grey16, "PNG"), LIMIT)
    assert image.mode.startswith("I") and image.size == (30, 20)


@pytest.mark.parametrize("data, error", [
    (b"", EmptyImage),
    (b"hello, this is a text file\n" * 20, UnsupportedFormat),
    (b"%PDF-1.7\n" + bytes(200), UnsupportedFormat),
    (bytes(range(256)) * 4, UnsupportedFormat),
    (encode(natural_image(8, 8), "PPM"), UnsupportedFormat),  # Pillow reads it; this service does not
    (photo_bytes(fmt="JPEG")[:300], CorruptImage),  # truncated
    (photo_bytes(fmt="PNG")[:100], CorruptImage),
    (b"\xff\xd8\xff\xe0" + bytes(500), CorruptImage),  # a JPEG signature, then nothing
    (b"\x89PNG\r\n\x1a\n" + b"garbage" * 30, CorruptImage),
])
def test_bad_bytes_raise_their_typed_error(data, error):
    with pytest.raises(error):
        decode_image(data, LIMIT)


def test_a_decompression_bomb_is_refused(monkeypatch):
    with pytest.raises(TooManyPixels):  # 400 MP: over Pillow's own limit too
        open_image(bomb_png(20000, 20000), LIMIT)
    # 64 MP: under Pillow's limit, over ours. Refused from the header: nothing is decoded.
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the bomb was decoded"))
    with pytest.raises(TooManyPixels, match="8000x8000"):
        open_image(bomb_png(8000, 8000), LIMIT)


def test_max_pixels_is_the_limit():
    data = photo_bytes(10, 10, "PNG")
    assert decode_image(data, 100).size == (10, 10)
    with pytest.raises(TooManyPixels):
        decode_image(data, 99)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animations_give_their_first_frame(fmt):
    image = decode_image(animation(fmt, [(200, 30, 30), (30, 30, 200)]), LIMIT)
    r, g, b = image.convert("RGB").getpixel((5, 5))[:3]
    assert r > 150 and b < 80


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image = decode_image(encode(natural_image(20, 30), "JPEG", exif=exif), LIMIT)
    assert image.size == (20, 30)


def test_icc_profile_is_converted_to_srgb():
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    image = decode_image(encode(red, "PNG", icc_profile=red_blue_swapped_profile()), LIMIT)
    r, _, b = image.getpixel((0, 0))
    assert b > 200 and r < 50  # "red" in a profile whose red primary is sRGB's blue
    plain = decode_image(encode(red, "PNG", icc_profile=b"not a profile" * 10), LIMIT)
    assert plain.getpixel((0, 0)) == (255, 0, 0)  # an unusable profile is ignored


def test_truncated_images_are_not_patched_up():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = photo_bytes(64, 64, "JPEG")
    with pytest.raises(CorruptImage, match="truncated"):
        decode_image(data[: len(data) - 200], LIMIT)


SEEDS = [photo_bytes(24, 32, fmt, seed=1) for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")]


def _decode_like_the_service(data: bytes) -> None:
    """decode_image, then the pipeline's own reading of the pixels, must raise nothing but DecodeError."""
    try:
        image = decode_image(data, 1_000_000)
    except DecodeError:
        return
    image, _ = split_alpha(image)
    lightness = lightness_of(image)
    assert lightness.shape[-2:] == image.size[::-1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(data):
    _decode_like_the_service(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the damaged TIFF tags
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_fuzz_damaged_images(seed, data):
    damaged = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    _decode_like_the_service(bytes(damaged[:cut]))
