"""A real browser (headless Chromium, Playwright) on the live app, the real model service behind it."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from flask import Flask, Response
from PIL import Image

from tests.conftest import SECOND_MODEL, natural_image
from tests.middleware.conftest import CHROMIUM, make_app
from tests.middleware.fakes import raw_server, serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs /usr/bin/chromium (apt-get install -y chromium chromium-driver)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright (pip install playwright)")


@pytest.fixture(scope="module")
def live_url(model_service_url):
    with serve(make_app(model_service_url)) as url:
        yield url


@pytest.fixture
def photo_path(tmp_path) -> Path:
    path = tmp_path / "Old photo.jpg"
    natural_image(240, 320, seed=3).convert("L").save(path, quality=90)
    return path


def test_upload_compare_and_download(page, live_url, photo_path, tmp_path):
    page.goto(live_url + "/")
    page.click("label[for=rs-fast]")
    # The service's two models are offered, its default chosen; the other one is picked here.
    select = page.locator("select[name=model]")
    assert select.is_visible() and select.input_value() == SECOND_MODEL
    select.select_option("unet_resnet18")
    page.set_input_files("#image-input", str(photo_path))
    card = page.locator(".card").first
    sync_api.expect(card).to_have_attribute("data-state", "done", timeout=60_000)
    assert "colorized by unet_resnet18" in card.locator(".card-status").inner_text()

    # The before/after slider follows the pointer.
    card.locator(".compare").scroll_into_view_if_needed()
    box = card.locator(".compare").bounding_box()
    middle_y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, middle_y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, middle_y, steps=5)
    page.mouse.up()
    position = float(card.locator(".compare-range").input_value())
    assert 15 < position < 25
    assert card.locator(".compare").evaluate("el => el.style.getPropertyValue('--pos')") == f"{position:g}%"
    clip = card.locator(".compare-before").evaluate("el => getComputedStyle(el).clipPath")
    assert clip.startswith("inset(") and "50%" not in clip

    screenshot = tmp_path / "browser.png"
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot then has the sticky header at the top
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")

    with page.expect_download() as download_info:
        card.locator(".download").click()
    download = download_info.value
    assert download.suggested_filename == "Old photo-colorized.jpg"  # format "Same as the upload"
    result = Image.open(download.path())
    assert result.size == (320, 240) and result.mode == "RGB"
    assert page.problems == []


def test_several_files_become_a_gallery_and_errors_show_inline(page, live_url, photo_path):
    page.goto(live_url + "/")
    page.click("label[for=rs-fast]")
    page.set_input_files("#image-input", [
        {"name": photo_path.name, "mimeType": "image/jpeg", "buffer": photo_path.read_bytes()},
        {"name": "notes.png", "mimeType": "image/png", "buffer": b"this is not a picture"},
    ])
    cards = page.locator(".card")
    sync_api.expect(cards).to_have_count(2)
    bad = page.locator(".card", has_text="notes.png")
    sync_api.expect(bad).to_have_attribute("data-state", "error", timeout=30_000)
    assert "not an image we can read" in bad.locator(".card-status").inner_text()
    # No broken-image icon: the preview is hidden and labelled instead.
    sync_api.expect(bad).to_have_attribute("data-preview", "none")
    sync_api.expect(bad.locator(".compare-before")).to_be_hidden()
    label = bad.locator(".compare").evaluate("el => getComputedStyle(el, '::before').content")
    assert label == '"No preview"'
    assert not bad.locator(".retry").is_visible()  # the server refused the file: retrying cannot help
    good = page.locator(".card", has_text="Old photo.jpg")
    sync_api.expect(good).to_have_attribute("data-state", "done", timeout=60_000)
    assert good.get_attribute("data-preview") is None
    assert good.locator(".compare-before").is_visible()
    assert [p for p in page.problems if "Failed to load resource" not in p] == []


def test_the_form_works_with_javascript_off(browser, live_url, photo_path, tmp_path):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(live_url + "/")
    page.set_input_files("#image-input", str(photo_path))
    page.click("label[for=rs-fast]")
    page.click("label[for=fmt-png]")
    with page.expect_navigation():
        page.click("button[type=submit]")
    images = page.locator(".pair img")
    sync_api.expect(images).to_have_count(2)
    assert f"Colorized by {SECOND_MODEL}" in page.locator(".result-model").inner_text()  # the default
    for i in range(2):
        assert images.nth(i).get_attribute("src").startswith("data:image/")
    link = page.locator("a[download]").first
    assert link.get_attribute("download") == "Old photo-colorized.png"
    data = link.get_attribute("href").split(",", 1)[1]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (320, 240)
    page.screenshot(path=str(tmp_path / "no-js.png"), full_page=True)
    context.close()


@pytest.mark.parametrize("inference_ms, shown", [
    ("42.4", "in 42 ms"),  # under a second: milliseconds, not "0.0 s"
    ("999.7", "in 1.0 s"),  # rounds to a second: not "1000 ms"
    ("1320.0", "in 1.3 s"),
])
def test_the_card_says_how_long_the_model_took(page, photo_path, inference_ms, shown):
    timed = Flask("timed_model_service")

    @timed.post("/v1/colorize")
    def colorize():  # the photo back as it came, with the time the service would report
        return Response(photo_path.read_bytes(), mimetype="image/jpeg",
                        headers={"X-Inference-Time-Ms": inference_ms})

    with serve(timed) as service_url, serve(make_app(service_url)) as url:
        page.goto(url + "/")
        page.set_input_files("#image-input", str(photo_path))
        card = page.locator(".card").first
        sync_api.expect(card).to_have_attribute("data-state", "done", timeout=30_000)
        assert card.locator(".card-status").inner_text().endswith(f"colorized {shown}")
    assert page.problems == []


def test_a_server_failure_offers_a_retry(page, photo_path):
    with raw_server("hangup") as (down_url, _), serve(make_app(down_url)) as url:
        page.goto(url + "/")
        page.set_input_files("#image-input", str(photo_path))
        card = page.locator(".card").first
        sync_api.expect(card).to_have_attribute("data-state", "error", timeout=30_000)
        assert "try again" in card.locator(".card-status").inner_text().lower()
        assert card.locator(".retry").is_visible()  # unlike a refused file, this may work next time
        assert card.get_attribute("data-preview") is None  # the photo itself is still shown
