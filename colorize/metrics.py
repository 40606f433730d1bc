"""Image quality metrics shared by training, evaluation and benchmarks.

All take float tensors (N, C, H, W) or (C, H, W) on any device and return one value per image.
``ssim`` is differentiable, so training uses it as a loss too.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

SSIM_SIGMA = 1.5
BAND_MAX = 256  # ssim blurs by matrix products up to this side, by convolutions above it
SSIM_RADIUS = 5  # scikit-image: int(truncate * sigma + 0.5) with truncate = 3.5 -> an 11-tap window


def _batched(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(0) if x.dim() == 3 else x


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, in the inputs' units."""
    pred, target = _batched(pred).double(), _batched(target).double()
    return ((pred - target) ** 2).flatten(1).mean(1)


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (inf for identical images)."""
    return 10.0 * torch.log10(data_range**2 / mse(pred, target))


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return (g / g.sum()).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=16)
def _band(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n, n - 2r) matrix whose column j holds the Gaussian window at rows j .. j + 2r: x @ band is the
    'valid' 1-D blur of x's last dimension. Cached: a training step asks for the same two every time."""
    k = 2 * SSIM_RADIUS + 1
    band = torch.zeros(n, n - k + 1, dtype=torch.float64)
    g = _gaussian_window(torch.float64, torch.device("cpu"))
    for t in range(k):
        band.diagonal(-t).copy_(g[t].expand(n - k + 1))
    return band.to(device=device, dtype=dtype)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Structural similarity per image, averaged over channels.

    Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=data_range, channel_axis=...)``: an 11-tap Gaussian
    window, the mean taken over the pixels the window covers completely (scikit-image crops the
    border it padded, which is exactly a 'valid' convolution).
    """
    pred, target = _batched(pred), _batched(target)
    if pred.shape != target.shape:
        raise ValueError(f"ssim: shapes differ {tuple(pred.shape)} vs {tuple(target.shape)}")
    n, c, h, w = pred.shape
    k = 2 * SSIM_RADIUS + 1
    if h < k or w < k:
        raise ValueError(f"ssim needs images of at least {k}x{k} pixels, got {h}x{w}")
    dtype = pred.dtype if pred.dtype in (torch.float32, torch.float64) else torch.float32
    x, y = pred.to(dtype), target.to(dtype)
    maps = torch.stack((x, y, x * x, y * y, x * y))  # the five local means in one separable blur
    if max(h, w) <= BAND_MAX:
        # each direction a matrix product with a banded matrix of the window: for crops this size much
        # faster on a CPU (forward and backward) than depthwise convolutions, whose cost grows less with size
        blurred = _band(h, dtype, x.device).T @ maps @ _band(w, dtype, x.device)
    else:
        g = _gaussian_window(dtype, x.device)
        flat = maps.transpose(0, 1).reshape(n, 5 * c, h, w)
        flat = F.conv2d(F.conv2d(flat, g.view(1, 1, 1, k).expand(5 * c, 1, 1, k), groups=5 * c),
                        g.view(1, 1, k, 1).expand(5 * c, 1, k, 1), groups=5 * c)
        blurred = flat.reshape(n, 5, c, h - k + 1, w - k + 1).transpose(0, 1)
    mu_x, mu_y, exx, eyy, exy = blurred.unbind(0)
    vx = exx - mu_x**2
    vy = eyy - mu_y**2
    cxy = exy - mu_x * mu_y
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def colourfulness(rgb: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colourfulness on 0-255 RGB: sigma_rgyb + 0.3 * mu_rgyb."""
    rgb = _batched(rgb).double() * (255.0 / data_range)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    sigma = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mu = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return sigma + 0.3 * mu


def psnr_from_mse(value: float, data_range: float = 255.0) -> float:
    """PSNR in dB of a mean squared error (for averaging MSE first, then converting)."""
    return math.inf if value == 0 else 10.0 * math.log10(data_range**2 / value)
