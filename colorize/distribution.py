"""Colour as a distribution over quantised ab (Zhang et al. 2016, *Colorful Image Colorization*).

A regression loss answers the mean of the colours a pixel may have: where a jumper may be red, green or blue,
that mean is a brown. Here the network predicts, per pixel, a distribution over the in-gamut ab bins of size
10 (``gamut_bins``), trained with cross-entropy against soft-encoded targets (the 5 nearest bins, Gaussian
sigma 5: ``soft_encode``) weighted by the rarity of each colour (``rebalance_weights``). The answer is the
annealed mean (``annealed_mean``): the mean of the distribution sharpened by a temperature T, from T = 1 (the
mean) towards T -> 0 (the mode).

Rebalanced training tilts the predicted distribution towards rare colours (the head learns q ~ p * w for the
weights w), so there are two means: the photo's own (q / w, the regression answer in spirit: accurate and
muted) and the tilted one (q, Zhang's: vivid). ``vividness`` in [0, 1] is one dial over both: from 0 to 0.5
the correction is undone (q / w ** (1 - 2 v), T = 1), from 0.5 to 1 the tilted distribution is annealed
(T = MIN_TEMPERATURE ** (2 v - 1)). So 0 is the photo's own mean, 0.5 Zhang's mean (T = 1), 0.8 Zhang's
vivid choice (T = 0.38) and 1 the most vivid T offered (0.2); colour grows along the whole dial, where
annealing the corrected distribution would fade it (its mode is grey where a colour is unsure).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from colorize import lab

BIN_SIZE = 10
MIN_TEMPERATURE = 0.2  # vividness 1
SOFT_NEIGHBOURS, SOFT_SIGMA = 5, 5.0


class VividnessError(ValueError):
    """A vividness outside [0, 1], or one given to a model without a distribution head."""


def gamut_bins(bin_size: int = BIN_SIZE) -> np.ndarray:
    """The centres (Q, 2) of the ab bins of a grid of ``bin_size`` (centred on 0) that are nearest to some 8-bit
    sRGB colour: 261 bins for size 10. Zhang et al.'s 313 include bins that no sRGB colour falls into under
    this project's D65 conversion (colorize.lab); a network would learn never to predict them."""
    codes = torch.linspace(0, 1, 256)
    found = set()
    for red in codes:  # one red level at a time: 65,536 colours, not 16.7 million, at once
        g, b = torch.meshgrid(codes, codes, indexing="ij")
        rgb = torch.stack((torch.full_like(g, float(red)), g, b), 0)
        ab = lab.rgb_to_lab(rgb)[1:].reshape(2, -1)
        found.update(map(tuple, torch.round(ab / bin_size).long().T.unique(dim=0).tolist()))
    return np.array(sorted(found), dtype=np.float32) * bin_size


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, k: int = SOFT_NEIGHBOURS,
                sigma: float = SOFT_SIGMA) -> tuple[torch.Tensor, torch.Tensor]:
    """ab (N, 2, H, W) in LAB units -> the k nearest bins (N, k, H, W) and their Gaussian weights (summing to 1),
    nearest first."""
    n, _, h, w = ab.shape
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2).float()
    d2 = torch.cdist(points, centres.float()).square()  # (P, Q)
    d2, index = d2.topk(k, dim=1, largest=False)
    weights = torch.softmax(-d2 / (2 * sigma**2), dim=1)
    shape = (n, h, w, k)
    return index.reshape(shape).permute(0, 3, 1, 2), weights.reshape(shape).permute(0, 3, 1, 2)


def rebalance_weights(prior: np.ndarray, centres: np.ndarray, mix: float = 0.5,
                      sigma: float = SOFT_SIGMA) -> np.ndarray:
    """Zhang's class rebalancing: the empirical bin prior smoothed by a Gaussian (sigma in ab units), mixed with
    uniform (``mix``), inverted and scaled so that its expectation under the smoothed prior is 1."""
    prior = np.asarray(prior, dtype=np.float64)
    prior = prior / prior.sum()
    d2 = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-d2 / (2 * sigma**2))
    smooth = kernel @ prior
    smooth /= smooth.sum()
    weights = 1.0 / ((1 - mix) * smooth + mix / len(prior))
    return (weights / (smooth * weights).sum()).astype(np.float32)


def check_vividness(vividness) -> float:
    """``vividness`` as a float in [0, 1]; VividnessError outside."""
    if isinstance(vividness, bool) or not isinstance(vividness, (int, float)) or not math.isfinite(vividness) \
            or not 0 <= vividness <= 1:
        raise VividnessError(f"vividness must be a number from 0 (the photo's own colour distribution's mean) "
                             f"to 1 (the most vivid, T = {MIN_TEMPERATURE}), not {vividness!r}")
    return float(vividness)


def decoding(vividness: float) -> tuple[float, float]:
    """(the share of the rebalancing tilt divided out, the annealing temperature) a vividness asks for."""
    v = check_vividness(vividness)
    return max(0.0, 1.0 - 2.0 * v), float(MIN_TEMPERATURE ** max(0.0, 2.0 * v - 1.0))


def vividness_of(temperature: float) -> float:
    """The vividness that anneals the network's own (tilted) distribution at ``temperature`` in [0.2, 1]."""
    return 0.5 + 0.5 * math.log(temperature) / math.log(MIN_TEMPERATURE)


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits (N, Q, H, W) -> ab (N, 2, H, W): the mean of softmax(logits / T) over the bin centres (Q, 2)."""
    p = torch.softmax(logits.float() / max(temperature, 1e-3), dim=1)
    return torch.einsum("nqhw,qc->nchw", p, centres.float())


class ClassHead(nn.Module):
    """The distribution head: the decoder's full-resolution features, pooled to half resolution (Zhang's
    network predicts at a quarter), through a 3x3 conv-ReLU and a 1x1 conv to logits over the bins. The bin
    centres travel with the weights (a buffer), so a checkpoint decodes itself.

    Trained with class rebalancing, the head learns a distribution tilted towards rare colours (q ~ p * w for
    the rebalancing weights w); ``log_weights`` (log w, zero for none) is what ``decode`` divides out, all of
    it at vividness 0 and none from 0.5 on."""

    def __init__(self, channels: int, bins: int, hidden: int = 64):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, bins, 1))
        self.register_buffer("centres", torch.zeros(bins, 2))
        self.register_buffer("log_weights", torch.zeros(bins))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a checkpoint made before log_weights keeps this head's own (zero unless set): no correction
        state_dict.setdefault(prefix + "log_weights", self.log_weights.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(F.avg_pool2d(features, 2))

    def decode(self, logits: torch.Tensor, vividness: float, size: tuple[int, int] | None = None) -> torch.Tensor:
        """ab (N, 2, *size) in LAB units at a vividness (module docstring), up-sampled bilinearly from half
        resolution (by default to twice the logits' size: the padded input's)."""
        correction, temperature = decoding(vividness)
        logits = logits.float() - correction * self.log_weights.float().view(1, -1, 1, 1)
        ab = annealed_mean(logits, self.centres, temperature)
        size = size or (2 * logits.shape[-2], 2 * logits.shape[-1])
        return F.interpolate(ab, size=size, mode="bilinear", align_corners=False)
