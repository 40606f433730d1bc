"""Security headers everywhere, CSRF on the HTML form, uploads kept in memory, no inline code in pages."""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

import pytest

from middleware.security import CONTENT_SECURITY_POLICY
from tests.middleware.conftest import image_bytes

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("method, path", [
    ("get", "/"), ("get", "/about"), ("get", "/api/model"), ("get", "/healthz"), ("get", "/readyz"),
    ("get", "/static/css/app.css"), ("get", "/nope"), ("get", "/api/nope"), ("post", "/colorize"),
    ("post", "/api/colorize"),
])
def test_security_headers_on_every_response(client, method, path):
    response = getattr(client, method)(path)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def csrf_token_of(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def form(data: bytes, **fields) -> dict:
    return {"image": (io.BytesIO(data), "bw.jpg"), "render_size": "128", **fields}


@pytest.mark.parametrize("token", [None, "", "forged.token.value"])
def test_form_without_a_valid_csrf_token_is_400(client, jpeg, token):
    client.get("/")
    fields = {} if token is None else {"csrf_token": token}
    response = client.post("/colorize", data=form(jpeg, **fields))
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "security token" in response.get_data(as_text=True)


def test_csrf_token_of_another_browser_is_refused(app, jpeg):
    token = csrf_token_of(app.test_client())
    response = app.test_client().post("/colorize", data=form(jpeg, csrf_token=token))
    assert response.status_code == 400


def test_form_with_its_token_is_accepted_and_api_is_exempt(client, jpeg):
    token = csrf_token_of(client)
    assert client.post("/colorize", data=form(jpeg, csrf_token=token)).status_code == 200
    api = client.post("/api/colorize", data={"image": (io.BytesIO(jpeg), "bw.jpg"), "render_size": "64"})
    assert api.status_code == 200


def test_uploads_are_never_written_to_disk(client, monkeypatch):
    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was spooled to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    # 600 kB: more than the 500 kB Werkzeug keeps in memory by default before it spools to a file.
    big = image_bytes("BMP", size=(512, 400), grey=False)
    assert len(big) > 500_000
    response = client.post("/api/colorize", data={"image": (io.BytesIO(big), "big.bmp"), "render_size": "64"})
    assert response.status_code == 200


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_scripts_or_styles(template):
    html = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_debug_is_off_and_the_session_cookie_is_locked_down(app):
    assert not app.debug
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
