"""Vividness through POST /v1/colorize: a model with a colour distribution answers at the vividness asked for
(its own by default), a bad value is a 400 that names the range, a model without one refuses it clearly."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from colorize import lab
from model_service import create_app
from tests.conftest import VIVID_MODEL, natural_image


@pytest.fixture(scope="module")
def client(tiny_checkpoint, vivid_checkpoint):
    app = create_app({"MODEL_CHECKPOINTS": f"{vivid_checkpoint},{tiny_checkpoint}", "DEFAULT_RENDER_SIZE": 64,
                      "WARMUP": False})
    app.extensions["model_service"].warm_up()
    return app.test_client()


def post(client, vividness=None, model=None):
    buf = io.BytesIO()
    natural_image(60, 80).convert("L").save(buf, "PNG")
    form = {"image": (io.BytesIO(buf.getvalue()), "photo.png")}
    if vividness is not None:
        form["vividness"] = str(vividness)
    if model:
        form["model"] = model
    return client.post("/v1/colorize", data=form, content_type="multipart/form-data")


def chroma(response) -> float:
    assert response.status_code == 200, response.data[:300]
    rgb = np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), dtype=np.float32) / 255
    return lab.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1))[1:].norm(dim=0).mean().item()


def test_models_say_which_take_vividness_and_their_default(client):
    models = {m["name"]: m for m in client.get("/v1/models").get_json()["models"]}
    assert models[VIVID_MODEL]["vividness"] == 0.5
    assert models["unet_resnet18"]["vividness"] is None


def test_vividness_changes_the_colour_and_is_reported(client):
    muted, default, vivid = post(client, 0), post(client), post(client, 1)
    assert [r.headers["X-Vividness"] for r in (muted, default, vivid)] == ["0", "0.5", "1"]
    assert chroma(muted) < chroma(default) < chroma(vivid)
    assert post(client, "0.5").data == default.data  # the model's own, asked for by number


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "nan", "inf"])
def test_a_vividness_out_of_range_is_a_400_that_names_the_range(client, value):
    response = post(client, value)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_vividness" and "from 0" in error["message"] and "to 1" in error["message"]


def test_a_model_without_a_distribution_refuses_vividness_clearly(client):
    response = post(client, 0.5, model="unet_resnet18")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "vividness_unsupported" and VIVID_MODEL in error["message"]
    plain = post(client, model="unet_resnet18")
    assert plain.status_code == 200 and "X-Vividness" not in plain.headers


def test_the_openapi_document_describes_vividness(client):
    doc = client.get("/openapi.json").get_json()
    op = doc["paths"]["/v1/colorize"]["post"]
    param = next(p for p in op["parameters"] if p["name"] == "vividness")
    assert param["schema"]["minimum"] == 0 and param["schema"]["maximum"] == 1
    assert "invalid_vividness" in str(op["responses"]["400"])
