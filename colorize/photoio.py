"""Archive photos in and out: TIFF at full depth, and the metadata a scan carries (ICC profile, DPI, EXIF).

Shared by the model service (model_service.decode, its answers) and ``colorize predict``:

    meta = read_meta(image)                      # before the EXIF orientation is applied
    pixels = full_depth(image, source)           # a 16-bit RGB TIFF as a uint16 array, else the PIL image
    result = colorize_upright(pixels, model, 128, depth=meta.depth)
    data = encode(result, "tiff", meta)

Pillow reads 16-bit grey at full depth but 16-bit RGB TIFFs only as 8-bit, so those are read with tifffile
(LZW and JPEG through imagecodecs). A 16-bit photo is answered in 16 bits in PNG and TIFF; JPEG and WebP are
8-bit formats. What each format keeps is in docs/limits.md.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, TiffImagePlugin

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
# IFD0's descriptive tags: where a TIFF keeps what a JPEG keeps in EXIF; carried between the two.
TEXT_TAGS = {270: "ImageDescription", 271: "Make", 272: "Model", 305: "Software", 306: "DateTime",
             315: "Artist", 33432: "Copyright"}
_TIFFFILE_OWN = {305}  # tifffile writes Software itself
MAX_PAGES = 64  # a multi-page TIFF (front, back, thumbnail) is answered with its first page; more is refused
# TIFF compressions read (Pillow's names); others (old-style JPEG, CCITT fax, LogLuv, WebP, ZSTD...) are refused
TIFF_COMPRESSIONS = {"raw", "tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "jpeg", "packbits"}


def _stable_srgb_profile() -> bytes:
    """LittleCMS's sRGB profile with its creation date and profile ID zeroed (an ID of zeros means "not
    computed"): the same bytes in every process, so answers are reproducible."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc[24:36] = bytes(12)
    icc[84:100] = bytes(16)
    return bytes(icc)


SRGB_ICC = _stable_srgb_profile()
FORMATS = ("png", "jpeg", "webp", "tiff")
SIXTEEN_BIT_FORMATS = ("png", "tiff")


class PhotoError(ValueError):
    """A photo this project will not read; ``code`` names why (the model service's error code)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass
class PhotoMeta:
    """What a photo carries besides its pixels, to be written into its colorized answer."""

    icc_profile: bytes | None = None  # the source's own (checked to parse)
    icc_space: str | None = None  # its colour space: "RGB ", "GRAY", "CMYK"...
    dpi: tuple[float, float] | None = None
    exif: bytes | None = None  # orientation reset to 1 (the pixels are upright)
    pages: int = 1
    depth: int = 8  # 16 for a 16-bit photo


def _tag_values(tags, tag: int) -> tuple[int, ...]:
    value = tags.get(tag) if tags is not None else None
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),)


def _bits_per_sample(image: Image.Image) -> tuple[int, ...]:
    return _tag_values(getattr(image, "tag_v2", None), 258)


def _bit_depth_error(depth: str, sample_formats: tuple[int, ...]) -> PhotoError:
    kind = " floating-point" if 3 in sample_formats else " signed" if 2 in sample_formats else ""
    return PhotoError(f"{depth}{kind} TIFFs are not supported; save the scan as 8- or 16-bit grey or RGB",
                      "unsupported_bit_depth")


def check_tiff(image: Image.Image) -> int:
    """Refuse what a TIFF must not be here (too many pages, a compression or bit depth not read); the number of
    pages (at most MAX_PAGES). Only the headers are read."""
    compression = image.info.get("compression", "raw")
    if compression not in TIFF_COMPRESSIONS:
        raise PhotoError(f"TIFF compression {compression!r} is not supported; save the scan uncompressed or with "
                         "LZW, Deflate or JPEG compression", "unsupported_compression")
    bits = _bits_per_sample(image)
    if image.mode in ("1", "F", "I") or any(b not in (8, 16) for b in bits):
        depth = "1-bit" if image.mode == "1" else f"{'/'.join(map(str, bits)) or image.mode}-bit"
        formats = (3,) if image.mode == "F" else _tag_values(image.tag_v2, 339)
        raise _bit_depth_error(depth, formats)
    pages = 1
    try:
        # Page by page, no further than the limit: after one seek past the last page Pillow's n_frames is the
        # page sought + 1 (65 for a 3-page file), not the number of pages.
        while pages <= MAX_PAGES:
            try:
                image.seek(pages)
            except EOFError:
                break
            except Exception:  # noqa: BLE001 - a later page Pillow cannot set up (an odd thumbnail) is still a page
                pass
            pages += 1
    finally:
        image.seek(0)
    if pages > MAX_PAGES:
        raise PhotoError(f"the TIFF has more than {MAX_PAGES} pages; this service colours single photos "
                         "(a multi-page file is answered with its first page)", "too_many_pages")
    return pages


def check_unopened_tiff(data: bytes) -> None:
    """For a TIFF that Pillow cannot open: raise check_tiff's PhotoError when the first page's compression or
    samples are ones Pillow does not know at all (JPEG 2000, floating-point or 32-bit colour...), which it
    reports as an unidentified file; return otherwise (the file is broken). Only that page's tags are read."""
    try:
        tags = TiffImagePlugin.ImageFileDirectory_v2(data[:16] if data[2:4] in (b"+\0", b"\0+") else data[:8])
        fp = io.BytesIO(data)
        fp.seek(tags.next)
        tags.load(fp)
        compression = _tag_values(tags, 259) or (1,)
        bits, formats = _tag_values(tags, 258), _tag_values(tags, 339)
    except Exception:  # noqa: BLE001 - no readable first page: the caller's corrupt file
        return
    names = [TiffImagePlugin.COMPRESSION_INFO.get(code, f"code {code}") for code in compression]
    if any(name not in TIFF_COMPRESSIONS for name in names):
        raise PhotoError(f"TIFF compression {names[0]!r} is not supported; save the scan uncompressed or with "
                         "LZW, Deflate or JPEG compression", "unsupported_compression")
    if any(b not in (8, 16) for b in bits) or any(f not in (1, 2) for f in formats):
        raise _bit_depth_error(f"{'/'.join(map(str, bits))}-bit", formats)


def is_sixteen_bit(image: Image.Image) -> bool:
    return image.mode.startswith("I;16") or image.mode == "I" or 16 in _bits_per_sample(image)


def read_meta(image: Image.Image) -> PhotoMeta:
    """The metadata of an opened (not yet oriented) photo; a corrupt ICC profile is a PhotoError: it cannot be
    carried to the answer, and the colours it describes cannot be known."""
    meta = PhotoMeta(depth=16 if is_sixteen_bit(image) else 8)
    icc = image.info.get("icc_profile")
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            meta.icc_space = profile.profile.xcolor_space
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            raise PhotoError(f"the embedded ICC profile cannot be read ({exc}); save the photo without it or "
                             "with a valid profile", "corrupt_icc_profile") from exc
        meta.icc_profile = icc
    dpi = image.info.get("dpi")
    if dpi:
        try:
            x, y = (float(v) for v in dpi)
            if x > 0 and y > 0:
                meta.dpi = (x, y)
        except (TypeError, ValueError):
            pass
    meta.exif = _exif_upright(image)
    if image.format == "TIFF":
        meta.pages = image.n_frames
    return meta


def _exif_upright(image: Image.Image) -> bytes | None:
    """The photo's EXIF with the orientation reset to 1. A TIFF's IFD0 holds its pixel layout too: only its
    descriptive tags are kept from it (the rest describes this file, not the photo)."""
    try:
        if image.format == "TIFF":
            own = image.getexif()
            exif = Image.Exif()
            for tag in TEXT_TAGS:
                if isinstance(own.get(tag), str):
                    exif[tag] = own[tag]
        else:
            raw = image.info.get("exif")
            if not raw:
                return None
            exif = Image.Exif()  # a copy: the image's own is what exif_transpose reads the orientation from
            exif.load(raw)
        if ORIENTATION in exif:
            exif[ORIENTATION] = 1
        return exif.tobytes() if len(exif) else None
    except Exception:  # noqa: BLE001 - EXIF parsing raises many types on hostile input; the pixels are fine
        return None


_TRANSPOSE = {2: (np.fliplr,), 3: (lambda a: np.rot90(a, 2),), 4: (np.flipud,),
              5: (lambda a: np.rot90(a, 1), np.flipud), 6: (lambda a: np.rot90(a, -1),),
              7: (lambda a: np.rot90(a, -1), np.flipud), 8: (lambda a: np.rot90(a, 1),)}


def full_depth(image: Image.Image, source: bytes | str | Path) -> Image.Image | np.ndarray:
    """The photo's pixels at their own depth, upright: a 16-bit RGB(A) TIFF as a uint16 array (H, W, 3|4) read
    with tifffile from ``source`` (its bytes or path); any other photo as the PIL image, unchanged."""
    if image.format != "TIFF" or image.mode not in ("RGB", "RGBA") or 16 not in _bits_per_sample(image):
        return image
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(source) if isinstance(source, bytes) else source) as tif:
            page = tif.pages.first
            pixels = page.asarray()
            if page.planarconfig == 2 and pixels.ndim == 3:  # RRR...GGG...BBB: tifffile keeps the samples first
                pixels = np.moveaxis(pixels, 0, -1)
            orientation = int(page.tags.valueof(274, 1) or 1)
    except Exception as exc:  # noqa: BLE001 - truncated or broken data surfaces as many types
        raise PhotoError(f"cannot decode the 16-bit TIFF data: {exc}", "corrupt_image") from exc
    if pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise PhotoError(f"a 16-bit TIFF of shape {pixels.shape} and type {pixels.dtype} is not supported",
                         "unsupported_bit_depth")
    for step in _TRANSPOSE.get(orientation, ()):
        pixels = step(pixels)
    return np.ascontiguousarray(pixels[..., :3])


# -- writing ---------------------------------------------------------------------------------------------


def _icc_for_answer(meta: PhotoMeta | None, result: Image.Image | np.ndarray) -> tuple[Image.Image | np.ndarray,
                                                                                      bytes | None]:
    """The answer's pixels and the profile that describes them. The service works in sRGB; an 8-bit answer to
    an RGB photo with its own profile (Adobe RGB, ProPhoto...) is converted back into it and carries it; a grey
    profile cannot describe colour, and 16-bit answers stay in sRGB: those carry an sRGB profile."""
    if meta is None or not meta.icc_profile:
        return result, None
    if meta.icc_space == "RGB " and isinstance(result, Image.Image):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(meta.icc_profile))
            if not (source.profile.profile_description or "").startswith("sRGB"):
                srgb = ImageCms.ImageCmsProfile(io.BytesIO(SRGB_ICC))
                mode = result.mode if result.mode in ("RGB", "RGBA") else "RGB"
                result = ImageCms.profileToProfile(result.convert(mode), srgb, source, outputMode=mode)
            return result, meta.icc_profile
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            return result, SRGB_ICC
    return result, SRGB_ICC


def to_8bit(result: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(result, Image.Image):
        return result
    eight = ((result.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return Image.fromarray(eight, "RGBA" if eight.shape[2] == 4 else "RGB")


def encode(result: Image.Image | np.ndarray, fmt: str, meta: PhotoMeta | None = None,
           fast: bool = False) -> bytes:
    """The answer's bytes in ``fmt`` (png, jpeg, webp, tiff) with the metadata the format can hold.
    ``result``: an 8-bit PIL image, or a uint16 array (H, W, 3|4) from a 16-bit photo, written in 16 bits as
    PNG or TIFF and reduced to 8 bits for JPEG and WebP. ``fast``: no compression for TIFF (a large scan)."""
    buffer = io.BytesIO()
    write(result, buffer, fmt, meta, fast=fast)
    return buffer.getvalue()


def write(result: Image.Image | np.ndarray, target, fmt: str, meta: PhotoMeta | None = None,
          fast: bool = False) -> None:
    """``encode`` into a file or binary buffer ``target``."""
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if isinstance(result, np.ndarray) and fmt not in SIXTEEN_BIT_FORMATS:
        result = to_8bit(result)
    result, icc = _icc_for_answer(meta, result)
    dpi = meta.dpi if meta else None
    exif = meta.exif if meta else None
    if fmt == "tiff":
        exif = _ifd0_exif(exif)
    if isinstance(result, np.ndarray):
        if fmt == "png":
            data = png16(result, icc, dpi, exif)
            if hasattr(target, "write"):
                target.write(data)
            else:
                Path(target).write_bytes(data)
        else:
            _tiff16(result, target, icc, dpi, exif, fast)
        return
    options: dict = {}
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    if dpi and fmt != "webp":
        options["dpi"] = dpi
    if fmt == "png":
        result.save(target, "PNG", compress_level=3, **options)
    elif fmt == "jpeg":
        (result if result.mode == "RGB" else result.convert("RGB")).save(target, "JPEG", quality=90, **options)
    elif fmt == "webp":
        result.save(target, "WEBP", quality=90, **options)
    else:
        result.save(target, "TIFF", compression="raw" if fast else "tiff_adobe_deflate", **options)


def _ifd0_exif(exif: bytes | None) -> bytes | None:
    """EXIF for a TIFF answer: IFD0's descriptive tags and the orientation. A TIFF's EXIF is its IFD0, and
    libtiff cannot write the pointers to EXIF's own directories (Exif, GPS) there: Pillow raises on them."""
    if not exif:
        return None
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        kept = Image.Exif()
        for tag in TEXT_TAGS:
            if isinstance(parsed.get(tag), str):
                kept[tag] = parsed[tag]
        if ORIENTATION in parsed:
            kept[ORIENTATION] = 1
        return kept.tobytes() if len(kept) else None
    except Exception:  # noqa: BLE001 - our own bytes, but never fail an answer over a description
        return None


def _text_tags(exif: bytes | None) -> list[tuple]:
    """IFD0's descriptive tags from EXIF bytes, as tifffile extratags."""
    if not exif:
        return []
    try:
        parsed = Image.Exif()
        parsed.load(exif)
    except Exception:  # noqa: BLE001 - our own bytes, but never fail an answer over a description
        return []
    return [(tag, "s", 0, parsed[tag], True) for tag in TEXT_TAGS
            if tag not in _TIFFFILE_OWN and isinstance(parsed.get(tag), str)]


def _tiff16(pixels: np.ndarray, target, icc: bytes | None, dpi, exif: bytes | None, fast: bool) -> None:
    import tifffile

    options: dict = {"photometric": "rgb", "compression": None if fast else "zlib",
                     "extratags": _text_tags(exif), "metadata": None}
    if pixels.shape[2] == 4:
        options["extrasamples"] = ("unassalpha",)
    if icc:
        options["iccprofile"] = icc
    if dpi:
        options["resolution"] = dpi
        options["resolutionunit"] = "INCH"
    tifffile.imwrite(target, pixels, **options)


def tiff_stream(pixels: np.ndarray, meta: PhotoMeta | None = None) -> tuple[int, Iterator[bytes]]:
    """An uncompressed 16-bit RGB(A) TIFF of a uint16 array (H, W, 3|4), as its length and an iterator of its
    bytes: the header and tags, then the pixels row strip by row strip, so a 50 MP answer (300 MB) is never
    held twice (tifffile writes an array into memory through a full copy). One strip, little-endian, the
    same tags as ``write`` gives a 16-bit TIFF (ICC profile, resolution, IFD0's descriptive tags)."""
    h, w, channels = pixels.shape
    _, icc = _icc_for_answer(meta, pixels)
    entries: list[tuple[int, int, int, bytes]] = []  # tag, type, count, value bytes

    def add(tag: int, kind: int, values, fmt: str) -> None:
        data = values if isinstance(values, bytes) else struct.pack("<" + fmt * len(values), *values)
        count = len(values) if not isinstance(values, bytes) else len(data) // (8 if kind == 5 else 1)
        entries.append((tag, kind, count, data))

    short, long_, rational, ascii_, undefined = 3, 4, 5, 2, 7
    add(256, long_, [w], "I")
    add(257, long_, [h], "I")
    add(258, short, [16] * channels, "H")
    add(259, short, [1], "H")
    add(262, short, [2], "H")
    text = {tag: value for tag, _, _, value, _ in _text_tags(meta.exif if meta else None)}
    for tag in sorted(text):
        entries.append((tag, ascii_, len(text[tag].encode("utf-8", "replace")) + 1,
                        text[tag].encode("utf-8", "replace") + b"\0"))
    add(273, long_, [0], "I")  # the strip's offset, set below
    add(277, short, [channels], "H")
    add(278, long_, [h], "I")
    add(279, long_, [h * w * channels * 2], "I")
    if meta and meta.dpi:
        for tag, value in zip((282, 283), meta.dpi, strict=True):
            add(tag, rational, struct.pack("<II", round(value * 1000), 1000), "")
    add(284, short, [1], "H")
    if meta and meta.dpi:
        add(296, short, [2], "H")  # inches
    if channels == 4:
        add(338, short, [2], "H")  # unassociated alpha
    if icc:
        entries.append((34675, undefined, len(icc), icc))
    entries.sort(key=lambda e: e[0])
    ifd_size = 2 + 12 * len(entries) + 4
    extra_at = 8 + ifd_size
    extra = bytearray()
    for *_, data in entries:
        if len(data) > 4:
            extra += data + (b"\0" if len(data) % 2 else b"")
    data_at = extra_at + len(extra)
    ifd = bytearray(struct.pack("<H", len(entries)))
    offset = extra_at
    for tag, kind, count, data in entries:
        if tag == 273:
            data = struct.pack("<I", data_at)
        if len(data) > 4:
            ifd += struct.pack("<HHII", tag, kind, count, offset)
            offset += len(data) + len(data) % 2
        else:
            ifd += struct.pack("<HHI", tag, kind, count) + data.ljust(4, b"\0")
    ifd += struct.pack("<I", 0)
    head = b"II*\0" + struct.pack("<I", 8) + bytes(ifd) + bytes(extra)
    rows = max(1, (1 << 23) // (w * channels * 2))  # about 8 MB a chunk

    def chunks() -> Iterator[bytes]:
        yield head
        for top in range(0, h, rows):
            yield pixels[top:top + rows].astype("<u2", copy=False).tobytes()

    return len(head) + h * w * channels * 2, chunks()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png16(pixels: np.ndarray, icc: bytes | None = None, dpi=None, exif: bytes | None = None,
          level: int = 1) -> bytes:
    """A 16-bit RGB(A) PNG of a uint16 array (H, W, 3|4) with iCCP, pHYs and eXIf chunks. Pillow writes 16-bit
    grey PNGs but not 16-bit colour ones. Rows use PNG's "Up" filter: a photo's rows are alike, so it compresses
    far better than none at the same cost."""
    h, w, channels = pixels.shape
    rows = pixels.astype(">u2").view(np.uint8).reshape(h, w * channels * 2)
    filtered = np.empty((h, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # Up
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    filtered[0, 0] = 0  # the first row has nothing above it
    colour_type = 6 if channels == 4 else 2
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))]
    if icc:
        parts.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if dpi:
        parts.append(_chunk(b"pHYs", struct.pack(">IIB", round(dpi[0] / 0.0254), round(dpi[1] / 0.0254), 1)))
    if exif:
        parts.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    parts.append(_chunk(b"IDAT", zlib.compress(filtered.tobytes(), level)))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)
