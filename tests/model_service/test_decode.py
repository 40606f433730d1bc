"""model_service.decode: every accepted format decodes; everything else raises one typed DecodeError."""

import random
import struct
import zlib

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


# Structured fuzzing: valid signatures and headers (sizes, bit depths, colour types, tags chosen by Hypothesis)
# with fuzzed bodies, so the parsers get past their signature checks and into the decoders.
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _junk(draw, size: int) -> bytes:
    """``size`` pseudo-random bytes from a drawn seed (cheaper than drawing them one by one)."""
    return random.Random(draw(st.integers(0, 2**32))).randbytes(size)


def _fuzzed(draw, body: bytes) -> bytes:
    """``body`` with a few bytes changed, or cut short, or replaced by junk of about its length."""
    how = draw(st.sampled_from(["mutate", "cut", "junk"]))
    if how == "junk":
        return _junk(draw, draw(st.integers(0, 2 * len(body) + 16)))
    if how == "cut":
        return body[: draw(st.integers(0, len(body)))]
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _real(draw, fmt: str, **options) -> bytes:
    """A real image of a drawn size and mode, encoded by Pillow."""
    size = (draw(st.integers(1, 64)), draw(st.integers(1, 64)))
    mode = draw(st.sampled_from(["L", "RGB", "CMYK"] if fmt == "JPEG" else ["L", "RGB", "RGBA"]))
    return encode(natural_image(size[1], size[0], seed=draw(st.integers(0, 9))).convert(mode), fmt, **options)


@st.composite
def png_files(draw) -> bytes:
    width, height = draw(st.integers(1, 600)), draw(st.integers(1, 600))
    colour_type, depth = draw(st.sampled_from([(0, 1), (0, 8), (0, 16), (2, 8), (2, 16), (3, 4), (3, 8),
                                               (4, 8), (6, 8), (6, 16)]))
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, draw(st.integers(0, 1)))
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    stride = 1 + (width * channels * depth + 7) // 8  # filter byte + packed row
    if stride * height <= 200_000 and draw(st.booleans()):  # rows of junk pixels with valid filter bytes
        body = bytearray(_junk(draw, stride * height))
        body[::stride] = bytes(b % 5 for b in body[::stride])
    else:
        body = draw(st.binary(max_size=4096))
    idat = zlib.compress(body) if draw(st.booleans()) else bytes(body)  # valid zlib of junk rows, or junk
    palette = _chunk(b"PLTE", draw(st.binary(min_size=3, max_size=768))) if colour_type == 3 else b""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + palette + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@st.composite
def jpeg_files(draw) -> bytes:
    """A real JPEG's tables and frame header (baseline or progressive), its entropy-coded data fuzzed."""
    data = _real(draw, "JPEG", progressive=draw(st.booleans()), subsampling=draw(st.integers(0, 2)))
    sos = data.index(b"\xff\xda")
    header_end = sos + 2 + int.from_bytes(data[sos + 2: sos + 4], "big")
    return data[:header_end] + _fuzzed(draw, data[header_end:-2]) + b"\xff\xd9"


@st.composite
def gif_files(draw) -> bytes:
    width, height = draw(st.integers(1, 600)), draw(st.integers(1, 600))
    table = draw(st.binary(min_size=6, max_size=6))
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    data = draw(st.binary(max_size=255))
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + table + descriptor
            + bytes([draw(st.integers(0, 12)), len(data)]) + data + b"\x00;")


@st.composite
def bmp_files(draw) -> bytes:
    bits = draw(st.sampled_from([1, 4, 8, 16, 24, 32]))
    width, height = draw(st.integers(-10, 600)), draw(st.integers(-600, 600))
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, draw(st.integers(0, 6)), 0, 0, 0,
                      draw(st.integers(0, 300)), 0)
    body = draw(st.binary(max_size=4096))
    return b"BM" + struct.pack("<IHHI", 54 + len(body), 0, 0, 54) + dib + body


@st.composite
def tiff_files(draw) -> bytes:
    """One strip of junk under a consistent IFD: size, bits, samples, photometric and compression drawn."""
    width, height = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    samples, photometric = draw(st.sampled_from([(1, 0), (1, 1), (3, 2), (4, 2), (4, 5), (3, 6)]))
    bits = draw(st.sampled_from([1, 8, 16])) if samples == 1 else 8
    compression = draw(st.sampled_from([1, 5, 7, 8, 32773, 32946]))  # none, LZW, JPEG, deflate, PackBits
    body = _junk(draw, draw(st.integers(0, min(width * height * samples * bits // 8 + 64, 100_000))))
    tags = [(256, 4, width), (257, 4, height), (258, 3, bits), (259, 3, compression), (262, 3, photometric),
            (273, 4, 0), (277, 3, samples), (278, 4, height), (279, 4, len(body))]
    offset = 8 + 2 + 12 * len(tags) + 4  # the strip follows the IFD
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + struct.pack("<I" if kind == 4 else "<HH", *(
            (offset if tag == 273 else value,) if kind == 4 else (value, 0))) for tag, kind, value in tags)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(4) + body


@st.composite
def webp_files(draw) -> bytes:
    """A real lossy or lossless WebP, its bitstream after the chunk headers fuzzed (RIFF size kept right)."""
    data = _real(draw, "WEBP", lossless=draw(st.booleans()))
    body = data[:30] + _fuzzed(draw, data[30:])
    return body[:4] + struct.pack("<I", len(body) - 8) + body[8:]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about damaged TIFF tags and EXIF
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(png_files(), jpeg_files(), gif_files(), bmp_files(), tiff_files(), webp_files()))
def test_fuzz_valid_headers_with_fuzzed_bodies(data):
    try:
        image = decode_image(data, 1_000_000)
    except DecodeError:
        return
    width, height = image.size
    assert 1 <= width * height <= 1_000_000  # what decodes keeps to the pixel limit
    _decode_like_the_service(data)


def test_an_unreadable_tiff_header_says_so_without_pillow_internals():
    """Random bytes after a TIFF signature: the message says what is wrong, not the name of a buffer object."""
    data = b"II*\x00" + random.Random(3).randbytes(300)
    with pytest.raises(CorruptImage) as refused:
        open_image(data, LIMIT)
    assert str(refused.value) == "cannot read the TIFF header: truncated or not valid"
