"""POST /api/colorize, GET /api/model and the probes, against the real model service."""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pytest
import requests
import tifffile
from PIL import Image

from colorize import __version__ as service_version
from middleware import __version__ as web_version
from tests.colorize.test_photoio import grey16_ramp, pages_tiff, tifffile_tiff
from tests.middleware.conftest import image_bytes, make_app
from tests.middleware.fakes import RECEIVED_HINTS, fake_model_service, serve


def colorize(client, data: bytes, filename: str = "bw.jpg", **fields):
    return client.post("/api/colorize", data={"image": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


@pytest.mark.parametrize("fmt, mime, ext", [("png", "image/png", "png"), ("jpeg", "image/jpeg", "jpg")])
def test_colorize_answers_an_image_of_the_same_size_as_a_download(client, fmt, mime, ext):
    response = colorize(client, image_bytes(size=(97, 61)), "old photo.jpg", render_size="64", format=fmt)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == mime
    assert Image.open(io.BytesIO(response.data)).size == (97, 61)
    assert response.headers["Content-Disposition"].startswith(
        f'attachment; filename="old photo-colorized.{ext}"')
    assert response.headers["X-Model-Version"]


def test_colorize_without_options_uses_the_services_defaults(client):
    response = colorize(client, image_bytes("PNG", size=(64, 48)), "x.png")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).size == (64, 48)


@pytest.mark.parametrize("fields", [{}, {"format": "auto"}])
def test_a_jpeg_comes_back_as_a_jpeg_by_default(client, fields):
    response = colorize(client, image_bytes(size=(64, 48)), "scan.jpg", **fields)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="scan-colorized.jpg"')


def test_unicode_filename_gets_an_ascii_fallback_and_an_rfc5987_name(client, jpeg):
    response = colorize(client, jpeg, "Großmutter 1932.jpg", render_size="64")
    disposition = response.headers["Content-Disposition"]
    assert 'filename="Grossmutter 1932-colorized.jpg"' in disposition or \
        'filename="Gromutter 1932-colorized.jpg"' in disposition
    assert "filename*=UTF-8''Gro%C3%9Fmutter%201932-colorized.jpg" in disposition


def test_a_raw_image_body_works_too(client, jpeg):
    response = client.post("/api/colorize?render_size=64", data=jpeg, content_type="image/jpeg")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).size == (96, 72)


@pytest.mark.parametrize("fields", [{"render_size": "12"}, {"render_size": "big"}, {"format": "gif"}])
def test_invalid_options_are_refused_with_a_message(client, jpeg, fields):
    response = colorize(client, jpeg, **fields)
    assert response.status_code == 400
    assert response.json["error"]["message"]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` but holds almost no data (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunks = b""
    for name, body in ((b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\0" * 16)), (b"IEND", b"")):
        chunks += struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))
    return b"\x89PNG\r\n\x1a\n" + chunks


@pytest.mark.parametrize("data, status", [
    pytest.param(image_bytes("PNG")[:60], 400, id="truncated-png"),
    pytest.param(_png_header_only(8000, 8000), 422, id="too-many-pixels"),
])
def test_model_service_4xx_is_passed_on_with_its_status_and_message(client, model_service_url, data, status):
    direct = requests.post(f"{model_service_url}/v1/colorize", data=data,
                           headers={"Content-Type": "image/png"}, timeout=30)
    assert direct.status_code == status
    response = colorize(client, data, "broken.png")
    assert response.status_code == direct.status_code
    assert response.json["error"]["code"] == direct.json()["error"]["code"]
    # Compare messages without object addresses (a message may name a BytesIO by its repr).
    ours, theirs = response.json["error"]["message"], direct.json()["error"]["message"]
    assert _no_addresses(ours) == _no_addresses(theirs)


def _no_addresses(message: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x", message)


def test_model_metadata(client):
    response = client.get("/api/model")
    assert response.status_code == 200
    assert "architecture" in str(response.json) and "weights_sha256" in str(response.json)


def test_model_metadata_says_both_releases(client):
    info = client.get("/api/model").json
    assert info["web_version"] == web_version  # this app's
    assert info["service_version"] == service_version  # the model service's, passed on


def test_probes(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("method, path, status", [
    ("get", "/api/nope", 404), ("get", "/api/colorize", 405), ("delete", "/api/model", 405)])
def test_api_errors_are_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.is_json and response.json["error"]["message"]


def test_photos_of_several_megabytes_are_accepted(client):
    # Werkzeug checks each chunk of a file part against MAX_FORM_MEMORY_SIZE: at 64 KiB, 200 kB photos got 413
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1600), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise, "L").save(buf, "JPEG", quality=95)
    assert len(buf.getvalue()) > 1_500_000
    response = colorize(client, buf.getvalue(), "big scan.jpg")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert Image.open(io.BytesIO(response.data)).size == (1600, 1200)


@pytest.fixture(scope="module")
def fake_service_url():
    with serve(fake_model_service()) as url:
        yield url


@pytest.fixture
def fake_client(fake_service_url):
    """The web app in front of the stand-in model service (tests/middleware/fakes.py)."""
    return make_app(fake_service_url).test_client()


def test_a_tiff_answer_and_what_the_service_says_of_the_photo_are_passed_on(fake_client):
    scan = pages_tiff([grey16_ramp(12, 16)] * 3)  # 16-bit grey, 3 pages
    response = colorize(fake_client, scan, "scan.tif", format="tiff")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "image/tiff" and Image.open(io.BytesIO(response.data)).format == "TIFF"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="scan-colorized.tif"')
    assert response.headers["X-Bit-Depth"] == "16"
    assert response.headers["X-Source-Pages"] == "3" and response.headers["X-Page"] == "1"


@pytest.mark.parametrize("fmt", ["tiff", "tif"])
def test_format_tiff_is_passed_on(fake_client, fmt):
    response = colorize(fake_client, image_bytes("PNG"), "bw.png", format=fmt)  # a PNG: auto would be PNG
    assert response.status_code == 200 and response.mimetype == "image/tiff"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="bw-colorized.tif"')


def test_an_8_bit_photo_of_one_page_says_so(fake_client, jpeg):
    response = fake_client.post("/api/colorize", data=jpeg, content_type="image/jpeg")
    assert response.status_code == 200 and response.headers["X-Bit-Depth"] == "8"
    assert "X-Source-Pages" not in response.headers and "X-Page" not in response.headers


def test_a_16_bit_scan_through_both_services(client):
    response = colorize(client, tifffile_tiff(grey16_ramp(24, 32)), "scan.tif", render_size="64")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "image/tiff" and response.headers["X-Bit-Depth"] == "16"
    answer = tifffile.imread(io.BytesIO(response.data))
    assert answer.dtype == np.uint16 and answer.shape == (24, 32, 3)


def test_hints_are_passed_on_compacted_and_counted(fake_client, jpeg):
    hints = '[ {"x": 12, "y": 30.5, "color": "#3355aa"},\n {"x": 1, "y": 2, "color": "#ffffff"} ]'
    response = colorize(fake_client, jpeg, "bw.jpg", hints=hints)
    assert response.status_code == 200 and response.headers["X-Hints"] == "2"
    assert RECEIVED_HINTS[-1] == (
        '[{"x":12,"y":30.5,"color":"#3355aa"},{"x":1,"y":2,"color":"#ffffff"}]')
    raw = fake_client.post("/api/colorize?hints=" + requests.utils.quote('[{"x":1,"y":2,"color":"#000000"}]'),
                           data=jpeg, content_type="image/jpeg")
    assert raw.status_code == 200 and raw.headers["X-Hints"] == "1"


@pytest.mark.parametrize("hints, code, message", [
    ("[{", "invalid_hints", "hints must be a JSON list"),
    ("[" * 3000, "invalid_hints", "hints must be a JSON list"),
    ('{"x": 1}', "invalid_hints", "hints must be a JSON list"),
    ("[" + ",".join(['{"x":1000,"y":1000,"color":"#123456"}'] * 65) + "]", "invalid_hints",
     "too many hints: 65, at most 64"),
    ('[{"x":1,"y":1,"color":"#' + "a" * 7000 + '"}]', "invalid_hints", "URL-encoded; at most 7000"),
])
def test_malformed_hints_are_refused_at_the_edge(fake_client, jpeg, hints, code, message):
    response = colorize(fake_client, jpeg, "bw.jpg", hints=hints)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code and message in response.get_json()["error"]["message"]


def test_64_long_hints_fit_the_services_request_line(client, jpeg):
    """64 hints with long numbers reach the real model service (its request line is capped by gunicorn in
    production; here its answer must be the service's own refusal, not a refused request line)."""
    hints = "[" + ",".join(['{"x":1000.25,"y":1000.25,"color":"#123456"}'] * 64) + "]"
    response = colorize(client, jpeg, "bw.jpg", hints=hints)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "hints_unsupported"


def test_the_services_hint_errors_pass_on(client, jpeg):
    """The real model service: its models here take no hints, and it says so."""
    response = colorize(client, jpeg, "bw.jpg", hints='[{"x": 1, "y": 1, "color": "#123456"}]')
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "hints_unsupported" and "does not take colour hints" in error["message"]
