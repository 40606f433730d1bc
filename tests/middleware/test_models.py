"""The choice of model: forwarded by /api/colorize and the form, listed on the pages, refused clearly.

The real model service here serves two tiny models (tests/middleware/conftest.py), tiny-b the default."""

from __future__ import annotations

import io
import re
import time

import pytest
from flask import Flask, jsonify

from middleware.client import MODELS_MAX_AGE
from tests.conftest import SECOND_MODEL
from tests.middleware.conftest import image_bytes, make_app
from tests.middleware.fakes import raw_server, serve
from tests.middleware.test_security import csrf_token_of

FIRST_MODEL = "unet_resnet18"


def colorize(client, query: str = "", **fields):
    return client.post(f"/api/colorize{query}", data={"image": (io.BytesIO(image_bytes()), "bw.jpg"), **fields},
                       content_type="multipart/form-data")


def options(html: str) -> list[tuple[str, bool]]:
    """The model select's options: (value, selected)."""
    select = re.search(r'<select[^>]*name="model"[^>]*>(.*?)</select>', html, re.S)
    assert select, "no <select name=\"model\"> on the page"
    return [(value, bool(selected)) for value, selected in
            re.findall(r'<option value="([^"]*)"( selected)?>', select.group(1))]


@pytest.mark.parametrize("fields, query, expected", [
    ({}, "", SECOND_MODEL),  # none named: the service's default
    ({"model": FIRST_MODEL}, "", FIRST_MODEL),
    ({"model": ""}, "", SECOND_MODEL),
    ({}, f"?model={FIRST_MODEL}", FIRST_MODEL),
])
def test_api_colorize_forwards_the_model_and_names_the_one_used(client, fields, query, expected):
    response = colorize(client, query, render_size="64", **fields)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["X-Model-Name"] == expected


def test_a_raw_body_takes_the_model_from_the_query(client, jpeg):
    response = client.post(f"/api/colorize?render_size=64&model={FIRST_MODEL}", data=jpeg, content_type="image/jpeg")
    assert response.status_code == 200 and response.headers["X-Model-Name"] == FIRST_MODEL


def test_an_unknown_model_is_a_400_that_lists_the_names(client):
    response = colorize(client, model="unet_resnet34")
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "unknown_model"
    assert error["models"] == [FIRST_MODEL, SECOND_MODEL]
    assert FIRST_MODEL in error["message"] and SECOND_MODEL in error["message"]


def test_api_model_lists_every_model_and_the_default(client):
    listing = client.get("/api/model").json
    assert [m["name"] for m in listing["models"]] == [FIRST_MODEL, SECOND_MODEL]
    assert listing["default"] == SECOND_MODEL
    assert [m["default"] for m in listing["models"]] == [False, True]


def test_the_page_offers_both_models_with_the_default_chosen(client):
    html = client.get("/").get_data(as_text=True)
    assert options(html) == [(FIRST_MODEL, False), (SECOND_MODEL, True)]
    form = html[html.index("<form"):html.index("</form>")]
    assert 'name="model"' in form  # inside the form: it is sent without JavaScript too


def test_the_form_without_javascript_sends_the_model_and_says_which_coloured(client):
    token = csrf_token_of(client)
    for model in (FIRST_MODEL, SECOND_MODEL):
        response = client.post("/colorize", data={"image": (io.BytesIO(image_bytes()), "Oma.jpg"),
                                                  "render_size": "64", "model": model, "csrf_token": token})
        assert response.status_code == 200
        assert f"Colorized by {model}" in response.get_data(as_text=True)


def test_the_form_with_an_unknown_model_shows_the_names(client):
    token = csrf_token_of(client)
    response = client.post("/colorize", data={"image": (io.BytesIO(image_bytes()), "Oma.jpg"),
                                              "model": "nope", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert FIRST_MODEL in html and SECOND_MODEL in html and "nope" in html


def test_the_about_page_has_a_card_per_model(client):
    html = client.get("/about").get_data(as_text=True)
    titles = re.findall(r'<h3 class="model-title">([^<]+)', html)
    assert [t.strip() for t in titles] == [SECOND_MODEL, FIRST_MODEL]  # the default first
    assert f"-F model={FIRST_MODEL}" in html


def listing_service(names: list[str], hits: list[str]) -> Flask:
    """A model service that only lists ``names`` (the first the default), counting each ask in ``hits``."""
    app = Flask("listing_service")

    @app.get("/v1/models")
    def models():
        hits.append("models")
        return jsonify(models=[{"name": n, "default": i == 0} for i, n in enumerate(names)], default=names[0])

    return app


def test_one_model_means_no_choice_on_the_page():
    with serve(listing_service(["only"], [])) as url:
        html = make_app(url).test_client().get("/").get_data(as_text=True)
    assert "<select" not in html and 'name="model"' not in html


def test_the_list_is_asked_again_only_after_a_while(monkeypatch):
    hits: list[str] = []
    with serve(listing_service(["a", "b"], hits)) as url:
        client = make_app(url).test_client()
        for _ in range(3):
            assert options(client.get("/").get_data(as_text=True)) == [("a", True), ("b", False)]
        assert hits == ["models"]
        later = time.monotonic() + MODELS_MAX_AGE + 1
        monkeypatch.setattr(time, "monotonic", lambda: later)
        client.get("/")
        client.get("/")
        assert len(hits) == 2


def test_a_service_that_cannot_list_its_models_leaves_the_page_working_and_is_not_asked_on_every_visit():
    with raw_server("hangup") as (url, seen):
        client = make_app(url).test_client()
        for _ in range(3):
            response = client.get("/")
            assert response.status_code == 200 and "<select" not in response.get_data(as_text=True)
    assert len(seen) == 2  # the first visit's ask and its one retry after the hang-up; then remembered
