"""The bad-input matrix, against the model service (POST /v1/colorize) and through the middleware
(POST /api/colorize), both real services: every upload gets a correct image (its size after EXIF
orientation, its mode) or a clear 4xx JSON error; never a 5xx, never a dead process."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import requests
from PIL import Image

from tests.colorize.test_photoio import grey16_ramp, hand_tiff, pages_tiff, pillow_tiff, rgb16, tifffile_tiff
from tests.model_service.images import animation, bomb_png, encode, lightness, red_blue_swapped_profile
from tests.reliability.conftest import MODEL_MAX_UPLOAD, TIMEOUT
from tests.reliability.inputs import (
    HEIC,
    PDF,
    SVG,
    TEXT,
    Answer,
    grey_jpeg,
    icc_tagged,
    natural_image,
    post_file,
    post_raw,
    random_bytes,
    rgba_png,
    sixteen_bit_png,
    slow_post,
    srgb_profile,
    transparent_gif,
    truncated,
    with_exif_orientation,
)

Check = Callable[[Answer, str], None]  # (answer, service name) -> raises when wrong


@dataclass(frozen=True)
class Case:
    id: str
    body: bytes = b""
    filename: str = "photo.jpg"
    status: int = 200
    code: str | tuple[str, str] = ""  # the error code; (model service's, middleware's) when they differ
    size: tuple[int, int] | None = None  # of the answer, for a 200
    mode: str = "RGB"
    send: Callable[[str], Answer] | None = None  # how to send it; default: multipart field 'image'
    check: Check | None = None


def mean_lightness(image: Image.Image) -> float:
    return float(lightness(image).mean())


def lightness_near(expected: float, tolerance: float = 3.0) -> Check:
    def check(answer: Answer, _: str) -> None:
        assert abs(mean_lightness(answer.image()) - expected) < tolerance

    return check


def keeps_lightness_of(body: bytes) -> Check:
    """The answer has the upload's own full-resolution lightness (only its colour is new)."""
    def check(answer: Answer, _: str) -> None:
        source = Image.open(io.BytesIO(body))
        assert np.abs(lightness(answer.image()) - lightness(source)).mean() < 1.0

    return check


def first_frame(colours: list[tuple[int, int, int]]) -> Check:
    first, second = (mean_lightness(Image.new("RGB", (1, 1), c)) for c in colours)
    assert abs(first - second) > 10  # or the check could not tell the frames apart
    return lightness_near(first)


def keeps_alpha(value: int) -> Check:
    def check(answer: Answer, _: str) -> None:
        assert answer.image().getchannel("A").getextrema() == (value, value)

    return check


def transparent_left_half(answer: Answer, _: str) -> None:
    alpha = answer.image().getchannel("A")
    assert alpha.getpixel((2, 5)) == 0 and alpha.getpixel((15, 5)) == 255


def safe_download_name(stem: str) -> Check:
    def check(answer: Answer, service: str) -> None:
        if service == "middleware":
            disposition = answer.headers["Content-Disposition"]
            assert disposition.startswith(f'attachment; filename="{stem}-colorized.png"')
            assert "/" not in disposition and ".." not in disposition and "\n" not in disposition
            assert "filename*=UTF-8''" in disposition  # the full Unicode name, RFC 5987-encoded

    return check


def says(**headers: str) -> Check:
    """The answer's headers say this of the photo (the web app passes the service's on)."""
    def check(answer: Answer, _: str) -> None:
        for name, value in headers.items():
            assert answer.headers[name.replace("_", "-")] == value

    return check


def never_reflected(answer: Answer, _: str) -> None:
    assert b"<script" not in answer.content and b"alert" not in answer.content


def two_files(url: str) -> Answer:
    files = [("image", ("a.jpg", grey_jpeg())), ("image", ("b.jpg", grey_jpeg()))]
    return Answer.of(requests.post(url, files=files, timeout=TIMEOUT))


def no_image_field(url: str) -> Answer:
    return Answer.of(requests.post(url, files={"photo": ("a.jpg", grey_jpeg())}, timeout=TIMEOUT))


def raw_as(content_type: str) -> Callable[[str], Answer]:
    return lambda url: post_raw(url, grey_jpeg(), content_type)


GREY, COLOUR, FRAMES = grey_jpeg(61, 97), encode(natural_image(61, 97), "JPEG"), [(200, 30, 30), (30, 30, 200)]
BLUE_L = mean_lightness(Image.new("RGB", (1, 1), (0, 0, 255)))  # sRGB of "red" in the swapped profile
RED_L = mean_lightness(Image.new("RGB", (1, 1), (255, 0, 0)))
OVERSIZED = grey_jpeg() + bytes(MODEL_MAX_UPLOAD + 100_000)  # over both services' limits
UNSUPPORTED = ("unsupported_format", "unsupported_media_type")
CORRUPT_ICC = encode(natural_image(8, 8), "PNG", icc_profile=bytes(range(256)) * 2)

CASES = [
    # Not an image, or a broken one: a clear 4xx.
    Case("zero-bytes", b"", status=400, code="empty_image"),
    Case("truncated-jpeg", truncated(grey_jpeg(64, 64)), status=400, code="corrupt_image"),
    Case("truncated-png", truncated(encode(natural_image(64, 64), "PNG")), status=400, code="corrupt_image"),
    Case("random-bytes-named-jpg", random_bytes(), status=415, code=UNSUPPORTED),
    Case("text-file", TEXT, "notes.txt", status=415, code=UNSUPPORTED),
    Case("pdf", PDF, "scan.pdf", status=415, code=UNSUPPORTED),
    Case("svg-with-script", SVG, "logo.svg", status=415, code=UNSUPPORTED, check=never_reflected),
    Case("heic-pillow-cannot-read", HEIC, "photo.heic", status=415, code=UNSUPPORTED),
    Case("ppm-not-accepted", encode(natural_image(8, 8), "PPM"), "photo.ppm", status=415, code=UNSUPPORTED),
    Case("decompression-bomb", bomb_png(12000, 12000), "bomb.png", status=422, code="too_many_pixels"),
    # Hostile and unread TIFFs: refused from the header, with what is wrong.
    Case("truncated-tiff", truncated(pillow_tiff(natural_image(64, 64), compression="tiff_lzw"), 0.5), "scan.tif",
         status=400, code="corrupt_image"),
    Case("tiff-bomb", hand_tiff(100_000, 100_000, strip=bytes(64)), "bomb.tif", status=422, code="too_many_pixels"),
    Case("float-tiff", tifffile_tiff(np.zeros((8, 8), np.float32)), "hdr.tif", status=415,
         code="unsupported_bit_depth"),
    Case("1-bit-tiff", pillow_tiff(Image.new("1", (8, 8))), "fax.tif", status=415, code="unsupported_bit_depth"),
    Case("jpeg2000-tiff", hand_tiff(8, 8, compression=34712), "scan.tif", status=415, code="unsupported_compression"),
    Case("1000-page-tiff", pages_tiff([np.zeros((1, 1), np.uint8)] * 1000), "book.tif", status=422,
         code="too_many_pages"),
    Case("corrupt-icc-profile", CORRUPT_ICC, "photo.png", status=422, code="corrupt_icc_profile"),
    # Odd but valid images: colorized at their own size.
    Case("1x1", encode(Image.new("L", (1, 1), 128), "PNG"), size=(1, 1)),
    Case("1x10000", encode(Image.new("L", (1, 10000), 100), "PNG"), size=(1, 10000)),
    Case("10000x1", encode(Image.new("L", (10000, 1), 100), "PNG"), size=(10000, 1)),
    Case("16-bit-png", sixteen_bit_png(), size=(30, 20)),
    Case("cmyk-jpeg", encode(natural_image(20, 30).convert("CMYK"), "JPEG"), size=(30, 20)),
    Case("rgba-png", rgba_png(77), size=(30, 20), mode="RGBA", check=keeps_alpha(77)),
    Case("palette-gif", encode(natural_image(20, 30).convert("P"), "GIF"), size=(30, 20)),
    Case("palette-gif-transparent", transparent_gif(), size=(20, 10), mode="RGBA", check=transparent_left_half),
    Case("animated-gif", animation("GIF", FRAMES), size=(24, 16), check=first_frame(FRAMES)),
    Case("animated-webp", animation("WEBP", FRAMES), size=(24, 16), check=first_frame(FRAMES)),
    Case("tiff", encode(natural_image(20, 30), "TIFF"), size=(30, 20)),
    Case("16-bit-grey-tiff", tifffile_tiff(grey16_ramp(20, 30)), "scan.tif", size=(30, 20),
         check=says(X_Bit_Depth="16")),
    Case("16-bit-rgb-lzw-tiff", tifffile_tiff(rgb16(20, 30), photometric="rgb", compression="lzw", predictor=True),
         "scan.tif", size=(30, 20), check=says(X_Bit_Depth="16")),
    Case("3-page-tiff", pages_tiff([np.asarray(natural_image(20, 30).convert("L"))] * 3), "scan.tif",
         size=(30, 20), check=says(X_Bit_Depth="8", X_Source_Pages="3", X_Page="1")),
    Case("bmp", encode(natural_image(20, 30), "BMP"), size=(30, 20)),
    Case("exif-orientation-3", with_exif_orientation(3), size=(40, 24)),
    Case("exif-orientation-6", with_exif_orientation(6), size=(24, 40)),
    Case("exif-orientation-8", with_exif_orientation(8), size=(24, 40)),
    Case("icc-profile-converted", icc_tagged(red_blue_swapped_profile()), size=(16, 12),
         check=lightness_near(BLUE_L)),
    Case("icc-srgb-profile", icc_tagged(srgb_profile()), size=(16, 12), check=lightness_near(RED_L)),
    Case("progressive-jpeg", grey_jpeg(50, 70, progressive=True), size=(70, 50)),
    Case("grey-photo", GREY, size=(97, 61), check=keeps_lightness_of(GREY)),
    Case("colour-photo", COLOUR, size=(97, 61), check=keeps_lightness_of(COLOUR)),
    Case("unicode-filename", GREY, "Großmutter 1932 фото.jpg", size=(97, 61),
         check=safe_download_name("Grossmutter 1932")),
    Case("path-like-filename", GREY, "../../etc/passwd.jpg", size=(97, 61), check=safe_download_name("passwd")),
    # The request itself is wrong.
    Case("missing-image-field", status=400, code="missing_image", send=no_image_field),
    Case("two-files-in-one-field", status=400, code="too_many_images", send=two_files),
    Case("wrong-content-type", status=415, code="unsupported_media_type", send=raw_as("application/json")),
    Case("mislabelled-content-type", size=(64, 48), send=raw_as("image/png")),  # the bytes decide
    Case("oversized-body", status=413, code=("payload_too_large", "too_large"),
         send=lambda url: post_file(url, OVERSIZED)),
    Case("slow-upload", size=(128, 96), send=lambda url: slow_post(url, grey_jpeg(96, 128))),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(target, case):
    name, server, path = target
    url = f"{server.url}{path}?render_size=64&format=png"  # PNG whatever the upload: its mode is checked
    answer = case.send(url) if case.send else post_file(url, case.body, case.filename)
    assert answer.status == case.status, answer.content[:300]
    if case.status == 200:
        image = answer.image()
        assert answer.headers["Content-Type"] == "image/png"
        assert (image.size, image.mode) == (case.size, case.mode)
    else:
        assert answer.headers["Content-Type"] == "application/json"
        error = answer.json()["error"]
        expected = case.code if isinstance(case.code, str) else case.code[name == "middleware"]
        assert error["code"] == expected and error["message"]
    if case.check:
        case.check(answer, name)
    assert server.alive()


def test_after_the_matrix_both_services_are_alive_and_still_work(model_service, middleware):
    for server, path in ((model_service, "/v1/colorize"), (middleware, "/api/colorize")):
        assert server.alive()
        answer = post_file(f"{server.url}{path}?render_size=64", GREY)
        assert answer.status == 200 and answer.image().size == (97, 61)
        assert "unhandled error" not in server.log() and "Traceback" not in server.log()
