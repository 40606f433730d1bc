"""TIFF specifics: what a TIFF may be here (pages, compression, bit depth), 16-bit RGB read with tifffile
(full_depth hands a 16-bit colour PNG to png.py), and 16-bit TIFFs written (tifffile, or streamed strip by
strip for a large scan)."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

from colorize.photoio.common import (
    MAX_PAGES,
    TIFF_COMPRESSIONS,
    PhotoError,
    PhotoMeta,
    bits_per_sample,
    tag_values,
    turn_upright,
)
from colorize.photoio.metadata import icc_for_answer, text_tags
from colorize.photoio.png import is_colour_png16, read_png16


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
    bits = bits_per_sample(image)
    if image.mode in ("1", "F", "I") or any(b not in (8, 16) for b in bits):
        depth = "1-bit" if image.mode == "1" else f"{'/'.join(map(str, bits)) or image.mode}-bit"
        formats = (3,) if image.mode == "F" else tag_values(image.tag_v2, 339)
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
        compression = tag_values(tags, 259) or (1,)
        bits, formats = tag_values(tags, 258), tag_values(tags, 339)
    except Exception:  # noqa: BLE001 - no readable first page: the caller's corrupt file
        return
    names = [TiffImagePlugin.COMPRESSION_INFO.get(code, f"code {code}") for code in compression]
    if any(name not in TIFF_COMPRESSIONS for name in names):
        raise PhotoError(f"TIFF compression {names[0]!r} is not supported; save the scan uncompressed or with "
                         "LZW, Deflate or JPEG compression", "unsupported_compression")
    if any(b not in (8, 16) for b in bits) or any(f not in (1, 2) for f in formats):
        raise _bit_depth_error(f"{'/'.join(map(str, bits))}-bit", formats)


def full_depth(image: Image.Image, source: bytes | str | Path) -> Image.Image | np.ndarray:
    """The photo's pixels at their own depth, upright: a 16-bit RGB(A) TIFF or PNG as a uint16 array (H, W, 3)
    read from ``source`` (its bytes or path; tifffile, or png.read_png16); any other photo as the PIL image,
    unchanged. Call it before the image is decoded: Pillow forgets a PNG's sample depth once it has."""
    if is_colour_png16(image):
        return read_png16(image, source)
    if image.format != "TIFF" or image.mode not in ("RGB", "RGBA") or 16 not in bits_per_sample(image):
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
    return np.ascontiguousarray(turn_upright(pixels, orientation)[..., :3])


def write_tiff16(pixels: np.ndarray, target, icc: bytes | None, dpi, exif: bytes | None, fast: bool) -> None:
    import tifffile

    options: dict = {"photometric": "rgb", "compression": None if fast else "zlib",
                     "extratags": text_tags(exif), "metadata": None}
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
    _, icc = icc_for_answer(meta, pixels)
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
    text = {tag: value for tag, _, _, value, _ in text_tags(meta.exif if meta else None)}
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
