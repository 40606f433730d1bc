"""Hypothesis strategies for tests/reliability/test_fuzz.py: inputs that get past each parser's signature check.

Small valid photos of every accepted format (Pillow; tifffile for TIFF directories, odd tags, 16 bits and many
pages), then damaged where a parser looks (a PNG chunk with its CRC made right again, a JPEG segment, a TIFF
directory entry) or anywhere (flips, cuts, insertions); ICC profiles and EXIF blobs embedded in valid photos.
The request around them (hints, query values, multipart bodies): form_strategies.py.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
import tifffile
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import natural_image
from tests.reliability.inputs import srgb_profile

# Modes Pillow writes in each format; "I;16" is 16-bit grey.
PILLOW_MODES = {"JPEG": ("L", "RGB", "CMYK"), "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
                "WEBP": ("RGB", "RGBA"), "GIF": ("L", "P"), "BMP": ("1", "L", "P", "RGB"), "AVIF": ("RGB", "RGBA")}
SIDES = st.sampled_from([1, 2, 7, 16, 33])  # few sizes, so the encoded photos are cached
TIFF_KINDS = {"grey8": ((), np.uint8), "grey16": ((), np.uint16), "rgb8": ((3,), np.uint8),
              "rgb16": ((3,), np.uint16), "rgba16": ((4,), np.uint16), "cmyk8": ((4,), np.uint8),
              "bilevel": ((), bool), "float32": ((), np.float32), "int16": ((), np.int16), "uint32": ((), np.uint32)}
TIFF_COMPRESSIONS = (None, "lzw", "zlib", "packbits", "jpeg", "zstd")
# Tags a photo's readers look at (orientation, resolution, ICC, EXIF/GPS pointers, sample format...), and any.
TIFF_TAGS = st.sampled_from([274, 282, 283, 296, 305, 306, 315, 317, 320, 338, 339, 700, 33432, 33723, 34665,
                             34675, 34853, 37724, 50838]) | st.integers(1, 65535)


def _pixels(shape: tuple[int, ...], dtype, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype is bool:
        return rng.integers(0, 2, shape).astype(bool)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape, dtype=np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@functools.lru_cache(maxsize=1024)
def pillow_photo(fmt: str, mode: str, width: int, height: int, variant: int) -> bytes:
    """A small photo encoded by Pillow; ``variant`` picks the encoder's options (progressive, animated...)."""
    image = natural_image(height, width, seed=variant % 3)
    image = (Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257) if mode == "I;16"
             else image.convert(mode))
    options = {
        "JPEG": {"progressive": variant & 1, "subsampling": variant % 3, "quality": 50 + variant},
        "PNG": {"optimize": variant & 1, "transparency": 0} if mode in ("L", "P") and variant & 2 else {},
        "WEBP": {"lossless": variant & 1, "quality": 50},
        "GIF": {"transparency": 0} if variant & 2 else {},
        "AVIF": {"quality": 50, "speed": 10},
    }.get(fmt, {})
    if variant & 4 and fmt in ("GIF", "WEBP", "PNG", "AVIF"):  # animated: a second, different frame
        options |= {"save_all": True, "append_images": [image.transpose(Image.Transpose.ROTATE_180)],
                    "duration": 50}
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def tiff_photo(kind: str, width: int, height: int, pages: int = 1, compression: str | None = None,
               planar: bool = False, bigtiff: bool = False, extratags: tuple = (), **options) -> bytes:
    """A small TIFF written by tifffile (``options``: iccprofile, resolution...); kinds in TIFF_KINDS."""
    samples, dtype = TIFF_KINDS[kind]
    pixels = _pixels((pages, height, width, *samples), dtype, width + height)
    photometric = {"grey8": "minisblack", "grey16": "minisblack", "bilevel": "miniswhite", "cmyk8": "separated",
                   "float32": "minisblack", "int16": "minisblack", "uint32": "minisblack"}.get(kind, "rgb")
    if compression == "jpeg" and dtype != np.uint8:
        compression = None
    if kind == "rgba16":
        options["extrasamples"] = ("unassalpha",)
    if samples:
        options["planarconfig"] = "separate" if planar else "contig"
        if planar:  # RRR...GGG...BBB: the samples before the rows
            pixels = np.moveaxis(pixels, -1, 1)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels[0] if pages == 1 else pixels, photometric=photometric, compression=compression,
                     bigtiff=bigtiff, extratags=list(extratags), metadata=None, **options)
    return buffer.getvalue()


@st.composite
def tiff_extratag(draw) -> tuple:
    """One tag of a drawn type and count: BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, FLOAT, DOUBLE, LONG8."""
    code, dtype = draw(TIFF_TAGS), draw(st.sampled_from([1, 2, 3, 4, 5, 7, 11, 12, 16]))
    count = draw(st.integers(1, 6))
    if dtype == 2:
        return code, 2, 0, draw(st.text(st.characters(min_codepoint=1, max_codepoint=126), max_size=20)), True
    if dtype in (1, 7):
        return code, dtype, count, draw(st.binary(min_size=count, max_size=count)), True
    if dtype in (11, 12):
        return code, dtype, count, draw(st.lists(st.floats(width=32), min_size=count, max_size=count)), True
    top = {3: 2**16 - 1, 4: 2**32 - 1, 5: 2**32 - 1, 16: 2**64 - 1}[dtype]
    count *= 2 if dtype == 5 else 1  # a rational is two LONGs
    return code, dtype, count // (2 if dtype == 5 else 1), draw(st.lists(st.integers(0, top), min_size=count,
                                                                          max_size=count)), True


@st.composite
def tiffs(draw) -> bytes:
    """TIFF directories and tags: grey/RGB/CMYK, 1 to 32 bits, float, signed, many pages, odd tags."""
    options = {"kind": draw(st.sampled_from(sorted(TIFF_KINDS))), "width": draw(SIDES), "height": draw(SIDES),
               "pages": draw(st.sampled_from([1, 1, 2, 3, 65])),  # 65: one over photoio.MAX_PAGES
               "compression": draw(st.sampled_from(TIFF_COMPRESSIONS)), "planar": draw(st.booleans()),
               "bigtiff": draw(st.booleans())}
    if draw(st.booleans()):
        options["resolution"] = (draw(st.integers(0, 10_000)) or 1, draw(st.integers(1, 10_000)))
    tags = tuple(draw(st.lists(tiff_extratag(), max_size=4, unique_by=lambda t: t[0])))
    try:
        return tiff_photo(**options, extratags=tags)
    except Exception:  # noqa: BLE001 - tifffile refuses some tag codes and types: the photo without them
        return tiff_photo(**options)


@st.composite
def photos(draw) -> bytes:
    """A valid photo of any accepted format, mode, size and encoder option."""
    fmt = draw(st.sampled_from([*PILLOW_MODES, "TIFF"]))
    if fmt == "TIFF":
        return draw(tiffs())
    return pillow_photo(fmt, draw(st.sampled_from(PILLOW_MODES[fmt])), draw(SIDES), draw(SIDES),
                        draw(st.integers(0, 7)))


# Damage. Each takes the bytes and a draw, and damages one place.
def _flip(draw, data: bytearray) -> None:
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))


def _splice(draw, data: bytearray) -> None:
    """Cut, insert, delete or repeat a span."""
    start = draw(st.integers(0, len(data)))
    end = draw(st.integers(start, min(len(data), start + 64)))
    how = draw(st.sampled_from(["cut", "insert", "delete", "repeat"]))
    if how == "cut":
        del data[start:]
    elif how == "insert":
        data[start:start] = draw(st.binary(min_size=1, max_size=32))
    elif how == "delete":
        del data[start:end]
    else:
        data[start:start] = data[start:end] * draw(st.integers(1, 3))


def _png_chunk(draw, data: bytearray) -> None:
    """Change a chunk's body, length field, or drop/repeat the chunk; the CRC made right, so it is read."""
    chunks, at = [], 8
    while at + 12 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        chunks.append((at, length))
        at += 12 + length
    if not chunks:
        return _flip(draw, data)
    at, length = draw(st.sampled_from(chunks))
    kind, body = bytes(data[at + 4:at + 8]), bytearray(data[at + 8:at + 8 + length])
    how = draw(st.sampled_from(["body", "length", "drop", "repeat"]))
    if how == "body" and body:
        _flip(draw, body)
    elif how == "length":
        struct.pack_into(">I", data, at, draw(st.sampled_from([0, 1, min(length + 1, 2**32 - 1), 2**31 - 1])))
        return None
    whole = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    data[at:at + 12 + length] = b"" if how == "drop" else whole * (2 if how == "repeat" else 1)


def _jpeg_segment(draw, data: bytearray) -> None:
    """Change the payload or length of a marker segment (DQT, DHT, SOF, SOS, APPn) before the scan."""
    segments, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF and data[at + 1] not in (0xD9, 0xDA):
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if at + 2 + length > len(data):  # damaged already: runs past the end
            break
        segments.append((at, length))
        at += 2 + length
    if not segments:
        return _flip(draw, data)
    at, length = draw(st.sampled_from(segments))
    if draw(st.booleans()) and length > 2:
        data[at + 4 + draw(st.integers(0, length - 3))] = draw(st.integers(0, 255))
    else:
        lengths = [0, 1, 2, max(length - 1, 0), min(length + 1, 65535), 65535]
        struct.pack_into(">H", data, at + 2, draw(st.sampled_from(lengths)))
    return None


def _tiff_entry(draw, data: bytearray) -> None:
    """Change one field of a first-directory entry (tag, type, count, value or offset), or the next-IFD link."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\0", b"\0+")
    try:
        ifd = struct.unpack_from(order + ("Q" if big else "I"), data, 8 if big else 4)[0]
        count = struct.unpack_from(order + ("Q" if big else "H"), data, ifd)[0]
    except (struct.error, OverflowError):  # damaged already: the directory is not there
        return _flip(draw, data)
    head, size, word = (8, 20, 8) if big else (2, 12, 4)
    if not 0 < count < 1000 or ifd + head + count * size + word > len(data):
        return _flip(draw, data)
    entry = ifd + head + draw(st.integers(0, count - 1)) * size
    field = draw(st.sampled_from(["tag", "type", "count", "value", "next"]))
    where, fmt = {"tag": (entry, "H"), "type": (entry + 2, "H"), "count": (entry + 4, "Q" if big else "I"),
                  "value": (entry + 4 + word, "Q" if big else "I"),
                  "next": (ifd + head + count * size, "Q" if big else "I")}[field]
    top = 2**16 - 1 if fmt == "H" else 2**(8 * struct.calcsize(fmt)) - 1
    value = draw(st.sampled_from([0, 1, 2, 7, 13, 17, ifd, len(data), top]) | st.integers(0, top))
    struct.pack_into(order + fmt, data, where, min(value, top))
    return None


def damage(draw, data: bytes) -> bytes:
    """``data`` damaged in 1-3 places, where its format's parser looks or anywhere."""
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        if not damaged:
            break
        kinds = [_flip, _splice]
        if damaged.startswith(b"\x89PNG"):
            kinds.append(_png_chunk)
        elif damaged.startswith(b"\xff\xd8"):
            kinds.append(_jpeg_segment)
        elif damaged[:2] in (b"II", b"MM"):
            kinds.append(_tiff_entry)
        draw(st.sampled_from(kinds))(draw, damaged)
    return bytes(damaged)


@st.composite
def damaged_photos(draw, base: st.SearchStrategy[bytes] | None = None) -> bytes:
    return damage(draw, draw(photos() if base is None else base))


@st.composite
def icc_profiles(draw) -> bytes:
    """Random bytes, or the sRGB profile with its header (size, colour space, class, tag count) or tag table
    changed, or cut short."""
    if draw(st.booleans()):
        return draw(st.binary(min_size=1, max_size=600))
    profile = bytearray(srgb_profile())
    how = draw(st.sampled_from(["space", "class", "size", "tags", "flip", "cut"]))
    four = st.binary(min_size=4, max_size=4)
    if how == "space":
        profile[16:20] = draw(st.sampled_from([b"GRAY", b"CMYK", b"Lab ", b"XYZ ", b"\0\0\0\0"]) | four)
    elif how == "class":
        profile[12:16] = draw(st.sampled_from([b"link", b"abst", b"nmcl", b"prtr"]) | four)
    elif how == "size":
        struct.pack_into(">I", profile, 0, draw(st.integers(0, 2**32 - 1)))
    elif how == "tags":
        struct.pack_into(">I", profile, 128 + draw(st.sampled_from([0, 4, 8, 12])), draw(st.integers(0, 2**32 - 1)))
    elif how == "flip":
        _flip(draw, profile)
    else:
        del profile[draw(st.integers(1, len(profile) - 1)):]
    return bytes(profile)


@st.composite
def icc_photos(draw) -> bytes:
    """A valid PNG, JPEG, WebP or TIFF carrying a drawn ICC profile, in a mode the profile may not fit."""
    profile = draw(icc_profiles())
    fmt = draw(st.sampled_from(["PNG", "JPEG", "WEBP", "TIFF"]))
    if fmt == "TIFF":
        return tiff_photo(draw(st.sampled_from(["grey8", "rgb8", "rgb16", "cmyk8"])), 7, 5, iccprofile=profile)
    mode = draw(st.sampled_from([m for m in PILLOW_MODES[fmt] if m not in ("1", "I;16")]))
    buffer = io.BytesIO()
    natural_image(5, 7).convert(mode).save(buffer, fmt, icc_profile=profile)
    return buffer.getvalue()


EXIF_VALUES = (st.integers(-(2**31), 2**32) | st.floats(allow_nan=True) | st.text(max_size=12)
               | st.binary(max_size=12) | st.tuples(st.integers(0, 2**16), st.integers(0, 2**16)))
# Orientation, the pointers to EXIF's own directories (Exif, GPS, Interop), dates, maker note, any tag.
EXIF_TAGS = st.sampled_from([0x0112, 0x8769, 0x8825, 0xA005, 0x0132, 0x927C, 0x9286, 0x010E]) | st.integers(0, 65535)


@st.composite
def exif_blobs(draw) -> bytes:
    """EXIF made by Pillow from odd tags and values, or a TIFF-structured blob damaged after it was made."""
    exif = Image.Exif()
    for tag, value in draw(st.dictionaries(EXIF_TAGS, EXIF_VALUES, max_size=5)).items():
        exif[tag] = value
    try:
        blob = exif.tobytes()
    except Exception:  # noqa: BLE001 - Pillow cannot write every value it is given: just the orientation
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 9))
        blob = exif.tobytes()
    return damage(draw, blob) if draw(st.booleans()) else blob


@st.composite
def exif_photos(draw) -> bytes:
    """A valid JPEG, PNG, WebP or AVIF carrying a drawn EXIF blob."""
    fmt, blob = draw(st.sampled_from(["JPEG", "PNG", "WEBP", "AVIF"])), draw(exif_blobs())
    buffer = io.BytesIO()
    try:
        natural_image(5, 7).save(buffer, fmt, exif=blob, **({"speed": 10} if fmt == "AVIF" else {}))
    except Exception:  # noqa: BLE001 - Pillow's AVIF writer parses the blob; JPEG carries any bytes
        buffer = io.BytesIO()
        natural_image(5, 7).save(buffer, "JPEG", exif=blob)
    return buffer.getvalue()
