"""The metadata a photo carries (ICC profile, DPI, EXIF), read from the source and shaped for its answer."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms

from colorize.photoio.common import (
    ORIENTATION,
    SRGB_ICC,
    TEXT_TAGS,
    TIFFFILE_OWN,
    PhotoError,
    PhotoMeta,
    bits_per_sample,
)
from colorize.photoio.png import is_colour_png16

_SRGB_PROFILE = ImageCms.ImageCmsProfile(io.BytesIO(SRGB_ICC))  # parsed once a process, not once an answer
_X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT = 282, 283, 296
MAX_DPI = 1_000_000  # far above any scanner's; a resolution beyond it is not carried into the answer


def is_sixteen_bit(image: Image.Image) -> bool:
    return (image.mode.startswith("I;16") or image.mode == "I" or 16 in bits_per_sample(image)
            or is_colour_png16(image))


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
        meta.icc_profile, meta.icc_parsed = icc, profile
    dpi = image.info.get("dpi") if _declares_resolution(image) else None
    if dpi:
        try:
            x, y = (float(v) for v in dpi)
            if 0 < x <= MAX_DPI and 0 < y <= MAX_DPI:  # more is damage, and PNG's pHYs cannot hold it
                meta.dpi = (x, y)
        except (TypeError, ValueError):
            pass
    meta.exif = _exif_upright(image)
    if image.format == "TIFF":
        meta.pages = image.n_frames
    return meta


def _declares_resolution(image: Image.Image) -> bool:
    """Whether the file states its resolution: Pillow makes one up where it does not, (1, 1) for a TIFF
    without resolution tags and 72 for a JPEG whose EXIF has none, and an answer must not carry it."""
    if image.format == "TIFF":
        return _X_RESOLUTION in image.tag_v2 and _Y_RESOLUTION in image.tag_v2
    if image.format in ("JPEG", "MPO") and image.info.get("jfif_unit") not in (1, 2):  # JFIF's dots per inch, cm
        try:
            exif = image.getexif()
            return _X_RESOLUTION in exif and _RESOLUTION_UNIT in exif
        except Exception:  # noqa: BLE001 - EXIF parsing raises many types on hostile input
            return False
    return True


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


def icc_for_answer(meta: PhotoMeta | None, result: Image.Image | np.ndarray) -> tuple[Image.Image | np.ndarray,
                                                                                      bytes | None]:
    """The answer's pixels and the profile that describes them. The service works in sRGB; an 8-bit answer to
    an RGB photo with its own profile (Adobe RGB, ProPhoto...) is converted back into it and carries it; a grey
    profile cannot describe colour, and 16-bit answers stay in sRGB: those carry an sRGB profile."""
    if meta is None or not meta.icc_profile:
        return result, None
    if meta.icc_space == "RGB " and isinstance(result, Image.Image):
        try:
            source = meta.icc_parsed or ImageCms.ImageCmsProfile(io.BytesIO(meta.icc_profile))
            if not (source.profile.profile_description or "").startswith("sRGB"):
                mode = result.mode if result.mode in ("RGB", "RGBA") else "RGB"
                result = ImageCms.profileToProfile(result.convert(mode), _SRGB_PROFILE, source, outputMode=mode)
            return result, meta.icc_profile
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            return result, SRGB_ICC
    return result, SRGB_ICC


def ifd0_exif(exif: bytes | None) -> bytes | None:
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


def text_tags(exif: bytes | None) -> list[tuple]:
    """IFD0's descriptive tags from EXIF bytes, as tifffile extratags."""
    if not exif:
        return []
    try:
        parsed = Image.Exif()
        parsed.load(exif)
    except Exception:  # noqa: BLE001 - our own bytes, but never fail an answer over a description
        return []
    return [(tag, "s", 0, parsed[tag], True) for tag in TEXT_TAGS
            if tag not in TIFFFILE_OWN and isinstance(parsed.get(tag), str)]
