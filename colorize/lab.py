"""sRGB <-> CIE LAB (D65, 2 degree observer) in torch, and the network's L/ab normalisation.

This is the only colour-space code in the project: training, evaluation and serving all call it.
The formulas and constants follow scikit-image's ``rgb2lab``/``lab2rgb`` so results can be checked
against it. Tensors are batched NCHW (or CHW); the channel dimension is -3. The device and floating
dtype of the input are kept.
"""

from __future__ import annotations

import functools

import torch

# Linear sRGB -> XYZ (sRGB primaries, D65 white), the matrix scikit-image uses.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_RGB_FROM_XYZ = torch.linalg.inv(torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64)).tolist()
_WHITE_D65 = (0.95047, 1.0, 1.08883)

# Network normalisation: L in [0, 100] -> [-1, 1]; ab in LAB units -> ab / AB_SCALE.
L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0


def _matrix(rows, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).to(device=like.device, dtype=like.dtype)


def _apply_matrix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # x: (..., 3, H, W); contract the channel dimension with the 3x3 matrix.
    return torch.einsum("ij,...jhw->...ihw", m, x)


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_floating_point() else x.float()


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (..., 3, H, W) -> LAB with L in [0, 100] and a, b in about [-128, 127]."""
    rgb = _float(rgb)
    if rgb.shape[-3] != 3:
        raise ValueError(f"rgb_to_lab expects 3 channels in dim -3, got shape {tuple(rgb.shape)}")
    lin = torch.where(
        rgb > 0.04045, ((rgb.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92
    )
    xyz = _apply_matrix(_matrix(_XYZ_FROM_RGB, rgb), lin)
    white = torch.tensor(_WHITE_D65, device=rgb.device, dtype=rgb.dtype).view(3, 1, 1)
    t = xyz / white
    f = torch.where(t > 0.008856, t.clamp_min(0.008856) ** (1.0 / 3.0), 7.787 * t + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-3)
    lightness = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return torch.stack((lightness, a, b), dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """LAB (..., 3, H, W) -> sRGB clipped to [0, 1]."""
    lab = _float(lab)
    if lab.shape[-3] != 3:
        raise ValueError(f"lab_to_rgb expects 3 channels in dim -3, got shape {tuple(lab.shape)}")
    lightness, a, b = lab.unbind(-3)
    fy = (lightness + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = (fy - b / 200.0).clamp_min(0.0)  # as scikit-image: negative z is set to 0
    t = _f_inverse(torch.stack((fx, fy, fz), dim=-3))
    white = torch.tensor(_WHITE_D65, device=lab.device, dtype=lab.dtype).view(3, 1, 1)
    xyz = t * white
    return _linear_to_srgb(_apply_matrix(_matrix(_RGB_FROM_XYZ, lab), xyz)).clamp(0.0, 1.0)


def _f_inverse(f: torch.Tensor) -> torch.Tensor:
    """The inverse of LAB's f: f -> X/Xn, Y/Yn or Z/Zn."""
    return torch.where(f > 0.2068966, f * f * f, (f - 16.0 / 116.0) / 7.787)


def _linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055, 12.92 * lin)


_SRGB8_LEVELS = 1 << 16  # linear values are quantised to 16 bits before the 8-bit sRGB table
# The sRGB curve's slope is 12.92 at black: 20-bit linear steps stay under one 16-bit level.
_SRGB16_LEVELS = 1 << 20


@functools.cache
def _linear_to_srgb_table(levels: int, top: int, dtype: torch.dtype) -> torch.Tensor:
    """sRGB codes 0..``top`` of linear values i / (levels - 1)."""
    lin = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    return (_linear_to_srgb(lin) * top).round().to(dtype)


def _lab_to_srgb_codes(lightness: torch.Tensor, a: torch.Tensor, b: torch.Tensor, levels: int, top: int,
                       dtype: torch.dtype) -> torch.Tensor:
    """L, a, b planes (H, W) -> sRGB codes 0..``top`` (H, W, 3) of ``dtype``, the curve read from a table of
    ``levels`` linear steps."""
    fy = (lightness + 16.0) / 116.0
    planes = (a / 500.0 + fy, fy, (fy - b / 200.0).clamp_min_(0.0))  # as scikit-image: negative z is 0
    xyz = [_f_inverse(f) * white for f, white in zip(planes, _WHITE_D65, strict=True)]
    table = _linear_to_srgb_table(levels, top, dtype)
    out = torch.empty((*lightness.shape, 3), dtype=dtype)
    for channel, (m0, m1, m2) in enumerate(_RGB_FROM_XYZ):
        lin = xyz[0] * m0
        lin.add_(xyz[1], alpha=m1).add_(xyz[2], alpha=m2)
        index = lin.clamp_(0.0, 1.0).mul_(levels - 1).add_(0.5).to(torch.int32)
        out[..., channel] = table[index]
    return out


def lab_to_srgb8(lightness: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L, a, b planes (H, W) float32 on the CPU -> 8-bit sRGB (H, W, 3), channels last, ready for an image.

    The same colours as ``(lab_to_rgb(...) * 255).round()`` to within one level (the sRGB curve is read from
    a 16-bit table instead of computing a power per pixel), at a fraction of its time and memory: the
    serving path converts every pixel of a full-resolution photo with it.
    """
    return _lab_to_srgb_codes(lightness, a, b, _SRGB8_LEVELS, 255, torch.uint8)


def lab_to_srgb16(lightness: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``lab_to_srgb8`` at 16 bits: L, a, b planes (H, W) -> 16-bit sRGB (H, W, 3) as int32 (0..65535), for
    photos whose lightness has more than 256 levels (16-bit scans): a grey pixel keeps its 16-bit value."""
    return _lab_to_srgb_codes(lightness, a, b, _SRGB16_LEVELS, 65535, torch.int32)


def normalize_l(lightness: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> network input in [-1, 1]."""
    return (lightness - L_CENTER) / L_SCALE


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """ab in LAB units -> the network's output scale (about [-1, 1])."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    """The network's output scale -> ab in LAB units."""
    return ab_norm * AB_SCALE


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    return torch.where(rgb > 0.04045, ((rgb.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def _lightness_from_y(y: torch.Tensor) -> torch.Tensor:
    f = torch.where(y > 0.008856, y.clamp_min(0.008856) ** (1.0 / 3.0), 7.787 * y + 16.0 / 116.0)
    return 116.0 * f - 16.0


def rgb_to_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (..., 3, H, W) -> L only (..., 1, H, W); the same formula as rgb_to_lab."""
    rgb = _float(rgb)
    y_row = _matrix(_XYZ_FROM_RGB[1:2], rgb)  # Y's white is 1.0
    return _lightness_from_y(_apply_matrix(y_row, _srgb_to_linear(rgb)))


@functools.cache
def _linear_of_codes(top: int, dtype: torch.dtype) -> torch.Tensor:
    """Linear light (float32) of the sRGB codes 0..``top``, computed in ``dtype``."""
    return _srgb_to_linear(torch.arange(top + 1, dtype=dtype) / top).float()


def _codes_to_lightness(pixels: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """L (..., 1, H, W) of sRGB codes (..., 3 or 1, H, W) through ``table`` (their linear light): only Y is
    computed, a few look-ups a pixel."""
    idx = pixels.long().clamp_(0, len(table) - 1)
    if pixels.shape[-3] == 1:  # grey: Y of (g, g, g) is linear(g), since the Y row sums to 1: L is a table too
        return _lightness_from_y(table)[idx]
    wr, wg, wb = _XYZ_FROM_RGB[1]
    y = wr * table[idx[..., 0:1, :, :]] + wg * table[idx[..., 1:2, :, :]] + wb * table[idx[..., 2:3, :, :]]
    return _lightness_from_y(y)


def uint8_to_lightness(pixels: torch.Tensor) -> torch.Tensor:
    """8-bit sRGB (..., 3, H, W) or 8-bit grey (..., 1, H, W) -> L (..., 1, H, W) float32.

    The same values as rgb_to_lightness(pixels / 255), through a 256-entry table of the sRGB curve,
    so only Y (not X, Y, Z) is computed: a large photo's lightness costs a few table look-ups a pixel.
    """
    return _codes_to_lightness(pixels, _linear_of_codes(255, torch.float32))


def uint16_to_lightness(pixels: torch.Tensor) -> torch.Tensor:
    """16-bit sRGB (..., 3, H, W) or grey (..., 1, H, W), any integer dtype -> L (..., 1, H, W) float32.

    As uint8_to_lightness, through a 65,536-entry table: a 50 MP scan's lightness costs a few look-ups a
    pixel, not two powers."""
    return _codes_to_lightness(pixels, _linear_of_codes(65535, torch.float64))
