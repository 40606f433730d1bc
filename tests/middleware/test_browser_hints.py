"""Colour points on the page, in headless Chromium, against the real model service serving the shipped
default (it takes hints): place a point, pick its colour, colour again, and the colour there moves towards it.
Keyboard: move a point with the arrows, remove it with Delete."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from colorize import DEFAULT_CHECKPOINT, lab
from tests.conftest import natural_image
from tests.middleware.conftest import CHROMIUM, make_app, running_model_service
from tests.middleware.fakes import serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs /usr/bin/chromium (apt-get install -y chromium chromium-driver)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright (pip install playwright)")

BLUE = "#3050d0"
# HINTS_SCREENSHOT=docs/hints.png HINTS_PHOTO=<a photo> make the screenshot of the README
SCREENSHOT = os.environ.get("HINTS_SCREENSHOT")
PHOTO = os.environ.get("HINTS_PHOTO")


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    with running_model_service(tmp_path_factory, MODEL_CHECKPOINTS=str(DEFAULT_CHECKPOINT)) as service, \
            serve(make_app(service)) as url:
        yield url


@pytest.fixture
def photo_path(tmp_path) -> Path:
    if PHOTO:
        return Path(PHOTO)
    path = tmp_path / "Old photo.png"
    natural_image(320, 240, seed=4).convert("L").save(path)  # portrait: letterboxed in a 4:3 card
    return path


MEAN_RGB = """([name, x, y, r]) => {
  const img = [...document.querySelectorAll('.card')].find((c) => c.textContent.includes(name))
    .querySelector('.compare-after');
  const c = document.createElement('canvas');
  c.width = c.height = 2 * r + 1;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, x - r, y - r, 2 * r + 1, 2 * r + 1, 0, 0, 2 * r + 1, 2 * r + 1);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const s = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) { s[0] += d[i]; s[1] += d[i + 1]; s[2] += d[i + 2]; }
  const n = d.length / 4;
  return [s[0] / n, s[1] / n, s[2] / n];
}"""


def _ab(rgb) -> np.ndarray:
    return lab.rgb_to_lab(torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 255)[0, 1:, 0, 0].numpy()


def test_a_colour_point_moves_the_colour_there_towards_it(page, live_url, photo_path):
    page.goto(live_url + "/")
    files = [str(photo_path)]
    if not SCREENSHOT:  # a second card makes the gallery lay cards out at 4:3: the portrait is letterboxed
        other = photo_path.with_name("Landscape.png")
        natural_image(120, 160, seed=5).convert("L").save(other)
        files.append(str(other))
    page.set_input_files("#image-input", files)
    card = page.locator(".card", has_text=photo_path.name)
    sync_api.expect(card).to_have_attribute("data-state", "done", timeout=60_000)
    sync_api.expect(page.locator(".card")).to_have_count(len(files))
    toggle = card.locator(".hint-toggle")
    sync_api.expect(toggle).to_be_visible()  # the default model takes hints
    toggle.click()
    sync_api.expect(card.locator(".hint-tools")).to_be_visible()
    assert toggle.get_attribute("aria-pressed") == "true"
    assert card.locator(".compare").evaluate("el => el.style.getPropertyValue('--pos')") == "0%"  # the result whole

    # a click on the middle of the photo places a point at the photo's own pixel there
    width, height = card.locator(".compare-after").evaluate("i => [i.naturalWidth, i.naturalHeight]")
    box = card.locator(".compare").bounding_box()
    scale = min(box["width"] / width, box["height"] / height)
    left = box["x"] + (box["width"] - width * scale) / 2
    top = box["y"] + (box["height"] - height * scale) / 2
    px, py = int(width * 0.5), int(height * 0.45)
    if not SCREENSHOT:
        assert left - box["x"] > 20  # letterboxed: the photo's frame is not the card's
    page.mouse.click(left + (px + 0.5) * scale, top + (py + 0.5) * scale)
    rows = card.locator(".hint-row")
    sync_api.expect(rows).to_have_count(1)
    got_x, got_y = map(int, rows.first.locator(".hint-where").inner_text().split(", "))
    assert abs(got_x - px) <= 1 and abs(got_y - py) <= 1  # the browser rounds the pointer to whole CSS pixels
    px, py = got_x, got_y
    picker = rows.first.locator("input[type=color]")
    predicted = picker.input_value()
    before_rgb = page.evaluate(MEAN_RGB, [photo_path.name, px, py, 4])
    want = _ab([int(BLUE[i:i + 2], 16) for i in (1, 3, 5)])
    # the picker starts at the colour the model gave that spot
    centre = page.evaluate(MEAN_RGB, [photo_path.name, px, py, 2])
    assert np.abs(np.array([int(predicted[i:i + 2], 16) for i in (1, 3, 5)]) - centre).max() < 3
    picker.fill(BLUE)
    dot = card.locator(".hint-dot")
    sync_api.expect(dot).to_have_attribute("aria-label", f"Colour point 1 at {px}, {py}: {BLUE}")

    if SCREENSHOT:
        page.mouse.click(left + width * 0.2 * scale, top + height * 0.4 * scale)
        rows.nth(1).locator("input[type=color]").fill("#a0452e")
        card.locator(".hint-apply").click()
        sync_api.expect(card.locator(".hint-status")).to_contain_text("Coloured again", timeout=60_000)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=SCREENSHOT, full_page=True)
        return

    card.locator(".hint-apply").click()
    sync_api.expect(card.locator(".hint-status")).to_contain_text("Coloured again with 1 point", timeout=60_000)
    assert "1 colour point" in card.locator(".card-status").inner_text()
    after_rgb = page.evaluate(MEAN_RGB, [photo_path.name, px, py, 4])
    before_ab = _ab(before_rgb)
    assert np.linalg.norm(_ab(after_rgb) - want) < 0.8 * np.linalg.norm(before_ab - want), (before_rgb, after_rgb)
    assert _ab(after_rgb)[1] < before_ab[1] - 10  # bluer

    # the keyboard: a point moves with the arrows and goes with Delete; the slider still works
    dot.focus()
    page.keyboard.press("ArrowRight")
    step = round(0.01 * max(width, height))
    assert rows.first.locator(".hint-where").inner_text() == f"{px + step}, {py}"
    page.keyboard.press("Delete")
    sync_api.expect(rows).to_have_count(0)
    assert card.locator(".hint-apply").is_disabled()
    toggle.click()
    sync_api.expect(card.locator(".hint-tools")).to_be_hidden()
    card.locator(".compare-range").focus()
    page.keyboard.press("End")
    assert float(card.locator(".compare-range").input_value()) == 100
    assert page.problems == []
