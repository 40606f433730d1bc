"""The bytes of request bodies a worker holds at once are bounded (colorize/bodies.py)."""

from __future__ import annotations

import io

import pytest

from colorize.bodies import BodyBudget
from model_service import create_app
from model_service.config import ConfigError
from tests.model_service.images import photo_bytes

LIMIT = 1_000_000


@pytest.fixture(scope="module")
def budget_app(make_app):
    return make_app(MAX_UPLOAD_BYTES=LIMIT // 2, MAX_BODY_BYTES=LIMIT)


def post(app, body: bytes):
    return app.test_client().post("/v1/colorize", data=body, headers={"Content-Type": "image/jpeg"})


def test_a_body_that_fits_is_admitted_and_its_reservation_ends_with_the_answer(budget_app):
    budget: BodyBudget = budget_app.wsgi_app
    response = post(budget_app, photo_bytes())
    assert response.status_code == 200
    response.close()
    assert budget.held == 0


def test_a_body_past_the_budget_is_a_503_busy_with_retry_after_and_nothing_held(budget_app):
    budget: BodyBudget = budget_app.wsgi_app
    body = photo_bytes()
    budget.held = LIMIT - len(body) + 1  # other requests hold all but one byte too few
    try:
        response = post(budget_app, body)
    finally:
        budget.held -= LIMIT - len(body) + 1
    assert response.status_code == 503
    assert response.json["error"]["code"] == "busy"
    assert "MAX_BODY_BYTES" in response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert budget.held == 0
    assert post(budget_app, body).status_code == 200  # room again: admitted


def test_a_body_over_the_upload_limit_is_still_413_not_503(budget_app):
    response = post(budget_app, b"\xff" * (LIMIT // 2 + 1))
    assert response.status_code == 413


def test_a_chunked_body_reserves_the_largest_upload():
    # No Content-Length: the body may be as large as MAX_UPLOAD_BYTES, so that much must be free.
    seen = []

    def app(environ, start_response):
        seen.append(budget.held)
        start_response("200 OK", [])
        return [b"ok"]

    budget = BodyBudget(app, limit=1000, max_body=600, retry_after=2)
    environ = {"REQUEST_METHOD": "POST", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"x" * 50)}
    statuses = []
    list(budget(dict(environ), lambda status, headers: statuses.append(status)))
    budget.held = 401
    environ["wsgi.input"] = io.BytesIO(b"x" * 50)
    list(budget(environ, lambda status, headers: statuses.append(status)))
    assert seen == [600]
    assert statuses == ["200 OK", "503 SERVICE UNAVAILABLE"]
    assert environ["wsgi.input"].read() == b""  # the refused body was read (and dropped), not left unread


def test_a_budget_below_the_upload_limit_fails_at_start(tiny_checkpoint):
    with pytest.raises(ConfigError, match="MAX_BODY_BYTES"):
        create_app({"MODEL_CHECKPOINT": tiny_checkpoint, "MAX_UPLOAD_BYTES": 2000, "MAX_BODY_BYTES": 1000,
                    "WARMUP": False})
