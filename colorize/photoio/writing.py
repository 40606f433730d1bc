"""The answer's bytes: PNG, JPEG, WebP and TIFF with the metadata each can hold; 16-bit PNG written here."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from colorize.photoio.common import FORMATS, SIXTEEN_BIT_FORMATS, PhotoMeta
from colorize.photoio.metadata import icc_for_answer, ifd0_exif
from colorize.photoio.tiff import write_tiff16


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
    result, icc = icc_for_answer(meta, result)
    dpi = meta.dpi if meta else None
    exif = meta.exif if meta else None
    if fmt == "tiff":
        exif = ifd0_exif(exif)
    if isinstance(result, np.ndarray):
        if fmt == "png":
            data = png16(result, icc, dpi, exif)
            if hasattr(target, "write"):
                target.write(data)
            else:
                Path(target).write_bytes(data)
        else:
            write_tiff16(result, target, icc, dpi, exif, fast)
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
