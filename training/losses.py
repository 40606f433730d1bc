"""The method's reconstruction losses on normalised ab, and the adversarial loss.

Phase 1: L1 + lambda * (1 - SSIM); phase 2 (fine-tuning): MSE + lambda * (1 - SSIM); lambda = 1e-3.
SSIM is computed on the two ab channels (range [-1, 1], so data_range = 2) with the same Gaussian
SSIM as evaluation (colorize.metrics.ssim).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from colorize.distribution import soft_encode
from colorize.metrics import ssim


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, phase: int,
                        ssim_weight: float = 1e-3) -> torch.Tensor:
    """pred, target: normalised ab (N, 2, H, W). phase 1 -> L1, phase 2 -> MSE, each + SSIM term."""
    pred, target = pred.float(), target.float()
    if phase == 1:
        pixel = F.l1_loss(pred, target)
    elif phase == 2:
        pixel = F.mse_loss(pred, target)
    else:
        raise ValueError(f"phase must be 1 or 2, got {phase}")
    if ssim_weight == 0:
        return pixel
    return pixel + ssim_weight * (1.0 - ssim(pred, target, data_range=2.0).mean())


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy of PatchGAN logits against all-real or all-fake labels."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target)


def distribution_loss(logits: torch.Tensor, ab: torch.Tensor, centres: torch.Tensor,
                      weights: torch.Tensor) -> torch.Tensor:
    """Zhang et al. 2016's loss: cross-entropy of the head's logits (N, Q, H/2, W/2) against the soft-encoded
    truth (ab in LAB units (N, 2, H, W), averaged to half resolution), each pixel weighted by the rebalancing
    weight of its nearest bin."""
    index, soft = soft_encode(F.avg_pool2d(ab.float(), 2), centres)
    log_p = torch.log_softmax(logits.float(), dim=1).gather(1, index)
    per_pixel = -(soft * log_p).sum(1)
    return (per_pixel * weights[index[:, 0]]).mean()
