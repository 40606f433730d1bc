"""Hostile and unusual uploads, made on the fly, and ways of sending them (multipart, raw, slowly)."""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
from PIL import Image, ImageCms
from requests.structures import CaseInsensitiveDict

from tests.conftest import natural_image
from tests.model_service.images import encode


@dataclass
class Answer:
    """What came back: status, headers and body, from requests or from a raw socket."""

    status: int
    headers: CaseInsensitiveDict = field(default_factory=CaseInsensitiveDict)
    content: bytes = b""

    @classmethod
    def of(cls, response: requests.Response) -> Answer:
        return cls(response.status_code, response.headers, response.content)

    def json(self) -> Any:
        return json.loads(self.content)

    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.content))


def post_file(url: str, body: bytes, filename: str = "photo.jpg", timeout: float = 60) -> Answer:
    """The usual upload: a multipart form whose file field ``image`` holds ``body``."""
    files = {"image": (filename, body, "application/octet-stream")}
    return Answer.of(requests.post(url, files=files, timeout=timeout))


def post_raw(url: str, body: bytes, content_type: str, timeout: float = 60) -> Answer:
    return Answer.of(requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=timeout))


def slow_post(url: str, body: bytes, content_type: str = "image/jpeg", pieces: int = 8,
              pause: float = 0.15) -> Answer:
    """Send the body in ``pieces`` with ``pause`` seconds between them over a raw socket, then read the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        sock.sendall(head.encode())
        step = -(-len(body) // pieces)
        for start in range(0, len(body), step):
            time.sleep(pause)
            sock.sendall(body[start: start + step])
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, CaseInsensitiveDict(response.getheaders()), response.read())


def grey_jpeg(height: int = 48, width: int = 64, **options) -> bytes:
    return encode(natural_image(height, width).convert("L"), "JPEG", **options)


def with_exif_orientation(orientation: int, height: int = 24, width: int = 40) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(natural_image(height, width), "JPEG", exif=exif)


def sixteen_bit_png(height: int = 20, width: int = 30) -> bytes:
    grey = np.asarray(natural_image(height, width).convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(grey), "PNG")


def rgba_png(alpha: int = 77) -> bytes:
    image = natural_image(20, 30).convert("RGBA")
    image.putalpha(alpha)
    return encode(image, "PNG")


def transparent_gif() -> bytes:
    """A palette GIF whose left half is transparent (palette index 0)."""
    image = Image.new("P", (20, 10), 1)
    image.putpalette([0, 0, 0, 200, 100, 50] + [0, 0, 0] * 254)
    image.paste(0, (0, 0, 10, 10))
    return encode(image, "GIF", transparency=0)


def icc_tagged(profile: bytes, colour: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    return encode(Image.new("RGB", (16, 12), colour), "PNG", icc_profile=profile)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


def random_bytes(n: int = 4096, seed: int = 0) -> bytes:
    data = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    return b"\x00" + data  # no image signature starts with a zero byte followed by these


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(400)  # a format Pillow does not read
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b"<script>alert('colorize')</script><rect width='10' height='10'/></svg>")
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
TEXT = b"This is a text file, not a photo.\n" * 20
