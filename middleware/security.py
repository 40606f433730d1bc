"""Security at the edge: in-memory uploads, CSRF tokens for the HTML form, headers on every response."""

from __future__ import annotations

import hmac
import io
import secrets
import tempfile
from typing import IO

from flask import Flask, Request, Response, current_app, request, session
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.exceptions import BadRequest

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_CSRF_SALT = "colorize-csrf"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class InMemoryRequest(Request):
    """A request whose multipart files are parsed into BytesIO: photos never touch the disk. A view that sets
    ``spool_files`` before it reads the form gets them in temporary files instead (a video, up to gigabytes)."""

    spool_files = False

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        if self.spool_files:
            return tempfile.TemporaryFile(dir=current_app.config.get("VIDEO_SPOOL_DIR") or None)
        # MAX_CONTENT_LENGTH has already bounded the whole body, so memory use is bounded too.
        return io.BytesIO()


class CSRFError(BadRequest):
    description = "The form was missing its security token or it has expired. Reload the page and try again."


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_CSRF_SALT)


def csrf_token() -> str:
    """A signed token tied to this browser's session; put it in every HTML form as ``csrf_token``."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return _serializer().dumps(session["csrf"])


def check_csrf() -> None:
    """Reject unsafe requests to HTML routes without a valid token (the /api blueprint is exempt)."""
    if request.method in _SAFE_METHODS or request.blueprint in current_app.config["CSRF_EXEMPT_BLUEPRINTS"]:
        return
    if not current_app.config["CSRF_ENABLED"] or request.routing_exception is not None:
        return  # a 404/405 is the better answer for a URL that matches no route
    token = request.form.get("csrf_token", "")
    try:
        value = _serializer().loads(token, max_age=current_app.config["CSRF_TIME_LIMIT"])
    except BadData:
        raise CSRFError() from None
    if not isinstance(value, str) or not hmac.compare_digest(value, session.get("csrf", "")):
        raise CSRFError()


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.request_class = InMemoryRequest
    app.before_request(check_csrf)
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
