"""What a coloured clip is measured by, against the truth its clip knows (benchmarks.video.clips).

- Flicker as the warping error (Lai et al. 2018, Learning Blind Video Temporal Consistency): the mean
  distance in the ab plane between frame t and frame t - 1 carried onto it by the known motion, over the
  pixels whose motion lands inside frame t - 1, frame after a cut left out, averaged over frames. Lai et al.
  square an RGB difference; here it is |Δab|, in the colour's own units, so the lightness (the input's own
  in every output) does not enter. The truth's own warping error is the interpolation's alone.
- Colour PSNR per clip: the mean over frames of the PSNR (8-bit sRGB) of LAB(L of the grey input frame, the
  output's ab) against LAB(the same L, the photo's ab); the grey baseline is ab = 0. The lightness is the
  input's on both sides, so only colour is measured.

The output's ab is read as a player shows it: the MP4 decoded, its chroma up-sampled, Y'CbCr to sRGB by
the matrix its stream is tagged with, sRGB to LAB (colorize.lab).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from benchmarks.video.clips import Clip
from colorize import lab, metrics

_KR_KB = {True: (0.299, 0.114), False: (0.2126, 0.0722)}  # BT.601, BT.709


def motion(clip: Clip, t: int) -> np.ndarray:
    """The 2 x 3 map from frame t's pixels to frame t - 1's, from the two frames' known maps."""
    before = np.vstack([clip.map(t - 1), [0.0, 0.0, 1.0]])
    now = np.vstack([clip.map(t), [0.0, 0.0, 1.0]])
    return (np.linalg.inv(before) @ now)[:2]


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return y, x


def warp_back(previous: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``previous`` (C, H, W) carried onto the next frame by ``matrix`` (next pixels -> previous pixels),
    and the mask (H, W) of the pixels whose motion lands inside the previous frame."""
    import cv2

    channels, height, width = previous.shape
    image = np.ascontiguousarray(previous.transpose(1, 2, 0))
    warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE).reshape(height, width, channels)
    y, x = _grid(height, width)
    u = matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]
    v = matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]
    inside = (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
    return warped.transpose(2, 0, 1), inside


class Flicker:
    """The warping error of a sequence of ab frames, fed in order with ``add``."""

    def __init__(self, clip: Clip):
        self.clip, self.previous, self.errors = clip, None, []
        self.cuts = set(clip.cuts)

    def add(self, t: int, ab: np.ndarray) -> None:
        if self.previous is not None and t not in self.cuts:
            warped, inside = warp_back(self.previous, motion(self.clip, t))
            distance = np.sqrt(((ab - warped) ** 2).sum(0))
            if inside.any():
                self.errors.append(float(distance[inside].mean()))
        self.previous = ab

    @property
    def value(self) -> float:
        return float(np.mean(self.errors)) if self.errors else 0.0


def warping_error(frames: Iterable[np.ndarray], clip: Clip) -> float:
    """The warping error of ``frames`` (ab (2, H, W) per frame of ``clip``, in order)."""
    flicker = Flicker(clip)
    for t, ab in enumerate(frames):
        flicker.add(t, ab)
    return flicker.value


def _studio_to_codes(y: np.ndarray) -> np.ndarray:
    return np.clip(np.round((y.astype(np.float32) - 16.0) * (255.0 / 219.0)), 0, 255).astype(np.uint8)


def input_lightness(path: str | Path) -> Iterator[np.ndarray]:
    """The grey input's L (H, W) per frame, as colorize.video reads it (studio range widened to 0-255)."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            y = frame.to_ndarray(format="yuv420p")[: frame.height]
            codes = y if int(frame.color_range or 0) == 2 else _studio_to_codes(y)
            yield lab.uint8_to_lightness(torch.from_numpy(codes)[None]).numpy()[0]


def output_ab(path: str | Path) -> Iterator[np.ndarray]:
    """The output's ab (2, H, W) per frame, as a player shows it."""
    import av
    import cv2

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        kr, kb = _KR_KB[stream.codec_context.colorspace in (5, 6)]
        for frame in container.decode(stream):
            planes = frame.to_ndarray(format="yuv420p")
            height, width = frame.height, frame.width
            y = planes[:height].astype(np.float32)
            chroma = planes[height:].reshape(2, height // 2, width // 2).astype(np.float32)
            cb, cr = (cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in chroma)
            if int(frame.color_range or 0) == 2:
                y, cb, cr = y / 255.0, (cb - 128.0) / 255.0, (cr - 128.0) / 255.0
            else:
                y, cb, cr = (y - 16.0) / 219.0, (cb - 128.0) / 224.0, (cr - 128.0) / 224.0
            r, b = y + 2 * (1 - kr) * cr, y + 2 * (1 - kb) * cb
            g = (y - kr * r - kb * b) / (1 - kr - kb)
            rgb = torch.from_numpy(np.stack([r, g, b])).clamp_(0.0, 1.0)
            yield lab.rgb_to_lab(rgb)[1:].numpy()


def srgb(lightness: np.ndarray, ab: np.ndarray) -> torch.Tensor:
    """LAB(lightness, ab) as 8-bit sRGB (3, H, W) float64, as the metrics take it."""
    colour = torch.from_numpy(np.ascontiguousarray(ab, dtype=np.float32))
    return lab.lab_to_srgb8(torch.from_numpy(lightness), colour[0], colour[1]).permute(2, 0, 1).double()


def colour_psnr(lightness: np.ndarray, ab: np.ndarray, truth: torch.Tensor) -> float:
    """PSNR (dB) of LAB(lightness, ab) against ``truth`` (srgb(lightness, the truth's ab))."""
    return float(metrics.psnr(srgb(lightness, ab), truth).item())


def score_clip(clip: Clip, source: str | Path, outputs: dict[str, str | Path]) -> dict:
    """Flicker and colour PSNR of each output of ``clip`` (name -> MP4), beside the truth's own flicker and
    the grey baseline's PSNR, in one pass over the frames (one frame of each held at a time)."""
    names = list(outputs)
    flicker = {name: Flicker(clip) for name in ["truth", *names]}
    psnr: dict[str, list[float]] = {name: [] for name in ["grey", *names]}
    streams = [output_ab(outputs[name]) for name in names]
    for t, (lightness, *abs_) in enumerate(zip(input_lightness(source), *streams, strict=True)):
        truth_ab = clip.truth_ab(t)
        truth = srgb(lightness, truth_ab)
        flicker["truth"].add(t, truth_ab)
        psnr["grey"].append(colour_psnr(lightness, np.zeros_like(truth_ab), truth))
        for name, ab in zip(names, abs_, strict=True):
            flicker[name].add(t, ab)
            psnr[name].append(colour_psnr(lightness, ab, truth))
    return {"flicker": {name: f.value for name, f in flicker.items()},
            "psnr": {name: float(np.mean(values)) for name, values in psnr.items()}}
