"""The HTTP API through Flask's test client, on the tiny random-weight checkpoint."""

import io
import re

import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import natural_image
from tests.model_service.images import bomb_png, encode, lightness, photo_bytes

URL = "/v1/colorize?render_size=64"


def colorize(client, data: bytes, content_type: str = "image/png", url: str = URL):
    return client.post(url, data=data, content_type=content_type)


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.data[:300]
    assert response.is_json, response.data[:300]
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]


def samples(client, name: str) -> dict[tuple, float]:
    """The samples of one metric family, keyed by their sorted labels."""
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name.endswith("_total")}
    return {}


# 256 x 7: a render one pixel wide in the deepest layer, where bf16 on AMX CPUs gives NaN (rerun in fp32)
@pytest.mark.parametrize("height, width", [(1, 1), (37, 53), (101, 7), (256, 7)])
def test_output_has_the_input_size_and_lightness(client, height, width):
    grey = natural_image(height, width).convert("L")
    response = colorize(client, encode(grey, "PNG"))
    assert response.status_code == 200 and response.mimetype == "image/png"
    out = Image.open(io.BytesIO(response.data))
    assert out.size == (width, height) and out.mode == "RGB"
    assert np.abs(lightness(out) - lightness(grey)).mean() < 0.5


def test_headers_name_the_model_and_the_time(client):
    response = colorize(client, photo_bytes(), "image/jpeg")
    version = client.get("/v1/models").get_json()["models"][0]["version"]
    assert response.headers["X-Model-Version"] == version
    assert float(response.headers["X-Inference-Time-Ms"]) > 0
    assert "network;dur=" in response.headers["Server-Timing"]


@pytest.mark.parametrize("fmt, mimetype", [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_multipart_upload_with_form_fields(client, fmt, mimetype):
    form = {"image": (io.BytesIO(photo_bytes(30, 40)), "photo.jpg"), "format": fmt, "render_size": "64"}
    response = client.post("/v1/colorize", data=form, content_type="multipart/form-data")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert Image.open(io.BytesIO(response.data)).size == (40, 30)


@pytest.mark.parametrize("fmt, mimetype", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"),
                                           ("BMP", "image/png"), ("GIF", "image/png")])
@pytest.mark.parametrize("query", ["", "?format=auto"])
def test_default_format_follows_the_upload(client, fmt, mimetype, query):
    data = encode(natural_image(30, 40).convert("L"), fmt)
    response = client.post(f"/v1/colorize{query}", data=data, content_type="application/octet-stream")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert Image.open(io.BytesIO(response.data)).size == (40, 30)


def test_alpha_is_kept(client):
    rgba = natural_image(20, 30).convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 77))
    out = Image.open(io.BytesIO(colorize(client, encode(rgba, "PNG")).data))
    assert out.mode == "RGBA" and out.getchannel("A").getextrema() == (77, 77)


TEXT = b"This is a text file, not an image.\n" * 10


@pytest.mark.parametrize("data, content_type, status, code", [
    (b"", "image/png", 400, "empty_image"),
    (photo_bytes(64, 64, "JPEG")[:400], "image/jpeg", 400, "corrupt_image"),
    (b"\xff\xd8\xff\xe0" + bytes(300), "image/jpeg", 400, "corrupt_image"),
    (bytes(range(256)) * 8, "image/jpeg", 415, "unsupported_format"),
    (TEXT, "image/png", 415, "unsupported_format"),
    (TEXT, "text/plain", 415, "unsupported_media_type"),
    (b'{"image": "x"}', "application/json", 415, "unsupported_media_type"),
    (photo_bytes(), "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (bomb_png(20000, 20000), "image/png", 422, "too_many_pixels"),
    (bomb_png(8000, 8000), "image/png", 422, "too_many_pixels"),
])
def test_bad_uploads(client, data, content_type, status, code):
    assert_error(colorize(client, data, content_type), status, code)


def test_no_body_at_all(client):
    assert_error(client.post("/v1/colorize"), 400, "missing_image")


@pytest.mark.parametrize("form, code", [
    ({"format": "png"}, "missing_image"),
    ({"image": "a text field, not a file"}, "missing_image"),
    ({"image": (io.BytesIO(b""), "empty.png")}, "empty_image"),
])
def test_bad_multipart_forms(client, form, code):
    assert_error(client.post("/v1/colorize", data=form, content_type="multipart/form-data"), 400, code)


@pytest.mark.parametrize("query, code", [
    ("render_size=63", "invalid_render_size"),
    ("render_size=1025", "invalid_render_size"),
    ("render_size=abc", "invalid_render_size"),
    ("render_size=64.5", "invalid_render_size"),
    ("format=gif", "invalid_format"),
    ("format=gif&render_size=64", "invalid_format"),
])
def test_bad_parameters(client, query, code):
    assert_error(colorize(client, photo_bytes(), "image/jpeg", f"/v1/colorize?{query}"), 400, code)


def test_render_size_bounds_are_accepted(client):
    for size in (64, 1024):
        assert colorize(client, photo_bytes(), "image/jpeg", f"/v1/colorize?render_size={size}").status_code == 200


def test_empty_parameters_mean_the_defaults(client):
    response = colorize(client, photo_bytes(), "image/jpeg", "/v1/colorize?render_size=&format=")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"  # format auto: a JPEG upload


def test_oversized_bodies_are_refused(make_app):
    client = make_app(MAX_UPLOAD_BYTES=2000).test_client()
    big = photo_bytes(80, 80, "PNG")
    assert len(big) > 2000
    assert_error(colorize(client, big), 413, "payload_too_large")
    form = {"image": (io.BytesIO(big), "big.png")}
    assert_error(client.post("/v1/colorize", data=form, content_type="multipart/form-data"), 413,
                 "payload_too_large")
    assert colorize(client, photo_bytes(8, 8, "JPEG"), "image/jpeg").status_code == 200


def test_max_pixels_is_configurable(make_app):
    client = make_app(MAX_PIXELS=1000).test_client()
    assert_error(colorize(client, photo_bytes(40, 40)), 422, "too_many_pixels")
    assert colorize(client, photo_bytes(20, 40), "image/jpeg").status_code == 200


@pytest.mark.parametrize("method, path, status, code", [
    ("get", "/nope", 404, "not_found"),
    ("get", "/v1/colorize", 405, "method_not_allowed"),
    ("post", "/healthz", 405, "method_not_allowed"),
    ("delete", "/v1/models", 405, "method_not_allowed"),
])
def test_unknown_routes_and_methods_answer_json(client, method, path, status, code):
    response = getattr(client, method)(path)
    assert_error(response, status, code)
    if status == 405:
        assert response.headers["Allow"]


def test_the_service_keeps_answering_after_bad_input(client):
    for data in (b"", TEXT, bomb_png(20000, 20000), photo_bytes()[:200]):
        assert 400 <= colorize(client, data).status_code < 500
    assert client.get("/healthz").status_code == 200
    assert colorize(client, photo_bytes(), "image/jpeg").status_code == 200


def test_readyz_is_503_until_the_warm_up_is_done(make_app):
    app = make_app(warm=False)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    for response in (client.get("/readyz"), colorize(client, photo_bytes(), "image/jpeg")):
        assert_error(response, 503, "not_ready")
        assert int(response.headers["Retry-After"]) >= 0
    app.extensions["model_service"].warm_up()
    assert client.get("/readyz").status_code == 200
    assert colorize(client, photo_bytes(), "image/jpeg").status_code == 200


def test_a_failed_warm_up_keeps_readyz_503(make_app):
    app = make_app(warm=False)
    predictor = app.extensions["model_service"].default
    predictor.model = None  # the warm-up inference will raise
    predictor.warm_up()
    response = app.test_client().get("/readyz")
    assert_error(response, 503, "not_ready")
    assert "warm-up" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("queue, timeout, reason", [(0, 30.0, "queue_full"), (1, 0.05, "timeout")])
def test_busy_when_the_slot_is_taken(make_app, queue, timeout, reason):
    app = make_app(MAX_QUEUE=queue, QUEUE_TIMEOUT=timeout, RETRY_AFTER=3)
    client = app.test_client()
    with app.extensions["model_service"].gate.slot():  # an inference in flight
        response = colorize(client, photo_bytes(), "image/jpeg")
        assert_error(response, 503, "busy")
        assert response.headers["Retry-After"] == "3"
        assert client.get("/healthz").status_code == 200
    assert samples(client, "model_service_queue_rejections")[(("reason", reason),)] == 1
    assert colorize(client, photo_bytes(), "image/jpeg").status_code == 200


def test_metrics_count_requests_by_endpoint_and_status(client):
    before = samples(client, "model_service_requests")
    colorize(client, photo_bytes(), "image/jpeg")
    colorize(client, TEXT)
    colorize(client, TEXT)
    client.get("/nope")
    after = samples(client, "model_service_requests")

    def delta(endpoint, method, status):
        key = (("endpoint", endpoint), ("method", method), ("status", status))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("/v1/colorize", "POST", "200") == 1
    assert delta("/v1/colorize", "POST", "415") == 2
    assert delta("unmatched", "GET", "404") == 1
    text = client.get("/metrics").get_data(as_text=True)
    for name in ("model_service_request_duration_seconds_bucket", "model_service_requests_in_flight",
                 "model_service_inference_duration_seconds_count"):
        assert name in text


def test_models_describes_the_checkpoint(client):
    (model,) = client.get("/v1/models").get_json()["models"]
    assert model["architecture"]["name"] == "unet_resnet18"
    assert model["training"]["data"] == "none (random weights, for tests)"
    assert model["version"] == model["weights_sha256"][:12]
    assert model["serving"]["state"] == "ready" and model["serving"]["device"] == "cpu"


def test_openapi_documents_every_route(app, client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    def path(rule) -> str:  # Flask's /v1/videos/<job_id> is OpenAPI's /v1/videos/{job_id}
        return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)

    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            methods.setdefault(path(rule), set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert methods == {route: set(operations) for route, operations in document["paths"].items()}
    responses = document["paths"]["/v1/colorize"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(responses)


def test_multipart_photos_of_several_megabytes_are_accepted(client):
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1600), dtype=np.uint8)
    data = encode(Image.fromarray(noise, "L"), "JPEG", quality=95)
    assert len(data) > 1_000_000
    form = {"image": (io.BytesIO(data), "big.jpg"), "render_size": "64"}
    response = client.post("/v1/colorize", data=form, content_type="multipart/form-data")
    assert response.status_code == 200 and Image.open(io.BytesIO(response.data)).size == (1600, 1200)


def test_the_default_render_size_is_the_checkpoint_s_own(tmp_path, monkeypatch):
    """A checkpoint whose metadata names render_size 96 is served at 96 when a request names none,
    and documented so; DEFAULT_RENDER_SIZE, when set, wins; a request's own size wins over both."""
    from colorize.checkpoint import save_model
    from model_service import create_app
    from tests.conftest import random_colour_model

    path = tmp_path / "made-for-96.safetensors"
    save_model(random_colour_model(), path, {"render_size": 96})
    for setting, expected in ((0, 96), (80, 80)):
        app = create_app({"MODEL_CHECKPOINT": str(path), "DEFAULT_RENDER_SIZE": setting, "WARMUP": False})
        predictor = app.extensions["model_service"].default
        predictor.warm_up()
        seen, real = [], predictor.colorize

        def spy(image, size, real=real, seen=seen, **kw):
            seen.append(size)
            return real(image, size, **kw)
        monkeypatch.setattr(predictor, "colorize", spy)
        client = app.test_client()
        assert colorize(client, photo_bytes(), "image/jpeg", "/v1/colorize").status_code == 200
        assert colorize(client, photo_bytes(), "image/jpeg", "/v1/colorize?render_size=64").status_code == 200
        assert seen == [expected, 64]
        assert client.get("/v1/models").get_json()["models"][0]["serving"]["default_render_size"] == expected
        params = client.get("/openapi.json").get_json()["paths"]["/v1/colorize"]["post"]["parameters"]
        assert next(p for p in params if p["name"] == "render_size")["schema"]["default"] == expected


def test_exif_orientation_is_applied_once_on_the_way(client, monkeypatch):
    from PIL import ImageOps

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(natural_image(20, 30), "JPEG", exif=exif)
    calls = []
    transpose = ImageOps.exif_transpose
    monkeypatch.setattr(ImageOps, "exif_transpose", lambda image, **kw: calls.append(1) or transpose(image, **kw))
    response = client.post("/v1/colorize", data=data, content_type="image/jpeg")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).size == (20, 30)
    assert len(calls) == 1  # by model_service.decode; the predictor takes the upright image as it is
