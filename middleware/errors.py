"""Every failure becomes a clear answer: JSON for the API, an HTML page for the browser, never a traceback."""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from middleware.client import ModelServiceError
from middleware.uploads import UploadError

_JSON_PATHS = ("/api/", "/healthz", "/readyz")

MESSAGES = {
    404: "There is nothing at this address. Check the link, or start again from the uploader.",
    405: "This address does not accept that kind of request.",
}
TITLES = {
    400: "That request did not work",
    404: "Page not found",
    405: "Method not allowed",
    413: "That file is too large",
    415: "That is not an image we can read",
    422: "That image is too large to colorize",
    500: "Something went wrong",
    502: "The colorization service failed",
    503: "The colorization service is unavailable",
    504: "The colorization service is too slow",
}


def wants_json() -> bool:
    return request.path.startswith(_JSON_PATHS)


def too_large_message() -> str:
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return f"That file is too large. Photos up to {limit / 1_000_000:g} MB are accepted."


def error_response(status: int, code: str, message: str, retry_after: str | None = None,
                   details: dict | None = None) -> Response:
    """The API's ``{"error": {"code", "message", **details}}`` or the HTML error page, by the request's path."""
    if wants_json():
        response = jsonify(error={"code": code, "message": message, **(details or {})})
    else:
        title = TITLES.get(status, "That did not work")
        response = Response(render_template("error.html", status=status, title=title, message=message))
    response.status_code = status
    if retry_after:
        response.headers["Retry-After"] = retry_after
    response.headers["Cache-Control"] = "no-store"
    return response


def _http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        return error_response(413, "too_large", too_large_message())
    code = (exc.name or "error").lower().replace(" ", "_")
    message = MESSAGES.get(exc.code) or exc.description or exc.name
    response = error_response(exc.code or 500, code, message)
    if exc.code == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _model_service_error(exc: ModelServiceError) -> Response:
    current_app.logger.warning("model service: %s (%s)", exc.code, exc.__cause__ or exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.retry_after, exc.details)


def _upload_error(exc: UploadError) -> Response:
    return error_response(exc.status, exc.code, exc.message)


def _unexpected_error(exc: Exception) -> Response:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side. Please try again.")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ModelServiceError, _model_service_error)
    app.register_error_handler(UploadError, _upload_error)
    app.register_error_handler(Exception, _unexpected_error)
