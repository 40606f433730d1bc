"""The HTTP API: POST /v1/colorize, GET /v1/models, /healthz, /readyz and /openapi.json."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import IO

import numpy as np
from flask import Blueprint, Request, Response, current_app, jsonify, request
from PIL import Image
from werkzeug.exceptions import RequestEntityTooLarge

from colorize import __version__, photoio
from colorize.distribution import VividnessError, check_vividness
from colorize.hints import Hint, HintsUnsupported, parse_hints
from model_service import openapi
from model_service.config import RENDER_SIZE_MAX, RENDER_SIZE_MIN
from model_service.decode import load_photo, open_image
from model_service.errors import ApiError, error_response
from model_service.gate import Busy
from model_service.metrics import ServiceMetrics
from model_service.predictor import Predictor
from model_service.registry import ModelRegistry, UnknownModel

bp = Blueprint("api", __name__)

# format parameter -> (Pillow format, media type, save options). PNG level 3: as small as the default
# level 6 in half the time; level 1 saves a little more time for larger files (model_service/README.md).
OUTPUT_FORMATS = {
    "png": ("PNG", "image/png", {"compress_level": 3}),
    "jpeg": ("JPEG", "image/jpeg", {"quality": 90}),
    "webp": ("WEBP", "image/webp", {"quality": 90}),
    "tiff": ("TIFF", "image/tiff", {}),
}
# Above this many pixels a TIFF answer is written uncompressed: Deflate would take seconds on a 50 MP scan.
FAST_TIFF_PIXELS = 16_000_000
# format=auto (the default): the upload's own kind. A JPEG comes back as a JPEG: far smaller and quicker to
# encode than a PNG (benchmarks/RESULTS.md), and chroma subsampling loses nothing, the colour being predicted
# at the render size anyway. A TIFF comes back as a TIFF (a scan's archive format, at its own bit depth);
# other lossless uploads and anything else come back as PNG. A 16-bit photo is answered in 16 bits in PNG and
# TIFF; metadata (ICC profile, DPI, EXIF) go into every format that holds them (colorize.photoio).
AUTO_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "TIFF": "tiff"}
# The longest side each format can hold (libwebp's and libjpeg's limits); PNG and TIFF hold any this service takes.
MAX_SIDE = {"webp": 16383, "jpeg": 65500}
RAW_MEDIA_TYPES = ("image/", "application/octet-stream")
_HOW_TO_SEND = ("send the image as the request body with Content-Type image/... (or "
                "application/octet-stream), or as the file field 'image' of a multipart/form-data form")


class InMemoryRequest(Request):
    """Multipart files are parsed into BytesIO: an upload never touches the disk (Werkzeug's default spools
    files over 500 kB to a temporary file). MAX_CONTENT_LENGTH bounds the whole body, so memory too."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return io.BytesIO()


def _models() -> ModelRegistry:
    return current_app.extensions["model_service"]


def _metrics() -> ServiceMetrics:
    return current_app.extensions["model_service.metrics"]


def _image_bytes() -> bytes:
    """The upload: multipart field ``image``, or the raw body when it is sent as image/* (or octet-stream)."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        uploads = request.files.getlist("image")
        if not uploads:
            raise ApiError(400, "missing_image", "the multipart form has no file field 'image'")
        if len(uploads) > 1:
            raise ApiError(400, "too_many_images", f"the field 'image' holds {len(uploads)} files; "
                                                   "send one image per request")
        return uploads[0].read()
    if mimetype.startswith(RAW_MEDIA_TYPES):
        data = request.get_data(cache=False)
        # Werkzeug cuts a body without Content-Length (chunked) at the limit, silently: look past it.
        if (request.content_length is None and len(data) >= current_app.config["MAX_UPLOAD_BYTES"]
                and request.environ["wsgi.input"].read(1)):
            raise RequestEntityTooLarge()
        return data
    if not mimetype and not request.content_length and request.headers.get("Transfer-Encoding") is None:
        raise ApiError(400, "missing_image", f"no image: {_HOW_TO_SEND}")
    raise ApiError(415, "unsupported_media_type",
                   f"Content-Type {mimetype or '(none)'!r} is not accepted: {_HOW_TO_SEND}")


def _param(name: str) -> str | None:
    """A query parameter, else a form field of a multipart request."""
    value = request.args.get(name)
    if value is None and request.mimetype == "multipart/form-data":
        value = request.form.get(name)
    return value


Param = Callable[[str], str | None]  # a request parameter by name


def predictor_for(param: Param = _param) -> Predictor:
    """The model the request names (``model``), else the default one."""
    try:
        return _models().get(param("model"))
    except UnknownModel as exc:
        raise ApiError(400, "unknown_model", str(exc), models=exc.names) from None


def render_size_for(predictor: Predictor, param: Param = _param) -> int:
    raw = param("render_size")
    if raw is None or raw == "":
        return predictor.render_size
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not RENDER_SIZE_MIN <= value <= RENDER_SIZE_MAX:
        raise ApiError(400, "invalid_render_size", f"render_size must be an integer from {RENDER_SIZE_MIN} "
                                                   f"to {RENDER_SIZE_MAX}, got {raw!r}")
    return value


def _hints(predictor: Predictor) -> list[Hint]:
    """The ``hints`` field: a JSON list of {"x", "y", "color"} in the photo's own pixels; checked against the
    photo's size once it is decoded."""
    hints = parse_hints(_param("hints"))  # HintError: 400 invalid_hints
    if hints and not predictor.takes_hints:
        raise HintsUnsupported(f"model {predictor.name!r} does not take colour hints; "
                               f"models that do: {', '.join(_models().hint_models()) or 'none loaded'}")
    return hints


def vividness_for(predictor: Predictor, param: Param = _param) -> float | None:
    """The ``vividness`` field: from 0 (the colour distribution's mean) to 1 (its most vivid), for a model with
    a colour distribution; absent or empty: the model's own."""
    raw = param("vividness")
    if raw is None or raw == "":
        return None
    try:
        value = check_vividness(float(raw))
    except (ValueError, VividnessError):
        raise ApiError(400, "invalid_vividness", f"vividness must be a number from 0 (the distribution's mean) "
                                                 f"to 1 (the most vivid), got {raw!r}") from None
    if not predictor.takes_vividness:
        raise ApiError(400, "vividness_unsupported",
                       f"model {predictor.name!r} has no colour distribution, so vividness does not apply; "
                       f"models that take it: {', '.join(_models().vividness_models()) or 'none loaded'}")
    return value


def _output_format() -> str:
    """png, jpeg, webp, tiff or auto (the default: decided by the upload's format once it is opened)."""
    raw = _param("format") or "auto"
    name = {"jpg": "jpeg", "tif": "tiff"}.get(raw.lower(), raw.lower())
    if name not in OUTPUT_FORMATS and name != "auto":
        raise ApiError(400, "invalid_format", f"format must be one of auto, png, jpeg, webp, tiff; got {raw!r}")
    return name


def _is_large(image: Image.Image | np.ndarray) -> bool:
    height, width = (image.shape[:2] if isinstance(image, np.ndarray) else image.size[::-1])
    return width * height > FAST_TIFF_PIXELS


def _encode(image: Image.Image | np.ndarray, name: str, meta: photoio.PhotoMeta) -> bytes:
    return photoio.encode(image, name, meta, fast=_is_large(image))


@bp.post("/v1/colorize")
def colorize_image() -> Response:
    data = _image_bytes()
    predictor = predictor_for()
    render_size = render_size_for(predictor)
    output_format = _output_format()
    hints = _hints(predictor)
    vividness = vividness_for(predictor)
    probe = open_image(data, current_app.config["MAX_PIXELS"])  # 400/415/422 before queueing
    if output_format == "auto":
        output_format = AUTO_FORMATS.get(probe.format, "png")
    if max(probe.size) > MAX_SIDE.get(output_format, max(probe.size)):  # refused now, not as a 500 after colouring
        raise ApiError(422, "too_large_for_format", f"the image is {probe.width}x{probe.height}; {output_format} "
                                                    f"answers are at most {MAX_SIDE[output_format]} pixels a side: "
                                                    "ask for format=png or tiff")
    queued = time.perf_counter()
    try:
        # Decoding inside the slot bounds the memory and CPU that waiting requests hold.
        with predictor.slot():
            started = time.perf_counter()
            image, meta = load_photo(probe, data)
            del data, probe  # the compressed bytes are not needed any more: a large scan's memory counts
            decoded = time.perf_counter()
            depth = meta.depth if output_format in photoio.SIXTEEN_BIT_FORMATS else 8  # JPEG, WebP: 8-bit
            result, stages = predictor.colorize(image, render_size, depth=depth, hints=hints, vividness=vividness)
            del image
    except Busy as exc:
        _metrics().rejections.labels(exc.reason).inc()
        raise
    inference_ms = sum(stages.values())
    _metrics().inference.observe(inference_ms / 1000.0)
    encode_start = time.perf_counter()
    length = None
    if isinstance(result, np.ndarray) and output_format == "tiff" and _is_large(result):
        length, body = photoio.tiff_stream(result, meta)  # written while it is sent: never held twice
    else:
        body = _encode(result, output_format, meta)
    del result
    timings = {"queue": (started - queued) * 1000, "decode": (decoded - started) * 1000,
               **{k.removesuffix("_ms"): v for k, v in stages.items()},
               "encode": (time.perf_counter() - encode_start) * 1000}
    response = Response(body, mimetype=OUTPUT_FORMATS[output_format][1])
    if length is not None:
        response.headers["Content-Length"] = str(length)
    response.headers["X-Model-Name"] = predictor.name
    response.headers["X-Model-Version"] = predictor.version
    response.headers["X-Inference-Time-Ms"] = f"{inference_ms:.1f}"
    response.headers["X-Bit-Depth"] = str(depth)
    if hints:
        response.headers["X-Hints"] = str(len(hints))
    if predictor.takes_vividness:  # the vividness that answered (the model's own when none was asked)
        response.headers["X-Vividness"] = f"{predictor.vividness if vividness is None else vividness:g}"
    if meta.pages > 1:  # a multi-page TIFF: its first page was coloured
        response.headers["X-Source-Pages"] = str(meta.pages)
        response.headers["X-Page"] = "1"
    response.headers["Server-Timing"] = ", ".join(f"{k};dur={v:.1f}" for k, v in timings.items())
    return response


@bp.get("/v1/models")
def models() -> Response:
    """Every model (``models``), the default one's name (``default``) and this service's release
    (``service_version``, pyproject.toml's version)."""
    return jsonify({**_models().describe(), "service_version": __version__})


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers (liveness); says nothing about the model."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """200 once every model is loaded and warmed up; 503 (JSON error, Retry-After) before. Both say each
    model's state in ``models``."""
    models = _models()
    if not models.ready:
        waiting = [p for p in models.predictors.values() if not p.ready]
        message = "; ".join(f"{p.name}: {p.failure or f'{p.state}, its warm-up has not finished'}" for p in waiting)
        return error_response(503, "not_ready", f"not every model is ready ({message})", models=models.states())
    default = models.default
    return jsonify(status="ready", model=default.name, version=default.version, models=models.states())


@bp.get("/openapi.json")
def openapi_document() -> Response:
    models = _models()
    return jsonify(openapi.document(current_app.config, models.names, models.default_name,
                                    models.default.render_size))
