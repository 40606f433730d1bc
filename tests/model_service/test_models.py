"""Several models in one service: MODEL_CHECKPOINTS, MODEL_DEFAULT, ``model=`` and GET /v1/models."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from colorize import SHIPPED_CHECKPOINTS, __version__
from model_service import create_app
from model_service.config import ConfigError, load_config
from model_service.predictor import ModelLoadError
from tests.conftest import SECOND_MODEL
from tests.model_service.images import photo_bytes

FIRST_MODEL = "unet_resnet18"  # tiny_checkpoint has no "model_name": its architecture names it


def two_model_app(first: str, second: str, warm: bool = True, **config):
    app = create_app({"MODEL_CHECKPOINTS": f"{first},{second}", "DEFAULT_RENDER_SIZE": 64, "WARMUP": False,
                      **config})
    if warm:
        app.extensions["model_service"].warm_up()
    return app


@pytest.fixture(scope="module")
def app(tiny_checkpoint, second_checkpoint):
    return two_model_app(tiny_checkpoint, second_checkpoint)


@pytest.fixture
def client(app):
    return app.test_client()


def post(client, query: str = "", **form):
    if form:
        form["image"] = (io.BytesIO(photo_bytes()), "photo.jpg")
        return client.post(f"/v1/colorize{query}", data=form, content_type="multipart/form-data")
    return client.post(f"/v1/colorize{query}", data=photo_bytes(), content_type="image/jpeg")


def pixels(response) -> np.ndarray:
    assert response.status_code == 200, response.data[:300]
    return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), dtype=np.int16)


def test_models_lists_both_and_the_first_is_the_default(client):
    listing = client.get("/v1/models").get_json()
    assert [m["name"] for m in listing["models"]] == [FIRST_MODEL, SECOND_MODEL]
    assert [m["default"] for m in listing["models"]] == [True, False]
    assert listing["default"] == FIRST_MODEL
    assert listing["models"][1]["architecture"]["config"]["decoder_channels"] == [128, 64, 32, 16, 16]


def test_models_and_the_openapi_document_say_the_services_release(client):
    assert client.get("/v1/models").get_json()["service_version"] == __version__
    document = client.get("/openapi.json").get_json()
    assert document["info"]["version"] == __version__
    listing = document["paths"]["/v1/models"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "service_version" in listing["required"] and listing["properties"]["service_version"]["const"] == __version__


def test_model_default_picks_another_default(tiny_checkpoint, second_checkpoint):
    client = two_model_app(tiny_checkpoint, second_checkpoint, warm=False, MODEL_DEFAULT=SECOND_MODEL).test_client()
    listing = client.get("/v1/models").get_json()
    assert listing["default"] == SECOND_MODEL
    assert {m["name"]: m["default"] for m in listing["models"]} == {FIRST_MODEL: False, SECOND_MODEL: True}


def test_a_request_without_a_model_gets_the_default(client):
    response = post(client)
    assert response.headers["X-Model-Name"] == FIRST_MODEL
    version = client.get("/v1/models").get_json()["models"][0]["version"]
    assert response.headers["X-Model-Version"] == version


@pytest.mark.parametrize("how", ["query", "form"])
def test_model_picks_the_other_one_and_its_colours_differ(client, how):
    default = post(client)
    other = post(client, f"?model={SECOND_MODEL}") if how == "query" else post(client, model=SECOND_MODEL)
    assert other.headers["X-Model-Name"] == SECOND_MODEL
    assert other.headers["X-Model-Version"] != default.headers["X-Model-Version"]
    assert np.abs(pixels(other) - pixels(default)).mean() > 1.0  # another network, other colours
    named = post(client, f"?model={FIRST_MODEL}")
    assert named.headers["X-Model-Name"] == FIRST_MODEL and np.array_equal(pixels(named), pixels(default))


@pytest.mark.parametrize("query, form", [("?model=nope", {}), ("", {"model": "Unet_Resnet18"})])
def test_an_unknown_model_is_a_400_that_lists_the_names(client, query, form):
    response = post(client, query, **form)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "unknown_model"
    assert error["models"] == [FIRST_MODEL, SECOND_MODEL]
    assert FIRST_MODEL in error["message"] and SECOND_MODEL in error["message"]


def test_the_models_share_one_inference_gate(app, client, monkeypatch):
    models = app.extensions["model_service"]
    monkeypatch.setattr(models.gate, "max_queue", 0)
    with models.predictors[FIRST_MODEL].gate.slot():  # an inference of the first model in flight
        response = post(client, f"?model={SECOND_MODEL}")
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "busy"


def test_readyz_waits_for_every_model_and_says_which_are_ready(tiny_checkpoint, second_checkpoint):
    app = two_model_app(tiny_checkpoint, second_checkpoint, warm=False)
    client, models = app.test_client(), app.extensions["model_service"]
    models.predictors[FIRST_MODEL].warm_up()
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["models"] == {FIRST_MODEL: "ready", SECOND_MODEL: "loaded"}
    assert SECOND_MODEL in error["message"]
    models.predictors[SECOND_MODEL].warm_up()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["models"] == {FIRST_MODEL: "ready", SECOND_MODEL: "ready"}


def test_openapi_names_the_models(client):
    document = client.get("/openapi.json").get_json()
    operation = document["paths"]["/v1/colorize"]["post"]
    (model,) = [p for p in operation["parameters"] if p["name"] == "model"]
    assert model["schema"]["enum"] == [FIRST_MODEL, SECOND_MODEL] and model["schema"]["default"] == FIRST_MODEL
    assert "X-Model-Name" in operation["responses"]["200"]["headers"]
    assert "unknown_model" in operation["responses"]["400"]["description"]


def test_two_checkpoints_with_one_name_fail_at_start_up(tiny_checkpoint, tmp_path):
    copy = shutil.copy(tiny_checkpoint, tmp_path / "copy.safetensors")
    with pytest.raises(ConfigError, match=f"more than one checkpoint is named '{FIRST_MODEL}'") as failure:
        two_model_app(tiny_checkpoint, copy, warm=False)
    assert tiny_checkpoint in str(failure.value) and str(copy) in str(failure.value)


def test_a_default_that_is_not_loaded_fails_at_start_up_with_the_names(tiny_checkpoint, second_checkpoint):
    with pytest.raises(ConfigError, match="MODEL_DEFAULT='unet_resnet34'") as failure:
        two_model_app(tiny_checkpoint, second_checkpoint, warm=False, MODEL_DEFAULT="unet_resnet34")
    assert FIRST_MODEL in str(failure.value) and SECOND_MODEL in str(failure.value)


def test_a_missing_checkpoint_in_the_list_fails_at_start_up_naming_it(tiny_checkpoint, tmp_path):
    missing = tmp_path / "not-there.safetensors"
    with pytest.raises(ModelLoadError, match="MODEL_CHECKPOINTS") as failure:
        two_model_app(tiny_checkpoint, str(missing), warm=False)
    assert str(missing) in str(failure.value)


def test_a_name_that_cannot_travel_in_a_header_fails_at_start_up(tmp_path):
    from colorize.checkpoint import save_model
    from tests.conftest import random_colour_model

    path = tmp_path / "odd.safetensors"
    save_model(random_colour_model(), path, {"model_name": "Modèle, nouveau"}, dtype=torch.float16)
    with pytest.raises(ConfigError, match="Modèle, nouveau"):
        create_app({"MODEL_CHECKPOINTS": str(path), "WARMUP": False})


@pytest.mark.parametrize("env, expected", [
    ({}, [str(p) for p in SHIPPED_CHECKPOINTS]),
    ({"MODEL_CHECKPOINT": "/m/old.safetensors"}, ["/m/old.safetensors"]),  # deployments of one model
    ({"MODEL_CHECKPOINTS": " /m/a.safetensors, /m/b.safetensors ,"}, ["/m/a.safetensors", "/m/b.safetensors"]),
    ({"MODEL_CHECKPOINTS": "/m/a.safetensors", "MODEL_CHECKPOINT": "/m/old.safetensors"}, ["/m/a.safetensors"]),
    ({"MODEL_CHECKPOINTS": "", "MODEL_CHECKPOINT": "/m/old.safetensors"}, ["/m/old.safetensors"]),
])
def test_which_checkpoints_are_loaded(env, expected):
    assert load_config(env)["MODEL_CHECKPOINTS"] == expected


def test_a_single_checkpoint_override_replaces_a_list_from_the_environment():
    config = load_config({"MODEL_CHECKPOINTS": "/m/a.safetensors,/m/b.safetensors"},
                         {"MODEL_CHECKPOINT": "/tests/tiny.safetensors"})
    assert config["MODEL_CHECKPOINTS"] == ["/tests/tiny.safetensors"]
