"""colorize.photoio: TIFFs read at their own depth (Pillow, and tifffile for 16-bit colour), the 16-bit PNG
writer, the metadata carried into every answer format, and the TIFFs refused for their pages, compression or
bit depth. The TIFF makers here are shared with tests/model_service/test_archive.py and tests/reliability."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageOps

from colorize import lab, photoio
from colorize.pipeline import colorize_upright
from tests.conftest import natural_image

SRGB = photoio.SRGB_ICC  # the same bytes in every process (a fresh LittleCMS profile carries its creation time)
ORIENTATION, MAKE = 0x0112, 271


# -- photos made on the fly -------------------------------------------------------------------------------


def pillow_tiff(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", **options)
    return buffer.getvalue()


def tifffile_tiff(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, **options)
    return buffer.getvalue()


def pages_tiff(pages: list[np.ndarray], **options) -> bytes:
    """A multi-page TIFF, one page per array."""
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for page in pages:
            writer.write(page, contiguous=False, **options)
    return buffer.getvalue()


def hand_tiff(width: int, height: int, bits: int = 8, samples: int = 1, strip: bytes | None = None,
              compression: int = 1, sample_format: int | None = None) -> bytes:
    """A one-strip little-endian TIFF written by hand: it may declare any size, compression or sample format
    (a bomb: a huge size over a few bytes; a compression no library here reads)."""
    strip = bytes(width * height * samples * bits // 8) if strip is None else strip
    tags = {256: (4, [width]), 257: (4, [height]), 258: (3, [bits] * samples), 259: (3, [compression]),
            262: (3, [2 if samples >= 3 else 1]), 273: (4, [0]), 277: (3, [samples]), 278: (4, [height]),
            279: (4, [len(strip)])}
    if sample_format:
        tags[339] = (3, [sample_format] * samples)
    outside = 8 + 2 + 12 * len(tags) + 4  # values over 4 bytes follow the directory
    directory, values = struct.pack("<H", len(tags)), b""
    for tag, (kind, numbers) in sorted(tags.items()):
        value = struct.pack(f"<{len(numbers)}{'H' if kind == 3 else 'I'}", *numbers)
        if len(value) > 4:
            directory += struct.pack("<HHII", tag, kind, len(numbers), outside + len(values))
            values += value
        else:
            directory += struct.pack("<HHI", tag, kind, len(numbers)) + value.ljust(4, b"\0")
    strip_at = outside + len(values)
    directory = directory.replace(struct.pack("<HHII", 273, 4, 1, 0), struct.pack("<HHII", 273, 4, 1, strip_at))
    return b"II*\0" + struct.pack("<I", 8) + directory + b"\0\0\0\0" + values + strip


def grey16_ramp(height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth 16-bit grey ramp: height x width distinct levels, far more than 8 bits hold."""
    return np.linspace(0, 65535, height * width).round().astype(np.uint16).reshape(height, width)


def rgb16(height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    """A 16-bit colour photo: natural_image's 8-bit colours with 16-bit detail added."""
    eight = np.asarray(natural_image(height, width, seed), dtype=np.uint32) * 257
    fine = np.random.default_rng(seed).integers(0, 257, eight.shape)
    return np.clip(eight + fine - 128, 0, 65535).astype(np.uint16)


def tagged_jpeg(orientation: int = 6, icc: bytes = SRGB, height: int = 20, width: int = 30) -> bytes:
    """A camera-like JPEG: EXIF with Make, DateTime and an orientation in IFD0, DateTimeOriginal in the Exif
    sub-IFD and a GPS sub-IFD (as phones write them), an ICC profile and 300 DPI."""
    exif = Image.Exif()
    exif[MAKE], exif[306], exif[ORIENTATION] = "Nikon", "2001:02:03 04:05:06", orientation
    exif.get_ifd(0x8769)[0x9003] = "2001:02:03 04:05:06"
    exif.get_ifd(0x8825)[1] = "N"
    buffer = io.BytesIO()
    natural_image(height, width).save(buffer, "JPEG", exif=exif, icc_profile=icc, dpi=(300, 300))
    return buffer.getvalue()


def tagged_tiff16(pixels: np.ndarray, orientation: int = 1) -> bytes:
    """A 16-bit TIFF (grey or RGB) with an ICC profile, 300 DPI, Make and an orientation."""
    extratags = [(MAKE, "s", 0, "Nikon", True), (274, "H", 1, orientation, True)]
    return tifffile_tiff(pixels, photometric="rgb" if pixels.ndim == 3 else "minisblack", iccprofile=SRGB,
                         resolution=(300, 300), resolutionunit="INCH", extratags=extratags, metadata=None)


def read_png16(data: bytes) -> tuple[np.ndarray, dict[bytes, bytes]]:
    """The pixels (uint16 H x W x 3|4) and the other chunks of a 16-bit colour PNG, checked chunk by chunk
    (CRC included). Reads filter types 0 and 2 only: what photoio.png16 writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, idat, pos = {}, b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body), kind
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour_type, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 16 and colour_type in (2, 6)
    channels = 3 if colour_type == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * channels * 2)
    rows = np.zeros((height, width * channels * 2), np.uint8)
    for y in range(height):
        assert raw[y, 0] in (0, 2), f"filter type {raw[y, 0]}"
        rows[y] = raw[y, 1:] + (rows[y - 1] if raw[y, 0] == 2 and y else 0)  # "Up": uint8 arithmetic wraps
    return rows.view(">u2").reshape(height, width, channels).astype(np.uint16), chunks


class ZeroAB(torch.nn.Module):
    """A model that predicts ab = 0: its answer is grey, so its RGB is the lightness alone."""

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return lightness.new_zeros(lightness.shape[0], 2, *lightness.shape[2:])


def lightness16(pixels: np.ndarray) -> np.ndarray:
    """L (0-100) of a 16-bit grey (H, W) or RGB (H, W, 3) array, via colorize.lab."""
    planes = torch.from_numpy(pixels.astype(np.int32))
    planes = planes[None] if planes.ndim == 2 else planes.permute(2, 0, 1)
    return lab.uint16_to_lightness(planes)[0].numpy()


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


# -- TIFFs read: each compression at each depth -----------------------------------------------------------

GREY8 = np.asarray(natural_image(24, 32).convert("L"))
RGB8 = np.asarray(natural_image(24, 32))
GREY16 = grey16_ramp(24, 32)
RGB16 = rgb16()
PILLOW_COMPRESSIONS = ["raw", "tiff_lzw", "tiff_adobe_deflate", "packbits", "jpeg"]
READABLE = [
    *[(f"grey8-{c}", GREY8, c) for c in PILLOW_COMPRESSIONS],
    *[(f"rgb8-{c}", RGB8, c) for c in PILLOW_COMPRESSIONS],
    *[(f"grey16-{c}", GREY16, c) for c in PILLOW_COMPRESSIONS if c != "jpeg"],  # JPEG holds 8 bits at most
    *[(f"rgb16-{c}", RGB16, c) for c in (None, "zlib", "lzw", "packbits")],  # Pillow cannot write 16-bit colour
]


def readable_tiff(pixels: np.ndarray, compression: str | None) -> bytes:
    if pixels.dtype == np.uint16 and pixels.ndim == 3:
        return tifffile_tiff(pixels, photometric="rgb", compression=compression,
                             predictor=compression in ("zlib", "lzw"))  # as scanners write them
    return pillow_tiff(Image.fromarray(pixels), compression=compression)


@pytest.mark.parametrize("pixels, compression", [case[1:] for case in READABLE], ids=[case[0] for case in READABLE])
def test_tiffs_are_read_at_their_own_depth(pixels, compression):
    data = readable_tiff(pixels, compression)
    image = opened(data)
    assert photoio.check_tiff(image) == 1
    meta = photoio.read_meta(image)
    assert meta.depth == pixels.dtype.itemsize * 8 and meta.pages == 1
    read = photoio.full_depth(image, data)
    if pixels.dtype == np.uint16 and pixels.ndim == 3:  # tifffile: every 16-bit level, exactly
        assert isinstance(read, np.ndarray) and read.dtype == np.uint16
        np.testing.assert_array_equal(read, pixels)
        return
    assert read is image  # Pillow's own image, decoded at its own depth
    decoded = np.asarray(read)
    if compression == "jpeg":
        assert np.abs(decoded.astype(int) - pixels).mean() < 6  # lossy, and the photo is noisy
    else:
        np.testing.assert_array_equal(decoded, pixels)
        assert decoded.dtype == (np.uint16 if meta.depth == 16 else np.uint8)


def test_16_bit_colour_planes_stored_apart_are_read_as_pixels():
    """PlanarConfiguration 2 (all red, then green, then blue), which some scanners write."""
    data = tifffile_tiff(np.moveaxis(RGB16, -1, 0), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(photoio.full_depth(opened(data), data), RGB16)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16_bit_colour_is_turned_upright_as_pillow_turns_8_bit(orientation):
    eight = np.asarray(natural_image(6, 10))
    tag = [(274, "H", 1, orientation, True)]
    data = tifffile_tiff(eight.astype(np.uint16) * 257, photometric="rgb", extratags=tag)
    upright = photoio.full_depth(opened(data), data)
    expected = ImageOps.exif_transpose(opened(tifffile_tiff(eight, photometric="rgb", extratags=tag)))
    np.testing.assert_array_equal(upright // 257, np.asarray(expected))


# -- the lightness of a 16-bit photo is kept at 16 bits -----------------------------------------------------


def test_a_16_bit_grey_keeps_every_level_when_coloured_grey():
    ramp = grey16_ramp()
    answer = colorize_upright(Image.fromarray(ramp), ZeroAB(), 64, depth=16)
    assert answer.dtype == np.uint16 and answer.shape == (*ramp.shape, 3)
    # R and G land on the input's level; B within 2 (the LAB constants' white is not exactly sRGB's)
    assert np.abs(answer.astype(int) - ramp[..., None]).max() <= 2
    assert len(np.unique(answer[..., 1])) == len(np.unique(ramp)) == ramp.size


def test_a_16_bit_colour_photo_keeps_its_lightness():
    photo = rgb16(48, 64)
    answer = colorize_upright(photo, ZeroAB(), 64, depth=16)
    assert answer.dtype == np.uint16
    # an 8-bit answer misses by up to 0.67 (one 8-bit level near black is ~0.3 L); 16 bits by a thousandth
    assert np.abs(lightness16(answer) - lightness16(photo)).max() < 0.002


def test_an_8_bit_photo_stays_8_bit():
    answer = colorize_upright(Image.fromarray(GREY8), ZeroAB(), 64, depth=8)
    assert isinstance(answer, Image.Image) and answer.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(answer)[..., 1], GREY8)


def test_a_16_bit_tiff_keeps_its_levels_through_read_colour_and_write():
    """TIFF in, TIFF out: what colorize predict and the service do with a 16-bit scan."""
    data = readable_tiff(RGB16, "lzw")
    image = opened(data)
    meta = photoio.read_meta(image)
    answer = colorize_upright(photoio.full_depth(image, data), ZeroAB(), 64, depth=meta.depth)
    written = tifffile.imread(io.BytesIO(photoio.encode(answer, "tiff", meta)))
    assert written.dtype == np.uint16
    assert np.abs(lightness16(written) - lightness16(RGB16)).max() < 0.002


# -- the 16-bit PNG writer --------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [3, 4])
def test_png16_writes_every_16_bit_level(channels):
    pixels = np.random.default_rng(channels).integers(0, 65536, (9, 13, channels), dtype=np.uint16)
    pixels[3] = pixels[2]  # equal rows: "Up" leaves zeros
    data = photoio.png16(pixels)
    decoded, _ = read_png16(data)
    np.testing.assert_array_equal(decoded, pixels)
    image = opened(data)  # a real decoder agrees (Pillow reads 16-bit colour as its high bytes)
    assert image.size == (13, 9) and image.mode == ("RGB" if channels == 3 else "RGBA")
    np.testing.assert_array_equal(np.asarray(image), (pixels >> 8).astype(np.uint8))


def test_png16_carries_profile_resolution_and_exif():
    exif = Image.Exif()
    exif[MAKE], exif[ORIENTATION] = "Nikon", 1
    data = photoio.png16(rgb16(4, 5), SRGB, (300, 300), exif.tobytes())
    _, chunks = read_png16(data)
    assert struct.unpack(">IIB", chunks[b"pHYs"]) == (11811, 11811, 1)  # 300 DPI in pixels per metre
    image = opened(data)
    assert image.info["icc_profile"] == SRGB
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert image.getexif()[MAKE] == "Nikon"


# -- metadata carried into every format -------------------------------------------------------------------


def answer_for(depth: int, height: int = 30, width: int = 20) -> Image.Image | np.ndarray:
    return rgb16(height, width) if depth == 16 else natural_image(height, width)


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("fmt", photoio.FORMATS)
def test_icc_dpi_and_exif_are_carried_into_every_format(fmt, depth):
    source = opened(tagged_jpeg(orientation=6))
    meta = photoio.read_meta(source)
    assert (meta.icc_space, meta.dpi, meta.depth) == ("RGB ", (300, 300), 8)
    out = opened(photoio.encode(answer_for(depth), fmt, meta))
    assert out.size == (20, 30)
    assert out.info.get("icc_profile") == SRGB
    if fmt != "webp":  # WebP has no resolution
        assert out.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    exif = out.getexif()
    assert exif[MAKE] == "Nikon" and exif[306] == "2001:02:03 04:05:06"
    assert exif.get(ORIENTATION, 1) == 1  # the pixels are upright: no viewer may turn them again
    if fmt != "tiff":  # EXIF's own directory too (a TIFF answer keeps IFD0's descriptive tags)
        assert exif.get_ifd(0x8769)[0x9003] == "2001:02:03 04:05:06"


def test_a_16_bit_tiff_answer_holds_its_tags():
    meta = photoio.read_meta(opened(tagged_jpeg()))
    data = photoio.encode(rgb16(6, 8), "tiff", meta)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        assert page.dtype == np.uint16 and page.shape == (6, 8, 3)
        assert page.tags.valueof(282) == page.tags.valueof(283) == (300, 1)
        assert page.tags.valueof(296) == 2  # inches
        assert page.tags.valueof(34675) == SRGB
        assert page.tags.valueof(MAKE) == "Nikon"


def test_a_16_bit_tiff_s_own_metadata_is_read():
    image = opened(tagged_tiff16(GREY16, orientation=6))
    meta = photoio.read_meta(image)
    assert (meta.depth, meta.icc_profile, meta.dpi) == (16, SRGB, (300, 300))
    exif = Image.Exif()
    exif.load(meta.exif)
    assert exif[MAKE] == "Nikon" and exif.get(ORIENTATION, 1) == 1


def test_an_rgb_profile_of_its_own_is_kept_and_the_8_bit_answer_converted_into_it():
    from tests.model_service.images import red_blue_swapped_profile

    profile = red_blue_swapped_profile()  # not sRGB: its "red" is sRGB's blue
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG", icc_profile=profile)
    meta = photoio.read_meta(opened(buffer.getvalue()))
    out = opened(photoio.encode(Image.new("RGB", (4, 4), (255, 0, 0)), "png", meta))
    assert out.info["icc_profile"] == profile
    red, _, blue = out.getpixel((1, 1))
    assert blue > 200 and red < 60  # sRGB red, written in the photo's own profile
    # 16-bit answers stay in sRGB, and say so
    assert opened(photoio.encode(rgb16(4, 4), "png", meta)).info["icc_profile"] == SRGB


def test_without_metadata_nothing_is_invented():
    out = opened(photoio.encode(natural_image(8, 8), "png", photoio.PhotoMeta()))
    assert "icc_profile" not in out.info and "dpi" not in out.info and not out.getexif()


# -- pages, and what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, photoio.MAX_PAGES])
def test_the_pages_are_counted(count):
    image = opened(pages_tiff([np.full((2, 3), 3 * i, np.uint8) for i in range(count)]))
    assert photoio.check_tiff(image) == count
    assert image.tell() == 0 and np.asarray(image)[0, 0] == 0  # left on the first page
    assert photoio.read_meta(image).pages == count


def test_a_page_pillow_cannot_set_up_is_still_counted():
    data = bytearray(pages_tiff([np.full((2, 3), v, np.uint8) for v in (10, 20, 30)]))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        at = tif.pages[1].tags[259].valueoffset
    struct.pack_into("<H", data, at, 34712)  # the second page in JPEG 2000
    assert photoio.check_tiff(opened(bytes(data))) == 3


@pytest.mark.parametrize("count", [photoio.MAX_PAGES + 1, 1000])
def test_too_many_pages_are_refused(count):
    image = opened(pages_tiff([np.zeros((1, 1), np.uint8)] * count))
    with pytest.raises(photoio.PhotoError, match=f"more than {photoio.MAX_PAGES} pages") as refused:
        photoio.check_tiff(image)
    assert refused.value.code == "too_many_pages"


REFUSED = [
    ("1-bit", pillow_tiff(Image.new("1", (8, 8))), "unsupported_bit_depth", "1-bit"),
    ("4-bit", hand_tiff(8, 8, bits=4), "unsupported_bit_depth", "4-bit"),
    ("32-bit-float", tifffile_tiff(np.zeros((8, 8), np.float32)), "unsupported_bit_depth", "32-bit floating-point"),
    ("32-bit-int", tifffile_tiff(np.zeros((8, 8), np.uint32)), "unsupported_bit_depth", "32-bit"),
    ("16-bit-signed", tifffile_tiff(np.zeros((8, 8), np.int16)), "unsupported_bit_depth", "16-bit signed"),
    ("group4", pillow_tiff(Image.new("1", (8, 8)), compression="group4"), "unsupported_compression", "group4"),
    ("old-jpeg", hand_tiff(8, 8, compression=6), "unsupported_compression", "tiff_jpeg"),
    ("lzma", hand_tiff(8, 8, compression=34925), "unsupported_compression", "lzma"),
]


@pytest.mark.parametrize("data, code, words", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_unread_encodings_are_refused_from_the_header(data, code, words):
    with pytest.raises(photoio.PhotoError, match=words) as refused:
        photoio.check_tiff(opened(data))
    assert refused.value.code == code and "save the scan" in str(refused.value)


UNOPENED = [  # TIFFs Pillow cannot open at all: it calls them unidentified
    ("jpeg2000", hand_tiff(8, 8, compression=34712), "unsupported_compression", "code 34712"),
    ("float-rgb", tifffile_tiff(np.zeros((4, 4, 3), np.float32), photometric="rgb"), "unsupported_bit_depth",
     "32/32/32-bit floating-point"),
    ("32-bit-rgb", tifffile_tiff(np.zeros((4, 4, 3), np.uint32), photometric="rgb"), "unsupported_bit_depth",
     "32/32/32-bit"),
]


@pytest.mark.parametrize("data, code, words", [c[1:] for c in UNOPENED], ids=[c[0] for c in UNOPENED])
def test_why_pillow_cannot_open_a_tiff_is_said(data, code, words):
    with pytest.raises(Exception):  # noqa: B017 - whichever Pillow raises: the point is that it cannot
        opened(data)
    with pytest.raises(photoio.PhotoError, match=words) as refused:
        photoio.check_unopened_tiff(data)
    assert refused.value.code == code


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's word for a short TIFF directory
@pytest.mark.parametrize("data", [b"II*\0" + bytes(4), b"II*\0\xff\xff\xff\xff", hand_tiff(8, 8)[:30]],
                         ids=["no-directory", "directory-past-the-end", "directory-cut"])
def test_a_broken_tiff_is_left_to_the_caller(data):
    assert photoio.check_unopened_tiff(data) is None


def test_a_corrupt_icc_profile_is_refused():
    buffer = io.BytesIO()
    garbage = np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes()
    Image.new("RGB", (4, 4)).save(buffer, "PNG", icc_profile=garbage)
    with pytest.raises(photoio.PhotoError, match="ICC profile") as refused:
        photoio.read_meta(opened(buffer.getvalue()))
    assert refused.value.code == "corrupt_icc_profile"
