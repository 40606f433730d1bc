"""Full-resolution colorization: predict ab at a small render size, join it with the full-res L.

Only the network runs at ``render_size``; the input's own L is kept at full resolution, so the
result has the input's size and lightness, and a 12 MP photo costs a small network pass plus
O(pixels) colour conversion done in row strips (bounded memory).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from colorize import lab
from colorize.distribution import VividnessError, check_vividness
from colorize.hints import Hint, HintsUnsupported, check_inside, hint_map, spread_hints

DEFAULT_RENDER_SIZE = 256  # for a checkpoint that does not name its own (metadata "render_size")
MAX_ASPECT_FACTOR = 3  # the long side of the render is at most 3 x render_size
_STRIP_PIXELS = 1 << 20  # rows per strip are chosen so a strip holds about 1 MP

_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # "I": how Pillow opens some 16-bit greys


@contextmanager
def _timed(timings: dict | None, key: str):
    start = time.perf_counter()
    yield
    if timings is not None:
        timings[key] = timings.get(key, 0.0) + (time.perf_counter() - start) * 1000.0


def recommended_render_size(metadata: dict | None) -> int:
    """The render size a checkpoint was made for: its metadata's ``render_size`` (the scale of its
    training photos, chosen on held-out data by evaluation.calibrate), else DEFAULT_RENDER_SIZE."""
    try:
        return int((metadata or {}).get("render_size") or DEFAULT_RENDER_SIZE)
    except (TypeError, ValueError):
        return DEFAULT_RENDER_SIZE


def render_shape(height: int, width: int, render_size: int) -> tuple[int, int]:
    """The size the network sees: short side ``render_size`` (never up-scaled), long side capped."""
    scale = min(1.0, render_size / min(height, width),
                MAX_ASPECT_FACTOR * render_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The image and its alpha channel (or None)."""
    alpha = None
    if image.mode in ("LA", "RGBA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = image.convert("RGBA").getchannel("A")
    return image, alpha


def _strips(height: int, width: int):
    rows = max(1, _STRIP_PIXELS // max(1, width))
    for top in range(0, height, rows):
        yield top, min(height, top + rows)


class LightnessRows:
    """The full-resolution L of an image, made strip by strip on demand: ``rows(top, bottom)`` is L of those
    rows, (bottom - top, W) float32. ``shape`` is the (1, 1, H, W) of the tensor it stands for.

    The serving path never holds a whole-photo float L (4 bytes a pixel, 200 MB for a 50 MP scan): the
    network's input is reduced strip by strip and the join recomputes each strip's L from the source codes,
    a table look-up a pixel."""

    def __init__(self, height: int, width: int, rows: Callable[[int, int], torch.Tensor]):
        self.shape = (1, 1, height, width)
        self.rows = rows

    def tensor(self) -> torch.Tensor:
        h, w = self.shape[-2:]
        out = torch.empty(1, 1, h, w)
        for top, bottom in _strips(h, w):
            out[0, 0, top:bottom] = self.rows(top, bottom)
        return out


def lightness_rows(image: Image.Image | np.ndarray) -> LightnessRows:
    """L of any PIL mode (colour is reduced to its luminance), or of a 16-bit array (H, W) or (H, W, 3)
    such as colorize.photoio reads from a 16-bit RGB TIFF, as a LightnessRows over the source's pixels."""
    if isinstance(image, np.ndarray):
        arr = image if image.ndim == 3 else image[..., None]

        def array_rows(top: int, bottom: int) -> torch.Tensor:
            strip = torch.from_numpy(arr[top:bottom, :, :3].astype(np.int32)).permute(2, 0, 1)
            return lab.uint16_to_lightness(strip)[0]

        return LightnessRows(arr.shape[0], arr.shape[1], array_rows)
    w, h = image.size
    if image.mode == "F":
        grey = torch.from_numpy(np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0))
        return LightnessRows(h, w, lambda top, bottom: lab.rgb_to_lightness(
            grey[top:bottom][None].expand(3, -1, -1))[0])
    if image.mode in _SIXTEEN_BIT:
        to_l, source = lab.uint16_to_lightness, image
    elif image.mode in ("L", "RGB"):
        to_l, source = lab.uint8_to_lightness, image
    elif image.mode in ("LA", "1", "I;8"):
        to_l, source = lab.uint8_to_lightness, image.convert("L")
    else:
        to_l, source = lab.uint8_to_lightness, image.convert("RGB")

    def image_rows(top: int, bottom: int) -> torch.Tensor:  # a crop: the source is never copied whole
        strip = np.asarray(source.crop((0, top, w, bottom)))
        strip = torch.from_numpy(strip.astype(np.int32 if strip.dtype != np.uint8 else np.uint8))  # writable
        return to_l(strip[None] if strip.ndim == 2 else strip.permute(2, 0, 1))[0]

    return LightnessRows(h, w, image_rows)


def lightness_of(image: Image.Image | np.ndarray) -> torch.Tensor:
    """Full-resolution L (1, 1, H, W) float32 of what ``lightness_rows`` takes."""
    return lightness_rows(image).tensor()


def lightness_at_render_size(lightness: torch.Tensor | LightnessRows, render_size: int) -> torch.Tensor:
    """The network's input: full-resolution L (1, 1, H, W) resized (antialiased) to render_shape.

    For a LightnessRows, in two separable passes as F.interpolate makes them: along the rows strip by strip,
    then down the columns of the narrow result."""
    h, w = lightness.shape[-2:]
    shape = render_shape(h, w, render_size)
    if isinstance(lightness, LightnessRows):
        if shape == (h, w):
            return lightness.tensor()
        narrow = torch.empty(1, 1, h, shape[1])
        for top, bottom in _strips(h, w):
            strip = lightness.rows(top, bottom)[None, None]
            narrow[0, 0, top:bottom] = _resize(strip, (bottom - top, shape[1]))[0, 0]
        return _resize(narrow, shape)
    if shape == (h, w):
        return lightness
    return _resize(lightness, shape)


def _resize(lightness: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    if tuple(lightness.shape[-2:]) == tuple(shape):
        return lightness
    return F.interpolate(lightness, size=shape, mode="bilinear", align_corners=False, antialias=True)


def takes_hints(model: torch.nn.Module) -> bool:
    """Whether a model (or a colorizer from colorize.engine) takes colour hints (colorize.hints)."""
    return bool(getattr(getattr(model, "config", None), "hints", False))


def takes_vividness(model: torch.nn.Module) -> bool:
    """Whether a model (or a colorizer) answers with a colour distribution, whose vividness can be chosen."""
    return bool(getattr(getattr(model, "config", None), "colour_bins", 0))


def predict_ab(model: torch.nn.Module, lightness: torch.Tensor, hints: torch.Tensor | None = None,
               vividness: float | None = None) -> torch.Tensor:
    """Run the network on L (N, 1, h, w) and return ab (N, 2, h, w) float32 on the CPU; ``hints``: the hint
    map (colorize.hints.hint_map) for a model that takes hints; ``vividness``: for a model with a colour
    distribution (colorize.distribution), from 0 (its mean) to 1 (the most vivid); None: the model's own.

    ``model``: a colorizer from colorize.engine (load_colorizer), which runs in its own precision and
    runtime, or a bare model, run as it is (fp32) on its device."""
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    inputs = [lightness.to(device)] + ([hints.to(device)] if hints is not None else [])
    options = {"vividness": vividness} if vividness is not None else {}
    with torch.inference_mode():
        return model(*inputs, **options).float().cpu()


def colorize(image: Image.Image, model: torch.nn.Module, render_size: int = DEFAULT_RENDER_SIZE,
             timings: dict | None = None, hints: list[Hint] | None = None, spread: bool = True,
             vividness: float | None = None) -> Image.Image:
    """Colorize a PIL image of any size and mode, as opened: its EXIF orientation is applied first; returns
    RGB (or RGBA) at the upright input's resolution.

    ``model``: as for ``predict_ab``; its precision is its own (colorize.engine)."""
    with _timed(timings, "preprocess_ms"):
        image = ImageOps.exif_transpose(image)
    return colorize_upright(image, model, render_size, timings, hints=hints, spread=spread, vividness=vividness)


def colorize_upright(image: Image.Image | np.ndarray, model: torch.nn.Module,
                     render_size: int = DEFAULT_RENDER_SIZE, timings: dict | None = None,
                     depth: int = 8, hints: list[Hint] | None = None,
                     spread: bool = True, vividness: float | None = None) -> Image.Image | np.ndarray:
    """``colorize`` for an image whose EXIF orientation has been applied already (the model service's
    model_service.decode does it, with its handling of unreadable EXIF): the pixels are taken as they are.

    ``image``: a PIL image, or a 16-bit array from colorize.photoio. ``depth`` 16 returns a uint16 array
    (H, W, 3), or (H, W, 4) with alpha, whose lightness keeps the input's 16-bit levels; 8 a PIL image.

    ``hints``: colour hints in the upright photo's pixels (colorize.hints.parse_hints); HintsUnsupported
    for a model that takes none, HintError for a point outside the photo. ``spread`` carries each hint's
    colour past where the network took it (colorize.hints.spread_hints); False gives the network's answer
    alone. ``vividness``: as for ``predict_ab`` (VividnessError outside [0, 1] or for a model without a
    colour distribution); with hints the hint decoder answers, and vividness does not change it."""
    name = getattr(getattr(model, "config", None), "name", "this model")
    if hints and not takes_hints(model):
        raise HintsUnsupported(f"{name} does not take colour hints")
    if vividness is not None:
        check_vividness(vividness)  # its range, before any work
        if not takes_vividness(model):
            raise VividnessError(f"{name} has no colour distribution: vividness does not apply to it")
    with _timed(timings, "preprocess_ms"):
        alpha = None
        if isinstance(image, Image.Image):
            image, alpha = split_alpha(image)
        lightness = lightness_rows(image)
        small = lightness_at_render_size(lightness, render_size)
        hint_input = None
        if hints:
            height, width = lightness.shape[-2:]
            check_inside(hints, width, height)
            hint_input = hint_map(hints, (width, height), tuple(small.shape[-2:]))
    with _timed(timings, "network_ms"):
        ab_small = predict_ab(model, small, hint_input, None if hint_input is not None else vividness)
    if hints and spread:
        with _timed(timings, "spread_ms"):
            ab_small = spread_hints(ab_small, small, hints, (width, height))
    with _timed(timings, "postprocess_ms"):
        rgb = join_lightness_ab(lightness, ab_small, depth=depth)
        if depth == 16:
            if alpha is not None:
                rgb = np.concatenate([rgb, (np.asarray(alpha, dtype=np.uint16) * 257)[..., None]], axis=2)
            return rgb
        result = Image.fromarray(rgb, "RGB")
        if alpha is not None:
            result.putalpha(alpha)
    return result


def _source_index(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear (align_corners=False) source indices and weights, as F.interpolate computes them."""
    pos = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp_(min=0)
    lo = pos.floor().long().clamp_(max=n_in - 1)
    hi = (lo + 1).clamp_(max=n_in - 1)
    return lo, hi, (pos - lo).float()


def join_lightness_ab(lightness: torch.Tensor | LightnessRows, ab_small: torch.Tensor, depth: int = 8) -> np.ndarray:
    """Up-sample ab onto the full-resolution L and convert to RGB (H, W, 3): uint8, or uint16 for ``depth`` 16.

    Bilinear (as F.interpolate, align_corners=False), in two passes: along the rows on the small ab
    (cheap), then down the columns strip by strip, each output row a blend of two whole source rows,
    so a 50 MP photo never holds a 50 MP ab tensor. LAB -> sRGB goes through ``lab.lab_to_srgb8`` (or 16).
    ``lightness``: a (1, 1, H, W) tensor, or a LightnessRows whose strips are made here.
    """
    if depth not in (8, 16):
        raise ValueError(f"depth must be 8 or 16, got {depth}")
    h, w = lightness.shape[-2:]
    ab = ab_small[0].float()
    x0, x1, wx = _source_index(w, ab.shape[-1])
    ab_wide = torch.lerp(ab[:, :, x0], ab[:, :, x1], wx)  # (2, h_small, w)
    y0, y1, wy = _source_index(h, ab.shape[-2])
    out = np.empty((h, w, 3), dtype=np.uint8 if depth == 8 else np.uint16)
    for top, bottom in _strips(h, w):
        strip_ab = torch.lerp(ab_wide[:, y0[top:bottom]], ab_wide[:, y1[top:bottom]], wy[top:bottom, None])
        strip_l = lightness.rows(top, bottom) if isinstance(lightness, LightnessRows) \
            else lightness[0, 0, top:bottom].float()
        planes = (strip_l, strip_ab[0], strip_ab[1])
        if depth == 8:
            out[top:bottom] = lab.lab_to_srgb8(*planes).numpy()
        else:
            out[top:bottom] = lab.lab_to_srgb16(*planes).numpy()
    return out
