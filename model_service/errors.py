"""Every error leaves the service as JSON ``{"error": {"code": ..., "message": ...}}`` with its HTTP status.

Inside, code raises specific exceptions (decode.DecodeError subclasses, colorize.video.VideoError subclasses,
gate.Busy, predictor.NotReady, ApiError for request problems); this module is the one place they become status codes.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from colorize.hints import HintError, HintsUnsupported
from colorize.video import VideoError
from model_service import decode
from model_service.gate import Busy
from model_service.predictor import NotReady

log = logging.getLogger(__name__)

# Exception type -> (HTTP status, error code). Subclasses before their bases.
_STATUS: list[tuple[type[Exception], int, str]] = [
    (decode.EmptyImage, 400, "empty_image"),
    (decode.CorruptImage, 400, "corrupt_image"),
    (decode.UnsupportedFormat, 415, "unsupported_format"),
    (decode.TooManyPixels, 422, "too_many_pixels"),
    (decode.UnsupportedCompression, 415, "unsupported_compression"),
    (decode.UnsupportedBitDepth, 415, "unsupported_bit_depth"),
    (decode.TooManyPages, 422, "too_many_pages"),
    (decode.CorruptProfile, 422, "corrupt_icc_profile"),
    (HintsUnsupported, 400, "hints_unsupported"),
    (HintError, 400, "invalid_hints"),
    (Busy, 503, "busy"),
    (NotReady, 503, "not_ready"),
]


class ApiError(Exception):
    """A problem with the request itself (a missing field, a bad parameter, a wrong content type).

    ``details`` join code and message in the error object (unknown_model: ``models``, the valid names)."""

    def __init__(self, status: int, code: str, message: str, **details: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, **details: Any) -> Response:
    """The JSON error body every failure uses: ``{"error": {"code", "message", **details}}``."""
    response = jsonify(error={"code": code, "message": message, **details})
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER"])
    return response


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, **exc.details)


def _video_error(exc: VideoError) -> Response:
    return error_response(exc.status, exc.code, exc.message)  # each says its own status and code


def _known_error(exc: Exception) -> Response:
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return error_response(status, code, str(exc))
    return _unexpected(exc)


def _http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        limit = current_app.config["MAX_UPLOAD_BYTES"]
        return error_response(413, "payload_too_large",
                              f"the request body is larger than the limit of {limit} bytes")
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    response = error_response(exc.code or 500, code, exc.description or exc.name)
    for name, value in exc.get_headers():  # e.g. Allow on 405
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error; the service logged the details")


def init_app(app: Flask) -> None:
    """Register the JSON error handlers on ``app``."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(VideoError, _video_error)
    for kind, _, _ in _STATUS:
        app.register_error_handler(kind, _known_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
