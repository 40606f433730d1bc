"""The pages: the upload form (which works without JavaScript), its result page, the about page."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from middleware import __version__
from tests.middleware.conftest import image_bytes, make_app
from tests.middleware.fakes import free_port
from tests.middleware.test_security import csrf_token_of


def test_index_has_a_form_that_works_without_javascript(client):
    html = client.get("/").get_data(as_text=True)
    form = re.search(r"<form[^>]*>", html).group(0)
    assert 'action="/colorize"' in form and 'method="post"' in form
    assert 'enctype="multipart/form-data"' in form
    assert re.search(r'<input[^>]*type="file"[^>]*name="image"', html)
    assert 'name="csrf_token"' in html and 'type="submit"' in html
    for size in (128, 256, 512):
        assert f'name="render_size" value="{size}"' in html
    # The model's own render size is the default choice.
    assert re.search(r'<input[^>]*name="render_size" value="auto" checked>', html)
    assert not re.search(r'<input[^>]*name="render_size" value="\d+" checked>', html)
    assert "Fast" in html and "Balanced" in html and "Detailed" in html


def embedded_images(html: str) -> list[Image.Image]:
    uris = re.findall(r'<img src="data:image/[a-z]+;base64,([^"]+)"', html)
    return [Image.open(io.BytesIO(base64.b64decode(uri))) for uri in uris]


def test_no_javascript_form_answers_a_page_with_both_images_embedded(client):
    photo = image_bytes(size=(80, 60))
    token = csrf_token_of(client)
    response = client.post("/colorize", data={"image": (io.BytesIO(photo), "Oma.jpg"), "render_size": "128",
                                              "format": "jpeg", "csrf_token": token})
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    original, colorized = embedded_images(html)
    assert original.size == colorized.size == (80, 60)
    assert colorized.mode == "RGB" and original.mode == "L"
    assert 'download="Oma-colorized.jpg"' in html


def test_several_files_at_once_without_javascript(client):
    token = csrf_token_of(client)
    files = [(io.BytesIO(image_bytes(size=(64 + i, 48))), f"p{i}.jpg") for i in range(3)]
    response = client.post("/colorize", data={"image": files, "render_size": "128", "csrf_token": token})
    assert response.status_code == 200
    assert len(embedded_images(response.get_data(as_text=True))) == 6


def test_files_over_the_per_form_limit_are_named_not_dropped(model_service_url):
    client = make_app(model_service_url, MAX_FILES_PER_FORM=2, CSRF_ENABLED=False).test_client()
    files = [(io.BytesIO(image_bytes()), f"p{i}.jpg") for i in range(3)]
    response = client.post("/colorize", data={"image": files, "render_size": "64"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and len(embedded_images(html)) == 4
    assert "p2.jpg" in html and "at most 2 photos" in html


def test_a_bad_file_among_good_ones_is_reported_beside_the_results(client):
    token = csrf_token_of(client)
    files = [(io.BytesIO(image_bytes()), "good.jpg"), (io.BytesIO(b"not an image"), "bad.txt")]
    response = client.post("/colorize", data={"image": files, "render_size": "128", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and len(embedded_images(html)) == 2
    assert "not an image we can read" in html


def test_form_without_a_file_shows_the_form_again_with_a_message(client):
    response = client.post("/colorize", data={"render_size": "128", "csrf_token": csrf_token_of(client)})
    assert response.status_code == 400
    assert "No image was uploaded" in response.get_data(as_text=True)


def test_about_page_has_the_curl_example_and_the_model_card(client):
    html = client.get("/about").get_data(as_text=True)
    assert "curl -F image=@photo.jpg http://localhost/api/colorize" in html
    card = client.get("/api/model").json
    name = (card.get("architecture") or card["models"][0]["architecture"])["name"]
    assert name in html
    assert "Metrics" in html


def test_about_page_still_renders_when_the_model_service_is_down():
    client = make_app(f"http://127.0.0.1:{free_port()}").test_client()
    response = client.get("/about")
    assert response.status_code == 200
    assert "not reachable" in response.get_data(as_text=True)


def test_every_page_footer_says_the_release(client):
    for path in ("/", "/about", "/no-such-page"):
        footer = re.search(r"<footer.*?</footer>", client.get(path).get_data(as_text=True), re.S).group(0)
        assert f"Colorize {__version__}" in footer, path


def test_static_assets_are_served(client):
    for path in ("/static/css/app.css", "/static/js/app.js", "/static/js/early.js", "/static/favicon.svg"):
        assert client.get(path).status_code == 200, path


def test_model_card_reads_the_model_services_description():
    from middleware.model_card import model_card

    card = model_card({"models": [{
        "name": "colorizer", "version": "abc123", "architecture": {"name": "unet_resnet34", "config": {"depth": 34}},
        "metrics": {"val": {"psnr": 24.123456, "ssim": 0.91}}, "training": {"data": "places365"},
        "weights_sha256": "f" * 64, "serving": {"device": "cuda", "precision": "bf16", "state": "ready"},
    }]})
    assert card["name"] == "colorizer" and card["version"] == "abc123"
    assert card["architecture"] == "unet_resnet34"
    assert card["metrics"] == {"val psnr": 24.1235, "val ssim": 0.91}
    assert card["serving"] == {"device": "cuda", "precision": "bf16"}
