"""Test inputs made on the fly: encoded photos, a decompression bomb, animations, an ICC profile."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import torch
from PIL import Image, ImageCms

from colorize import lab
from tests.conftest import natural_image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo_bytes(height: int = 48, width: int = 64, fmt: str = "JPEG", seed: int = 0) -> bytes:
    return encode(natural_image(height, width, seed), fmt)


def lightness(image: Image.Image) -> np.ndarray:
    """L (0-100) of an image, via colorize.lab."""
    rgb = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    return lab.rgb_to_lightness(rgb)[0].numpy()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of zeros: a few tens of kB declaring ``width x height`` pixels."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def animation(fmt: str, colours: list[tuple[int, int, int]], size: tuple[int, int] = (24, 16)) -> bytes:
    """An animated GIF or WebP whose frames are flat ``colours``."""
    frames = [Image.new("RGB", size, c) for c in colours]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def red_blue_swapped_profile() -> bytes:
    """An RGB ICC profile like sRGB but with the red and blue primaries swapped (not named sRGB)."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", profile[128:132])[0]
    tags = {}
    for i in range(count):
        signature, offset, size = struct.unpack(">4sII", profile[132 + 12 * i: 144 + 12 * i])
        tags[signature] = (i, offset, size)
    (ir, offset_r, size_r), (ib, offset_b, size_b) = tags[b"rXYZ"], tags[b"bXYZ"]
    struct.pack_into(">4sII", profile, 132 + 12 * ir, b"rXYZ", offset_b, size_b)
    struct.pack_into(">4sII", profile, 132 + 12 * ib, b"bXYZ", offset_r, size_r)
    return bytes(profile).replace("sRGB".encode("utf-16-be"), "test".encode("utf-16-be"))
