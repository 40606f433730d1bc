"""Vividness through the web app: /api/colorize passes it to the real model service (which serves a model with
a colour distribution beside one without), refuses a bad value at the edge, and the page's slider colours a
result again at another vividness without a new upload (headless Chromium)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from colorize import lab
from tests.conftest import VIVID_MODEL, natural_image
from tests.middleware.conftest import CHROMIUM, image_bytes, make_app, running_model_service
from tests.middleware.fakes import serve


@pytest.fixture(scope="module")
def service_url(tiny_checkpoint, vivid_checkpoint, tmp_path_factory):
    with running_model_service(tmp_path_factory, MODEL_CHECKPOINTS=f"{vivid_checkpoint},{tiny_checkpoint}") as url:
        yield url


@pytest.fixture
def client(service_url):
    return make_app(service_url).test_client()


def colorize(client, **fields):
    return client.post("/api/colorize", data={"image": (io.BytesIO(image_bytes()), "bw.jpg"), **fields},
                       content_type="multipart/form-data")


def chroma(data: bytes) -> float:
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255
    return lab.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1))[1:].norm(dim=0).mean().item()


def test_vividness_reaches_the_model_and_its_answer_says_so(client):
    muted, vivid = colorize(client, vividness="0"), colorize(client, vividness="1")
    assert muted.status_code == vivid.status_code == 200, muted.get_data(as_text=True)[:300]
    assert (muted.headers["X-Vividness"], vivid.headers["X-Vividness"]) == ("0", "1")
    assert chroma(muted.data) < chroma(vivid.data)
    assert colorize(client).headers["X-Vividness"] == "0.5"  # the model's own
    models = {m["name"]: m for m in client.get("/api/model").get_json()["models"]}
    assert models[VIVID_MODEL]["vividness"] == 0.5


@pytest.mark.parametrize("value", ["2", "-1", "vivid", "nan"])
def test_a_bad_vividness_is_refused_at_the_edge_naming_the_range(client, value):
    response = colorize(client, vividness=value)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_vividness" and "from 0" in error["message"] and "to 1" in error["message"]


def test_the_services_refusal_for_a_model_without_a_distribution_passes_on(client):
    response = colorize(client, vividness="0.3", model="unet_resnet18")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "vividness_unsupported"


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)")
def test_the_slider_colours_the_photo_again_more_vividly(page, service_url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    photo = tmp_path / "Grandparents.png"
    natural_image(120, 160, seed=3).convert("L").save(photo)
    mean_chroma = """(img) => {
      const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
      const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data; let s = 0;
      for (let i = 0; i < d.length; i += 4) {
        s += Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]);
      }
      return s / (d.length / 4);
    }"""
    with serve(make_app(service_url)) as url:
        page.goto(url + "/")
        page.set_input_files("#image-input", [str(photo)])
        card = page.locator(".card", has_text=photo.name)
        sync_api.expect(card).to_have_attribute("data-state", "done", timeout=60_000)
        assert card.get_attribute("data-model") == VIVID_MODEL  # the service's default: the first
        slider = card.locator(".vivid-range")
        sync_api.expect(slider).to_be_visible()
        assert slider.input_value() == "0.5" and card.locator(".vivid-value").inner_text() == "0.50"
        before = card.locator(".compare-after").evaluate(mean_chroma)
        src = card.locator(".compare-after").get_attribute("src")
        slider.fill("1")  # fires input and change, as letting go of the thumb does
        sync_api.expect(card.locator(".compare-after")).not_to_have_attribute("src", src, timeout=60_000)
        sync_api.expect(card).to_have_attribute("data-state", "done")
        assert card.locator(".compare-after").evaluate(mean_chroma) > before
        assert slider.input_value() == "1" and card.locator(".vivid-value").inner_text() == "1.00"
        # a model without a distribution gets no slider
        page.select_option('select[name="model"]', "unet_resnet18")
        page.set_input_files("#image-input", [str(photo)])
        plain = page.locator(".card").first
        sync_api.expect(plain).to_have_attribute("data-state", "done", timeout=60_000)
        assert plain.get_attribute("data-model") == "unet_resnet18"
        sync_api.expect(plain.locator(".vivid-tools")).to_be_hidden()
        assert page.problems == []
