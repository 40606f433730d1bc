"""16-bit colour PNGs read at full depth. Pillow reads 16-bit grey PNGs at full depth but 16-bit RGB(A) ones
only as 8-bit, so those are decoded with imagecodecs' libpng: imagecodecs is already a core dependency (the
LZW and JPEG of tifffile's TIFFs), so no new wheel in the images, and libpng is PNG's reference decoder (CRCs
checked, interlacing read). OpenCV would add a wheel of some 50 MB and answer BGR; pypng decodes in pure Python, too
slow for a 50 MP scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from colorize.photoio.common import ORIENTATION, PhotoError, turn_upright

_COLOUR16 = ("RGB;16B", "RGBA;16B")  # Pillow's raw modes for IHDR bit depth 16, colour types 2 and 6


def is_colour_png16(image: Image.Image) -> bool:
    """Whether ``image`` is a PNG of 16-bit RGB(A) samples. Pillow's tile names the samples' raw layout (from
    IHDR) until the pixels are decoded, so ask before then."""
    return image.format == "PNG" and bool(image.tile) and image.tile[0][3] in _COLOUR16


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation of a PNG's eXIf chunk; read from its bytes, as photoio.read_meta reads the EXIF:
    Pillow's PngImageFile.getexif would decode the 8-bit pixels to look for an eXIf after them."""
    raw = image.info.get("exif")
    if not raw:
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw)
        return int(exif.get(ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - EXIF parsing raises many types on hostile input; the pixels are fine
        return 1


def read_png16(image: Image.Image, source: bytes | str | Path) -> np.ndarray:
    """A 16-bit colour PNG as an upright uint16 array (H, W, 3), decoded from ``source`` (its bytes or path);
    ``image`` is the same PNG as Pillow opened it (its size and EXIF)."""
    import imagecodecs

    try:
        pixels = imagecodecs.png_decode(source if isinstance(source, bytes) else Path(source).read_bytes())
    except Exception as exc:  # noqa: BLE001 - truncated or broken data surfaces as many types
        raise PhotoError(f"cannot decode the 16-bit PNG data: {exc}", "corrupt_image") from exc
    if pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4) \
            or pixels.shape[1::-1] != image.size:
        raise PhotoError(f"a 16-bit PNG of shape {pixels.shape} and type {pixels.dtype} is not supported",
                         "unsupported_bit_depth")
    return np.ascontiguousarray(turn_upright(pixels[..., :3], _orientation(image)))
