"""Recognising images by their bytes and naming downloads safely."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from middleware.uploads import content_disposition, download_stem, sniff_image_type
from tests.middleware.conftest import image_bytes


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"),
                                       ("GIF", "image/gif"), ("BMP", "image/bmp"), ("TIFF", "image/tiff")])
def test_sniff_recognises_images(fmt, mime):
    assert sniff_image_type(image_bytes(fmt)) == mime


def bigtiff() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, "TIFF", big_tiff=True)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [bigtiff(), b"MM\x00+\x00\x08\x00\x00" + bytes(8)],
                         ids=["little-endian", "big-endian"])
def test_sniff_recognises_a_bigtiff(data):
    """The model service reads BigTIFF (Pillow, and tifffile at 16 bits): the web app must not refuse it."""
    assert sniff_image_type(data) == "image/tiff"


@pytest.mark.parametrize("data", [b"", b"hello world", b"%PDF-1.7", b"<svg xmlns='x'/>", b"RIFF....WAVE"])
def test_sniff_refuses_what_is_not_an_image(data):
    assert sniff_image_type(data) is None


@pytest.mark.parametrize("filename, stem", [
    ("photo.jpg", "photo"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\Grandma 1950.JPG", "Grandma 1950"),
    ("archive.tar.gz", "archive.tar"),
    (".hidden", "hidden"),  # never a hidden file
    ('evil"\r\nSet-Cookie: x.png', "evil Set-Cookie x"),
    ("фото бабушки.png", "фото бабушки"),
    ("", "image"),
    ("....", "image"),
])
def test_download_stem(filename, stem):
    assert download_stem(filename) == stem


def test_content_disposition_is_one_safe_header_line():
    header = content_disposition('Zoë "the cat"\n.webp', "png")
    assert "\n" not in header and "\r" not in header
    assert header.startswith('attachment; filename="Zoe the cat-colorized.png"; filename*=UTF-8\'\'')
    assert "Zo%C3%AB%20the%20cat-colorized.png" in header


def test_content_disposition_falls_back_to_ascii_image_for_non_latin_names():
    header = content_disposition("фото.jpg", "jpg")
    assert 'filename="image-colorized.jpg"' in header
    assert "filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE-colorized.jpg" in header


def test_content_disposition_ascii_fallback_keeps_what_it_can():
    header = content_disposition("Ölgemälde – «Oma».jpg", "png")
    assert 'filename="Olgemalde Oma-colorized.png"' in header


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, (None, None)),
    ({"render_size": "auto"}, (None, None)),
    ({"render_size": " Auto ", "format": "png"}, (None, "png")),
    ({"render_size": "fast", "format": "jpg"}, (128, "jpeg")),
    ({"render_size": "300"}, (300, None)),
])
def test_parse_options_auto_leaves_the_render_size_to_the_model(fields, expected):
    from werkzeug.datastructures import MultiDict

    from middleware.uploads import parse_options

    assert parse_options(MultiDict(fields)) == expected
