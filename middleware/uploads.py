"""Uploads: read into memory, recognise the image type by its bytes, validate options, name downloads."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from werkzeug.datastructures import FileStorage, MultiDict

RENDER_SIZES = {"fast": 128, "balanced": 256, "detailed": 512}
MODEL_DEFAULT = "auto"  # render_size=auto (or none): the model service's default, the checkpoint's own size
MIN_RENDER_SIZE, MAX_RENDER_SIZE = 64, 1024
FORMATS = {"png": ("image/png", "png"), "jpeg": ("image/jpeg", "jpg"), "jpg": ("image/jpeg", "jpg"),
           "webp": ("image/webp", "webp"), "tiff": ("image/tiff", "tif"), "tif": ("image/tiff", "tif")}

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF: the model service reads it
    (b"MM\x00+", "image/tiff"),
    (b"BM", "image/bmp"),
)


# Letters NFKD does not decompose into ASCII, spelt as their languages write them without diacritics.
_ASCII_SPELLING = str.maketrans({"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o",
                                 "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th"})


class UploadError(Exception):
    """The request's upload or options are unusable; carries the HTTP status and a plain message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Upload:
    data: bytes
    content_type: str
    filename: str


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of an image recognised by its first bytes (never by its name), else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if _is_avif(data):
        return "image/avif"
    return next((mime for magic, mime in _SIGNATURES if data.startswith(magic)), None)


def _is_avif(data: bytes) -> bool:
    """An ftyp box whose major brand is AVIF's, or a generic HEIF one (mif1, msf1) with AVIF's among its
    compatible brands: the files the model service reads (Pillow's AVIF plugin takes both)."""
    if data[4:8] != b"ftyp":
        return False
    if data[8:12] in (b"avif", b"avis"):
        return True
    end = min(int.from_bytes(data[:4], "big"), len(data))
    compatible = {data[i:i + 4] for i in range(16, end - 3, 4)}
    return data[8:12] in (b"mif1", b"msf1") and bool(compatible & {b"avif", b"avis"})


def read_upload(file: FileStorage | None) -> Upload:
    """Read one uploaded file (it is already in memory) and check that it is an image we can send on."""
    data = file.read() if file is not None else b""
    if not data:
        if file is None or not file.filename:
            raise UploadError(400, "missing_image", "No image was uploaded. Choose a photo and try again.")
        raise UploadError(400, "empty_image", "The uploaded file is empty.")
    content_type = sniff_image_type(data)
    if content_type is None:
        raise UploadError(415, "unsupported_media_type",
                          "That file is not an image we can read. Please upload a JPEG, PNG, WebP or TIFF photo.")
    return Upload(data=data, content_type=content_type, filename=file.filename or "image")


def parse_options(values: MultiDict) -> tuple[int | None, str | None]:
    """``render_size`` (a number 64-1024, fast/balanced/detailed or auto) and ``format`` (auto/png/jpeg/webp/tiff).

    Neither given (or auto): None, and the model service's defaults apply (the render size the model
    was made for, format auto: a JPEG upload is answered as JPEG, a WebP as WebP, a TIFF as TIFF, anything else
    as PNG)."""
    raw_size = (values.get("render_size") or "").strip().lower()
    render_size = None
    if raw_size and raw_size != MODEL_DEFAULT:
        try:
            render_size = RENDER_SIZES.get(raw_size) or int(raw_size)
        except ValueError:
            render_size = -1
        if not MIN_RENDER_SIZE <= render_size <= MAX_RENDER_SIZE:
            raise UploadError(400, "invalid_render_size",
                              f"render_size must be a whole number from {MIN_RENDER_SIZE} to "
                              f"{MAX_RENDER_SIZE} (or auto, fast, balanced, detailed).")
    output_format = (values.get("format") or "auto").strip().lower()
    if output_format not in FORMATS and output_format != "auto":
        raise UploadError(400, "invalid_format", "format must be auto, png, jpeg, webp or tiff.")
    if output_format == "auto":
        return render_size, None
    return render_size, {"jpg": "jpeg", "tif": "tiff"}.get(output_format, output_format)


def parse_model(values: MultiDict) -> str | None:
    """``model``: a name from the model service's list, passed on as it is (the service says which names it
    knows); empty or absent: None, the service's default."""
    return (values.get("model") or "").strip() or None


MAX_HINTS = 64  # the model service's limit
# the hints travel to the model service in its query string, whose request line gunicorn caps at 8,190 bytes
MAX_HINTS_QUERY_BYTES = 7_000


def parse_hints(values: MultiDict) -> str | None:
    """``hints``: a JSON list of {"x", "y", "color"} in the photo's own pixels, passed on compacted (the model
    service checks each hint and says which is wrong); empty or absent: None."""
    raw = (values.get("hints") or "").strip()
    if not raw or raw == "[]":
        return None
    try:
        hints = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested deep
        raise UploadError(400, "invalid_hints", f"hints must be a JSON list of {{\"x\", \"y\", \"color\"}} "
                                                f"objects: {exc}") from None
    if not isinstance(hints, list):
        raise UploadError(400, "invalid_hints", "hints must be a JSON list of {\"x\", \"y\", \"color\"} objects")
    if len(hints) > MAX_HINTS:
        raise UploadError(400, "invalid_hints", f"too many hints: {len(hints)}, at most {MAX_HINTS}")
    compact = json.dumps(hints, separators=(",", ":"))
    encoded = len(quote(compact, safe=""))
    if encoded > MAX_HINTS_QUERY_BYTES:
        raise UploadError(400, "invalid_hints", f"hints take {encoded} bytes URL-encoded; at most "
                                                f"{MAX_HINTS_QUERY_BYTES}: shorten the numbers")
    return compact


def parse_vividness(values: MultiDict) -> str | None:
    """``vividness``: a number from 0 (the colour distribution's mean) to 1 (the most vivid), passed on as it
    is (the model service says whether the model takes it); empty or absent: None, the model's own."""
    raw = (values.get("vividness") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:  # NaN included
        raise UploadError(400, "invalid_vividness", f"vividness must be a number from 0 (the distribution's "
                                                    f"mean) to 1 (the most vivid), got {raw[:40]!r}")
    return f"{value:g}"


def extension_for(content_type: str) -> str:
    """The file extension for an image MIME type the model service answered with."""
    return next((ext for mime, ext in FORMATS.values() if mime == content_type.split(";")[0]), "png")


def download_stem(filename: str) -> str:
    """The upload's name without folders, extension, control or separator characters (Unicode kept)."""
    name = re.split(r"[/\\]", filename or "")[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = unicodedata.normalize("NFC", stem)
    stem = "".join(ch for ch in stem if unicodedata.category(ch)[0] not in "CZ" or ch == " ")
    stem = re.sub(r'[\s"\'<>:;|?*%]+', " ", stem).strip(" .")[:100].strip()
    return stem or "image"


def download_name(filename: str, extension: str) -> str:
    """``<stem>-colorized.<ext>`` for an uploaded file's name."""
    return f"{download_stem(filename)}-colorized.{extension}"


def content_disposition(filename: str, extension: str) -> str:
    """``attachment`` with an ASCII ``filename`` and an RFC 5987 UTF-8 ``filename*``."""
    stem = download_stem(filename)
    ascii_stem = unicodedata.normalize("NFKD", stem.translate(_ASCII_SPELLING)).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", ascii_stem)
    ascii_stem = re.sub(r" {2,}", " ", ascii_stem).strip(" ._") or "image"
    name = download_name(filename, extension)
    ascii_name = f"{ascii_stem}-colorized.{extension}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
