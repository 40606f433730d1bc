"""Colour hints through POST /v1/colorize: the field, its errors (400 that say which hint and why, never a
5xx), a model that takes none, and the shipped model following a hint."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from colorize import DEFAULT_CHECKPOINT, lab
from colorize.checkpoint import read_metadata, save_model
from colorize.models import with_hints
from model_service import create_app
from tests.conftest import natural_image, random_colour_model

HINT_MODEL = "tiny-hints"


@pytest.fixture(scope="module")
def hint_checkpoint(tmp_path_factory) -> str:
    """A random-weight hint-taking model whose hint weights are not zero: hints change its answer."""
    torch.manual_seed(2)
    model = with_hints(random_colour_model("unet_resnet18"))
    with torch.no_grad():
        for conv in model.hint_inputs:
            conv.weight.normal_(0, 2.0)
        model.hint_blocks[-1].conv[0][0].weight[:, -3:].normal_(0, 2.0)  # the full-resolution hint map
    path = tmp_path_factory.mktemp("ckpt") / "hints.safetensors"
    save_model(model, path, {"model_name": HINT_MODEL}, dtype=torch.float16)
    return str(path)


@pytest.fixture(scope="module")
def client(tiny_checkpoint, hint_checkpoint):
    app = create_app({"MODEL_CHECKPOINTS": f"{hint_checkpoint},{tiny_checkpoint}", "DEFAULT_RENDER_SIZE": 64,
                      "WARMUP": False})
    app.extensions["model_service"].warm_up()
    return app.test_client()


def photo(size=(80, 60)) -> bytes:
    buf = io.BytesIO()
    natural_image(size[1], size[0]).convert("L").save(buf, "PNG")
    return buf.getvalue()


def post(client, hints=None, model=None, body=None):
    form = {"image": (io.BytesIO(body or photo()), "photo.png")}
    if hints is not None:
        form["hints"] = hints if isinstance(hints, str) else json.dumps(hints)
    if model:
        form["model"] = model
    return client.post("/v1/colorize", data=form, content_type="multipart/form-data")


def pixels(response) -> np.ndarray:
    assert response.status_code == 200, response.data[:300]
    return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), dtype=np.int16)


def test_models_say_which_take_hints(client):
    listing = client.get("/v1/models").get_json()
    assert {m["name"]: m["hints"] for m in listing["models"]} == {HINT_MODEL: True, "unet_resnet18": False}
    spec = client.get("/openapi.json").get_json()["paths"]["/v1/colorize"]["post"]
    assert any(p["name"] == "hints" for p in spec["parameters"])
    assert "invalid_hints" in spec["responses"]["400"]["description"]


def test_hints_change_the_answer_and_are_counted(client):
    plain = post(client)
    hinted = post(client, [{"x": 10, "y": 12, "color": "#2040ff"}, {"x": 70, "y": 50, "color": "#ff2000"}])
    assert "X-Hints" not in plain.headers and hinted.headers["X-Hints"] == "2"
    assert np.abs(pixels(hinted) - pixels(plain)).max() > 3
    assert np.array_equal(pixels(post(client, [])), pixels(plain))  # an empty list is no hints


@pytest.mark.parametrize("hints, message", [
    ("[{\"x\": 1,", "hints must be a JSON list"),
    ([{"x": 1, "y": 1, "color": "#123456"}, {"x": 1, "y": 1, "color": "blue"}], "hint 1: color must be"),
    ([{"x": 1, "color": "#123456"}], "hint 0: missing y"),
    ([{"x": 80, "y": 1, "color": "#123456"}], "hint 0: x=80 is outside the image (0 <= x < 80)"),
    ([{"x": 1, "y": 60, "color": "#123456"}], "hint 0: y=60 is outside the image (0 <= y < 60)"),
    ([{"x": 1, "y": 1, "color": "#123456"}] * 65, "too many hints: 65, at most 64"),
])
def test_bad_hints_are_a_400_that_says_which_and_why(client, hints, message):
    response = post(client, hints)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_hints" and message in error["message"]
    assert post(client).status_code == 200  # the worker stays up


def test_hints_for_a_model_that_takes_none_are_refused_clearly(client):
    response = post(client, [{"x": 1, "y": 1, "color": "#123456"}], model="unet_resnet18")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "hints_unsupported"
    assert "'unet_resnet18' does not take colour hints" in error["message"] and HINT_MODEL in error["message"]
    assert post(client, model="unet_resnet18").status_code == 200


def _mean_ab(rgb: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    patch = torch.from_numpy(rgb[box].astype(np.float32) / 255).permute(2, 0, 1)[None]
    return lab.rgb_to_lab(patch)[0, 1:].mean(dim=(1, 2)).numpy()


def test_the_shipped_model_takes_hints_and_its_colour_follows_one():
    """The default checkpoint, as served: a blue point on a photo moves the colour around it towards blue, and
    a photo sent without hints gets exactly the automatic answer."""
    assert read_metadata(DEFAULT_CHECKPOINT)["architecture"]["config"]["hints"] is True
    app = create_app({"MODEL_CHECKPOINTS": str(DEFAULT_CHECKPOINT), "WARMUP": False, "MODEL_RUNTIME": "torch"})
    app.extensions["model_service"].warm_up()
    client = app.test_client()
    body = photo((256, 192))
    automatic = pixels(post(client, body=body))
    blue = "#3050d0"
    hinted = pixels(post(client, [{"x": 128, "y": 96, "color": blue}], body=body))
    box = (slice(93, 100), slice(125, 132))
    want = lab.rgb_to_lab(torch.tensor([0x30, 0x50, 0xD0]).view(1, 3, 1, 1) / 255.0)[0, 1:, 0, 0].numpy()
    before = np.linalg.norm(_mean_ab(automatic, box) - want)
    after = np.linalg.norm(_mean_ab(hinted, box) - want)
    # towards the point's colour, not all the way: a light spot (L 87 here) cannot hold that blue's chroma
    assert after < 0.8 * before, (before, after)
    assert _mean_ab(hinted, box)[1] < _mean_ab(automatic, box)[1] - 20  # b: from warm to blue
    far = (slice(0, 20), slice(0, 20))  # a corner far from the point keeps roughly its colour
    assert np.abs(_mean_ab(hinted, far) - _mean_ab(automatic, far)).max() < 15
