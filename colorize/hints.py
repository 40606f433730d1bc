"""Colour hints: a user's "this point is this colour", as Zhang et al. 2017 (Real-Time User-Guided Image
Colorization with Learned Deep Priors) give them to the network.

A hint is a point in the photo's own full-resolution pixel coordinates with an sRGB colour (``#rrggbb``).
The network of a hint-taking checkpoint (``ModelConfig.hints``) takes, beside L, a map at the render
size: the hint's ab (the colour's chroma, placed at the photo's own lightness) on a small patch around
each point, and a mask channel that says where hints are; ``hint_map`` makes it. Training draws hints
from the truth (``sample_hints``): a random number of points, each a small patch carrying that patch's
mean colour.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from colorize import lab

MAX_HINTS = 64  # more than anyone places by hand; each is one patch of the map
PATCH = 3  # a hint's side at the render size, in pixels (training draws 1, 3 and 5)
TRAIN_PATCHES = (1, 3, 5)
_COLOR = re.compile(r"#?([0-9a-fA-F]{6})")


class HintError(ValueError):
    """A hint that cannot be used; the message says which and why."""


class HintsUnsupported(ValueError):
    """Hints were sent to a checkpoint that does not take them."""


@dataclass(frozen=True)
class Hint:
    """A point (x, y) in the photo's full-resolution pixels (0 <= x < width) and its sRGB colour."""

    x: float
    y: float
    color: str  # "#rrggbb"

    def rgb(self) -> tuple[int, int, int]:
        v = int(self.color[1:], 16)
        return (v >> 16) & 255, (v >> 8) & 255, v & 255


def _number(value, what: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HintError(f"hint {index}: {what} must be a number, got {json.dumps(value)[:40]}")
    try:
        number = float(value)  # a JSON integer of hundreds of digits overflows here
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise HintError(f"hint {index}: {what} must be a finite number")
    return number


def parse_color(value, index: int = 0) -> str:
    """'#rrggbb' (or 'rrggbb') -> '#rrggbb' in lower case; HintError otherwise."""
    if not isinstance(value, str) or not _COLOR.fullmatch(value.strip()):
        raise HintError(f"hint {index}: color must be '#rrggbb' (six hex digits), got {json.dumps(value)[:40]}")
    return "#" + _COLOR.fullmatch(value.strip()).group(1).lower()


def parse_hints(value, width: int | None = None, height: int | None = None,
                max_hints: int = MAX_HINTS) -> list[Hint]:
    """Hints from JSON text or a parsed list of ``{"x": ..., "y": ..., "color": "#rrggbb"}``; with the photo's
    ``width`` and ``height``, each point must lie inside it. HintError names the first bad hint (from 0)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: "[[[[..." nested deep
            raise HintError(f"hints must be a JSON list of {{\"x\", \"y\", \"color\"}} objects: {exc}") from exc
    if not isinstance(value, list):
        raise HintError("hints must be a JSON list of {\"x\", \"y\", \"color\"} objects")
    if len(value) > max_hints:
        raise HintError(f"too many hints: {len(value)}, at most {max_hints}")
    hints = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise HintError(f"hint {i}: must be an object with x, y and color")
        missing = [k for k in ("x", "y", "color") if k not in item]
        if missing:
            raise HintError(f"hint {i}: missing {', '.join(missing)}")
        x, y = _number(item["x"], "x", i), _number(item["y"], "y", i)
        _check_point(i, x, y, width, height)
        hints.append(Hint(x, y, parse_color(item["color"], i)))
    return hints


def _check_point(index: int, x: float, y: float, width: int | None, height: int | None) -> None:
    if width is not None and not 0 <= x < width:
        raise HintError(f"hint {index}: x={x:g} is outside the image (0 <= x < {width})")
    if height is not None and not 0 <= y < height:
        raise HintError(f"hint {index}: y={y:g} is outside the image (0 <= y < {height})")
    if width is None and (x < 0 or y < 0):
        raise HintError(f"hint {index}: x and y must not be negative")


def check_inside(hints: list[Hint], width: int, height: int) -> None:
    """HintError for the first hint outside a ``width`` x ``height`` photo."""
    for i, hint in enumerate(hints):
        _check_point(i, hint.x, hint.y, width, height)


def colors_to_ab(hints: list[Hint]) -> torch.Tensor:
    """The ab (LAB units, D65) of the hints' sRGB colours: (K, 2)."""
    if not hints:
        return torch.zeros(0, 2)
    rgb = torch.tensor([hint.rgb() for hint in hints], dtype=torch.float32)
    return lab.rgb_to_lab((rgb / 255.0).view(-1, 3, 1, 1))[:, 1:, 0, 0]


def _render_pixel(hint: Hint, photo_size: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    """The render pixel (y, x) of a hint's point in a photo of ``photo_size`` (width, height)."""
    (width, height), (h, w) = photo_size, shape
    return min(int(hint.y * h / height), h - 1), min(int(hint.x * w / width), w - 1)


def _patch(centre: tuple[int, int], patch: int) -> tuple[slice, slice]:
    """Rows and columns of a ``patch`` x ``patch`` square around a render pixel, cut at the top and left edge
    (slicing cuts the others)."""
    (cy, cx), r = centre, patch // 2
    return slice(max(cy - r, 0), cy + r + 1), slice(max(cx - r, 0), cx + r + 1)


def pooled_hints(hints: torch.Tensor, stride: int) -> torch.Tensor:
    """The hint map at 1/stride: each cell's mean hint ab and whether it holds any hint (N, 3, H/s, W/s)."""
    if stride == 1:
        return hints
    mask = F.avg_pool2d(hints[:, 2:], stride)
    ab = F.avg_pool2d(hints[:, :2] * hints[:, 2:], stride) / mask.clamp_min(1e-6)
    present = (mask > 0).to(hints.dtype)
    return torch.cat((ab * present, present), 1)


def hint_map(hints: list[Hint], photo_size: tuple[int, int], shape: tuple[int, int],
             patch: int = PATCH) -> torch.Tensor:
    """The network's hint input (1, 3, h, w) at the render ``shape`` (h, w) for a photo of ``photo_size``
    (width, height): normalised ab on a ``patch`` x ``patch`` square around each point, and the mask. Where
    patches overlap, their colours are averaged."""
    h, w = shape
    out = torch.zeros(1, 3, h, w)
    if not hints:
        return out
    ab = lab.normalize_ab(colors_to_ab(hints))
    total = torch.zeros(2, h, w)
    count = torch.zeros(h, w)
    for hint, colour in zip(hints, ab, strict=True):
        ys, xs = _patch(_render_pixel(hint, photo_size, shape), patch)
        total[:, ys, xs] += colour[:, None, None]
        count[ys, xs] += 1
    inside = count > 0
    out[0, :2] = torch.where(inside, total / count.clamp_min(1), 0.0)
    out[0, 2] = inside.float()
    return out


def sample_hints(ab_norm: torch.Tensor, counts: torch.Tensor, patches: tuple[int, ...] = TRAIN_PATCHES,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Hints drawn from the truth, as Zhang et al. 2017 train with them: for image n, ``counts[n]`` points at
    random, each a square patch (side drawn from ``patches``) carrying the truth's mean ab over that patch.
    ``ab_norm``: (N, 2, H, W) normalised ab; returns the hint input (N, 3, H, W), all on ab_norm's device."""
    n, _, h, w = ab_norm.shape
    device = ab_norm.device
    ab_norm = ab_norm.float()
    k = int(counts.max().item()) if counts.numel() else 0
    out = torch.zeros(n, 3, h, w, device=device)
    if k == 0:
        return out
    rand = torch.rand(4, n, k, generator=generator).to(device)
    ys = (rand[0] * h).long().clamp_max(h - 1)
    xs = (rand[1] * w).long().clamp_max(w - 1)
    size_index = (rand[2] * len(patches)).long().clamp_max(len(patches) - 1)
    live = torch.arange(k, device=device)[None, :] < counts.to(device)[:, None]
    flat = (ys * w + xs)
    total = torch.zeros(n, 2, h, w, device=device)
    count = torch.zeros(n, 1, h, w, device=device)
    for i, side in enumerate(patches):
        chosen = live & (size_index == i)
        if not chosen.any():
            continue
        mean = F.avg_pool2d(ab_norm, side, stride=1, padding=side // 2, count_include_pad=False)
        colour = mean.flatten(2).gather(2, flat[:, None, :].expand(n, 2, k))  # (N, 2, K)
        weight = chosen.float()
        centres = torch.zeros(n, 1, h * w, device=device).scatter_add_(2, flat[:, None, :], weight[:, None, :])
        colours = torch.zeros(n, 2, h * w, device=device).scatter_add_(
            2, flat[:, None, :].expand(n, 2, k), colour * weight[:, None, :])
        # spread each centre over its square: a sum over the side x side window
        spread = side * side
        count += F.avg_pool2d(centres.view(n, 1, h, w), side, stride=1, padding=side // 2,
                              count_include_pad=True) * spread
        total += F.avg_pool2d(colours.view(n, 2, h, w), side, stride=1, padding=side // 2,
                              count_include_pad=True) * spread
    inside = count > 0.5
    out[:, :2] = torch.where(inside, total / count.clamp_min(1), 0.0)
    out[:, 2:] = inside.float()
    return out


def hint_counts(n: int, p: float = 1 / 8, most: int = MAX_HINTS, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """How many hints each of ``n`` training images gets: 1 + a geometric number (success ``p``), at most
    ``most``; a hint-taking network sees no hints only through its automatic path (models.UNetColorizer)."""
    u = torch.rand(n, generator=generator).clamp_min(1e-12)
    return (1 + torch.floor(torch.log(u) / math.log(1 - p))).clamp_max(most).long()


# How far a hint's colour carries beyond the network's own answer (spread_hints); chosen on held-out photos
# (models/README.md, "Colour hints").
SPREAD_DISTANCE = 0.25  # of the render size's diagonal
SPREAD_LIGHTNESS = 25.0  # L units
SPREAD_NOISE = 0.1  # how loosely the field must pass through each hint (kriging's nugget)
_SPREAD_CHUNK = 1 << 16  # pixels a step: a 2048-px render with 64 hints stays small


def _features(lightness: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """(pixels, 3) at render pixels (ys, xs): position scaled by the spread distance, lightness by the spread
    lightness; the kernel's input for the pixels and for the hints alike."""
    scale = SPREAD_DISTANCE * math.hypot(*lightness.shape[-2:])
    return torch.stack([ys / scale, xs / scale, lightness[0, 0, ys, xs].float() / SPREAD_LIGHTNESS], -1)


def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # no constant term: a share of every correction over the whole photo scored a little higher on held-out
    # photos, but two hints of different colours then tinted everything with their mix
    return torch.exp(-0.5 * torch.cdist(a, b).square())


def spread_hints(ab: torch.Tensor, lightness: torch.Tensor, hints: list[Hint], photo_size: tuple[int, int],
                 patch: int = PATCH) -> torch.Tensor:
    """Carry each hint's colour past where the network took it: ``ab`` (1, 2, h, w), the network's answer
    in LAB units at the render size, with ``lightness`` (1, 1, h, w) L beside it, for a photo of
    ``photo_size`` (width, height).

    At each hint the difference between its colour and the answer (mean over its patch) is measured; the
    field of differences is interpolated over the photo by kriging (Gaussian-process regression) with a
    kernel over position and lightness, so a correction reaches the pixels near a hint and those of similar
    lightness, fades to nothing far from it, and several hints share the work rather than add up. No
    hints: ``ab`` unchanged."""
    if not hints:
        return ab
    h, w = ab.shape[-2:]
    centres = [_render_pixel(hint, photo_size, (h, w)) for hint in hints]
    measured = torch.stack([ab[0, :, ys, xs].float().mean((1, 2)) for ys, xs in (_patch(c, patch) for c in centres)])
    difference = colors_to_ab(hints) - measured  # (K, 2)
    at_hints = _features(lightness, *torch.tensor(centres).T)
    gram = _kernel(at_hints, at_hints) + SPREAD_NOISE * torch.eye(len(hints))
    weights = torch.linalg.solve(gram, difference)  # (K, 2)
    out = ab.float().clone()
    step = max(1, _SPREAD_CHUNK // w)
    columns = torch.arange(w)
    for top in range(0, h, step):
        rows = torch.arange(top, min(top + step, h))
        ys, xs = (grid.reshape(-1) for grid in torch.meshgrid(rows, columns, indexing="ij"))
        correction = _kernel(_features(lightness, ys, xs), at_hints) @ weights  # (pixels, 2)
        out[0, :, top: top + len(rows)] += correction.T.view(2, len(rows), w)
    return out
