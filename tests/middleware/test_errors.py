"""Every failure is a clear, prompt answer: JSON under /api, HTML for the browser, never a hang."""

from __future__ import annotations

import io

import pytest
import requests
from flask import Flask, jsonify

from middleware.client import ModelServiceClient
from tests.middleware.conftest import image_bytes, make_app
from tests.middleware.fakes import PNG_1X1, fake_model_service, free_port, raw_server, serve


def post_api(client, data: bytes, filename: str = "bw.jpg"):
    return client.post("/api/colorize", data={"image": (io.BytesIO(data), filename), "render_size": "64"},
                       content_type="multipart/form-data")


class ServiceCalls:
    """Every try the app's model-service client makes (a retried request makes several): its path and its
    (connect, read) timeouts. And the client's clock (``middleware.client.time``), which runs on what the client
    does, not on how fast this machine is: a back-off moves it on by the time slept, without sleeping, and each
    try by the whole connect timeout it was given, the most a connection attempt may take."""

    def __init__(self, app, monkeypatch):
        self.now = 0.0
        self.tries: list[tuple[str, tuple[float, float]]] = []
        client = app.extensions["model_service"]
        self.limit = 10 * client.unreachable_budget
        send = client.session.request

        def request(method, url, timeout, **kwargs):
            self.tries.append((url.removeprefix(client.base_url), timeout))
            self.now += timeout[0]
            return send(method, url, timeout=timeout, **kwargs)

        monkeypatch.setattr(client.session, "request", request)
        monkeypatch.setattr("middleware.client.time", self)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.now > self.limit:  # fail, instead of retrying for ever
            raise AssertionError(f"still retrying after {self.now:.1f} s")


@pytest.mark.parametrize("url", [
    pytest.param("http://127.0.0.1:{port}", id="nothing-listening"),
    pytest.param("http://10.255.255.1:{port}", id="unroutable-address"),
])
def test_unreachable_model_service_is_503_json_within_the_unreachable_budget(jpeg, url, monkeypatch):
    app = make_app(url.format(port=free_port()))
    calls = ServiceCalls(app, monkeypatch)
    client = app.test_client()
    response = post_api(client, jpeg)
    assert response.status_code == 503
    assert response.json["error"]["code"] == "model_service_unavailable"
    assert "not reachable" in response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0  # a client knows when to come back
    # A restarting service gets more than one try, and every try and back-off together fit in the budget
    # (MODEL_SERVICE_UNREACHABLE_BUDGET: 2 s), each try within the connect timeout.
    assert len(calls.tries) > 1 and {path for path, _ in calls.tries} == {"/v1/colorize"}
    assert calls.now <= app.config["MODEL_SERVICE_UNREACHABLE_BUDGET"]
    assert all(connect <= app.config["MODEL_SERVICE_CONNECT_TIMEOUT"] for _, (connect, _) in calls.tries)
    assert client.get("/readyz").status_code == 503


def test_service_that_comes_back_is_used_again(jpeg):
    port = free_port()
    client = make_app(f"http://127.0.0.1:{port}").test_client()
    assert post_api(client, jpeg).status_code == 503
    with serve(fake_model_service(), port=port):
        assert post_api(client, jpeg).status_code == 200
        assert client.get("/readyz").status_code == 200


def test_stalling_model_service_is_504_after_the_read_timeout_and_not_retried(jpeg, monkeypatch):
    # The server reads the image and says nothing for 10 s, then hangs up: only the read timeout can make
    # the answer a 504 (without it, the hang-up would be a 503).
    with raw_server("stall", stall_s=10) as (url, seen):
        app = make_app(url, MODEL_SERVICE_READ_TIMEOUT=0.3)
        calls = ServiceCalls(app, monkeypatch)
        response = post_api(app.test_client(), jpeg)
    assert response.status_code == 504
    assert response.json["error"]["code"] == "model_service_timeout"
    # The setting is the read timeout the image was sent with.
    assert [(path, read) for path, (_, read) in calls.tries] == [("/v1/colorize", 0.3)]
    assert len(seen) == 1  # the image was sent once: a read timeout is never retried


def test_model_service_hanging_up_twice_is_a_503_to_retry_not_a_traceback(jpeg):
    # A service that hangs up mid-request, and again when asked once more, has stopped or restarted (killed,
    # out of memory) or this image kills its workers: come back later.
    with raw_server("hangup") as (url, seen):
        response = post_api(make_app(url).test_client(), jpeg)
    assert response.status_code == 503
    assert "closed the connection" in response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert len(seen) == 2  # sent once more, not a third time


def test_a_hang_up_before_the_answer_is_sent_once_more_and_the_user_gets_the_image(jpeg):
    # One worker killed with the request on it: the next connection reaches another worker.
    with raw_server("hangup_once") as (url, seen):
        response = post_api(make_app(url).test_client(), jpeg)
    assert response.status_code == 200, response.data[:200]
    assert response.data == PNG_1X1
    assert len(seen) == 2


def test_an_answer_cut_off_part_way_is_not_sent_again(jpeg):
    # Bytes of the answer came back: the service did the work; the web app does not ask for it twice. It
    # passes answers on as they arrive, so its own answer is cut off too (a server then closes the
    # connection short of the Content-Length), never patched up from a second answer.
    with raw_server("partial") as (url, seen):
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            post_api(make_app(url).test_client(), jpeg)
    assert len(seen) == 1


@pytest.mark.parametrize("status, headers, expected", [
    (503, {"Retry-After": "7"}, 503),  # busy or warming up: passed on, with when to retry
    (500, {}, 502),  # the service broke: a gateway error, its internals are not shown
])
def test_model_service_5xx(jpeg, status, headers, expected):
    failing = Flask("failing_model_service")

    @failing.post("/v1/colorize")
    def colorize():
        return jsonify(error={"code": "busy", "message": "all inference slots are taken"}), status, headers

    with serve(failing) as url:
        response = post_api(make_app(url).test_client(), jpeg)
    assert response.status_code == expected
    assert response.json["error"]["message"]
    if expected == 503:
        assert response.headers["Retry-After"] == "7"
        assert response.json["error"]["message"] == "all inference slots are taken"


def test_too_large_body_is_413_at_the_edge(model_service_url):
    client = make_app(model_service_url, MAX_CONTENT_LENGTH=50_000).test_client()
    big = image_bytes("BMP", size=(300, 300))
    response = post_api(client, big, "big.bmp")
    assert response.status_code == 413
    assert "too large" in response.json["error"]["message"]
    page = client.post("/colorize", data={"image": (io.BytesIO(big), "big.bmp")})
    assert page.status_code == 413 and page.mimetype == "text/html"
    assert "too large" in page.get_data(as_text=True)


@pytest.mark.parametrize("data, filename, status", [
    (b"just some text", "notes.txt", 415),
    (b"%PDF-1.7 not a photo", "photo.jpg", 415),  # the name lies; the bytes decide
    (b"", "empty.jpg", 400),
])
def test_not_an_image_is_refused(client, data, filename, status):
    response = post_api(client, data, filename)
    assert response.status_code == status
    assert response.json["error"]["message"]


def test_missing_image_field_is_400(client):
    response = client.post("/api/colorize", data={"render_size": "64"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "No image" in response.json["error"]["message"]


def test_unexpected_errors_are_500_without_a_traceback(app, jpeg, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["model_service"], "colorize", boom)
    client = app.test_client()
    response = post_api(client, jpeg)
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Page not found" in page.get_data(as_text=True)


def test_browser_form_gets_an_html_page_when_the_service_is_down(jpeg, monkeypatch):
    client = make_app(f"http://127.0.0.1:{free_port()}", CSRF_ENABLED=False).test_client()
    sent = []
    colorize = ModelServiceClient.colorize

    def send(self, image, *args, **kwargs):
        sent.append(image)
        return colorize(self, image, *args, **kwargs)

    monkeypatch.setattr(ModelServiceClient, "colorize", send)
    files = [(io.BytesIO(jpeg), f"bw{i}.jpg") for i in range(8)]
    page = client.post("/colorize", data={"image": files, "render_size": "128"})
    assert len(sent) == 1  # one wait for the service, not one per file
    assert page.status_code == 503 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "not reachable right now" in html and 'id="upload-form"' in html
