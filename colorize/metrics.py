"""Image quality metrics shared by training, evaluation and benchmarks.

All take float tensors (N, C, H, W) or (C, H, W) on any device and return one value per image.
``ssim`` is differentiable, so training uses it as a loss too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SSIM_SIGMA = 1.5
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
    g = _gaussian_window(dtype, pred.device)
    gx = g.view(1, 1, 1, k).expand(c, 1, 1, k)
    gy = g.view(1, 1, k, 1).expand(c, 1, k, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, gx, groups=c), gy, groups=c)

    x, y = pred.to(dtype), target.to(dtype)
    mu_x, mu_y = blur(x), blur(y)
    vx = blur(x * x) - mu_x**2
    vy = blur(y * y) - mu_y**2
    cxy = blur(x * y) - mu_x * mu_y
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
