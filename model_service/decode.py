"""Untrusted bytes -> a validated, fully decoded PIL image in sRGB, or a typed DecodeError.

Two steps, so that the cheap checks run before a request queues for the model:
``open_image`` reads only the header (Pillow's ``Image.open`` is lazy) and rejects what is empty,
unknown, corrupt at the header or larger than ``max_pixels`` — a decompression bomb is refused from
its declared size and never decoded; ``load_image`` then decodes the first frame (truncated data is
an error: ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False), applies the EXIF orientation (the only place
on the service's path that does: the predictor runs colorize.pipeline.colorize_upright) and converts an
embedded ICC profile to sRGB. ``decode_image`` does both; tests fuzz it. ``load_photo`` also returns what the
answer carries (colorize.photoio: ICC profile, DPI, EXIF, pages, bit depth) and a 16-bit RGB TIFF or PNG at
full depth. A TIFF is checked at ``open_image`` for its pages, compression and bit depth (colorize.photoio).
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from colorize import photoio

log = logging.getLogger(__name__)

# Formats read from clients. Others Pillow knows are refused on purpose: EPS runs Ghostscript, and
# rarely used parsers are more attack surface than value. (A JPEG with several pictures opens as MPO.)
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
_OPENED_FORMATS = {*ALLOWED_FORMATS, "MPO"}
# Modes colorize.pipeline handles directly; anything else is converted to RGB(A) first.
_PIPELINE_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I", "F",
                   "I;16", "I;16L", "I;16B", "I;16N"}
# ICC conversion for these modes, when the profile's colour space is the given one.
_ICC_SPACES = {"RGB": "RGB ", "RGBA": "RGB ", "CMYK": "CMYK", "L": "GRAY"}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class DecodeError(ValueError):
    """The bytes are not an image this service can colorize."""


class EmptyImage(DecodeError):
    """No bytes at all."""


class UnsupportedFormat(DecodeError):
    """Bytes of no format this service reads (text, random bytes, PDF, an unaccepted image format)."""


class CorruptImage(DecodeError):
    """A known image format whose data is broken or truncated."""


class TooManyPixels(DecodeError):
    """The image declares more pixels than allowed (a decompression bomb, or just too large)."""


class UnsupportedEncoding(DecodeError):
    """A format this service reads, in an encoding it does not (a TIFF compression or bit depth)."""


class UnsupportedCompression(UnsupportedEncoding):
    """A TIFF compression not read (colorize.photoio.TIFF_COMPRESSIONS)."""


class UnsupportedBitDepth(UnsupportedEncoding):
    """1-bit, 32-bit or floating-point pixels."""


class TooManyPages(DecodeError):
    """A TIFF with more pages than colorize.photoio.MAX_PAGES."""


class CorruptProfile(DecodeError):
    """An embedded ICC profile that cannot be read: the colours it describes, and the answer's, are unknown."""


_PHOTO_ERRORS = {"unsupported_compression": UnsupportedCompression, "unsupported_bit_depth": UnsupportedBitDepth,
                 "too_many_pages": TooManyPages, "corrupt_icc_profile": CorruptProfile,
                 "corrupt_image": CorruptImage}


def _decode_error(exc: photoio.PhotoError) -> DecodeError:
    return _PHOTO_ERRORS.get(exc.code, CorruptImage)(str(exc))


def sniff_format(data: bytes) -> str | None:
    """The accepted format whose signature ``data`` starts with, or None."""
    Image.init()
    prefix = data[:16]
    for fmt in ALLOWED_FORMATS:
        entry = Image.OPEN.get(fmt)
        if entry is None:  # this Pillow was built without it (AVIF, WebP)
            continue
        accept = entry[1]
        try:
            found = accept is not None and accept(prefix)
        except Exception:  # noqa: BLE001 - a plugin's signature check; treat any failure as "no"
            found = False
        if found and not isinstance(found, str):  # a str is Pillow's "looks like it, but cannot read"
            return fmt
    return None


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Identify ``data`` and check its declared size; no pixel is decoded."""
    if not data:
        raise EmptyImage("the image is empty (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedFormat(f"not an image in a format this service reads ({', '.join(ALLOWED_FORMATS)})")
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"too many pixels ({exc}); this service's limit is {max_pixels} pixels") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow's parsers raise many types on hostile input
        if fmt == "TIFF":  # one Pillow does not know (JPEG 2000, floating-point colour) is no corrupt file
            try:
                photoio.check_unopened_tiff(data)
            except photoio.PhotoError as refused:
                raise _decode_error(refused) from exc
        # Pillow's "cannot identify image file" names only its own buffer object: say what it means
        reason = "truncated or not valid" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise CorruptImage(f"cannot read the {fmt} header: {reason}") from exc
    width, height = image.size
    if image.format not in _OPENED_FORMATS:
        raise UnsupportedFormat(f"{image.format} images are not accepted")
    if width < 1 or height < 1:
        raise CorruptImage(f"{fmt} image declares an empty size {width}x{height}")
    if width * height > max_pixels:
        raise TooManyPixels(f"the image is {width}x{height} = {width * height} pixels; "
                            f"the limit is {max_pixels} pixels")
    if image.format == "TIFF":
        try:
            photoio.check_tiff(image)
        except photoio.PhotoError as exc:
            raise _decode_error(exc) from exc
        except Exception as exc:  # noqa: BLE001 - a broken page directory
            raise CorruptImage(f"cannot read the TIFF's pages: {exc}") from exc
    return image


def _to_srgb(image: Image.Image, profile: ImageCms.ImageCmsProfile | None = None) -> Image.Image:
    """Convert pixels in an embedded ICC profile's colour space to sRGB; an unusable profile is ignored.
    ``profile``: that profile already parsed (photoio.read_meta's), else it is parsed here."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in _ICC_SPACES:
        return image
    try:
        profile = profile or ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = profile.profile.profile_description or ""
        if profile.profile.xcolor_space != _ICC_SPACES[image.mode]:
            return image
        if image.mode != "CMYK" and description.startswith("sRGB"):
            return image  # already sRGB: skip an identity transform of every pixel
        out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        # a profile that parses (photoio.read_meta checked it) but cannot convert these pixels
        log.warning("ignoring an unusable ICC profile: %s", exc)
        return image
    converted.info.pop("icc_profile", None)
    return converted


def _orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; an EXIF block Pillow cannot parse is dropped (the pixels are fine)."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:  # noqa: BLE001 - EXIF parsing raises many types on hostile input
        log.warning("ignoring unreadable EXIF: %s", exc)
        image.info.pop("exif", None)
    return image


def load_image(image: Image.Image, profile: ImageCms.ImageCmsProfile | None = None) -> Image.Image:
    """Decode the first frame of an ``open_image`` result; orient it and convert it to sRGB (``profile``: its
    ICC profile already parsed)."""
    fmt = image.format
    try:
        image.seek(0)  # animated GIF / WebP / multi-page TIFF: the first frame
        image.load()
        image = _to_srgb(_orient(image), profile)
    except Image.DecompressionBombError as exc:  # a frame larger than the canvas it declared
        raise TooManyPixels(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - truncated or broken data surfaces as many types
        raise CorruptImage(f"cannot decode the {fmt} data: {exc}") from exc
    if image.mode in ("P", "PA") and image.palette is None:  # a PNG without its PLTE chunk: Pillow cannot convert it
        raise CorruptImage(f"the {fmt} image has palette colours but no palette")
    if image.mode not in _PIPELINE_MODES:
        try:
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        except (ValueError, OSError) as exc:
            raise UnsupportedFormat(f"{fmt} images in pixel mode {image.mode} are not supported") from exc
    return image


def load_photo(image: Image.Image, data: bytes) -> tuple[Image.Image | np.ndarray, photoio.PhotoMeta]:
    """``load_image`` plus what the answer carries: the pixels (a 16-bit RGB TIFF or PNG as a uint16 array
    read from ``data``, its full depth) and their metadata (photoio.PhotoMeta)."""
    try:
        meta = photoio.read_meta(image)
        pixels = photoio.full_depth(image, data)
    except photoio.PhotoError as exc:
        raise _decode_error(exc) from exc
    if isinstance(pixels, np.ndarray):
        return pixels, meta
    loaded = load_image(image, meta.icc_parsed)  # the profile parsed once a request
    if image.format == "TIFF":
        # Pillow keeps a TIFF's source open for its other pages; a copy lets the upload's bytes go
        frame = loaded.copy()
        loaded.close()
        image.close()
        loaded = frame
    return loaded, meta


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """``load_image(open_image(data, max_pixels))``."""
    return load_image(open_image(data, max_pixels))
