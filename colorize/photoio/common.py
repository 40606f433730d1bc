"""What every part of photoio shares: the error, the metadata a photo carries, the formats and TIFF tags."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
# IFD0's descriptive tags: where a TIFF keeps what a JPEG keeps in EXIF; carried between the two.
TEXT_TAGS = {270: "ImageDescription", 271: "Make", 272: "Model", 305: "Software", 306: "DateTime",
             315: "Artist", 33432: "Copyright"}
TIFFFILE_OWN = {305}  # tifffile writes Software itself
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
    # icc_profile parsed (by read_meta): the request's conversions reuse it instead of parsing it again
    icc_parsed: ImageCms.ImageCmsProfile | None = field(default=None, repr=False, compare=False)


def tag_values(tags, tag: int) -> tuple[int, ...]:
    value = tags.get(tag) if tags is not None else None
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),)


def bits_per_sample(image: Image.Image) -> tuple[int, ...]:
    return tag_values(getattr(image, "tag_v2", None), 258)


_TRANSPOSE = {2: (np.fliplr,), 3: (lambda a: np.rot90(a, 2),), 4: (np.flipud,),
              5: (lambda a: np.rot90(a, 1), np.flipud), 6: (lambda a: np.rot90(a, -1),),
              7: (lambda a: np.rot90(a, -1), np.flipud), 8: (lambda a: np.rot90(a, 1),)}


def turn_upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """An (H, W, C) array turned as the EXIF/TIFF ``orientation`` says, as Pillow's exif_transpose turns 8 bits."""
    for step in _TRANSPOSE.get(orientation, ()):
        pixels = step(pixels)
    return pixels
