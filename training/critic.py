"""A PatchGAN critic (pix2pix's 70x70 NLayerDiscriminator) on (L, ab)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm


class PatchCritic(nn.Module):
    """(N, 3, H, W) normalised (L, a, b) -> (N, 1, h, w) real/fake logits, one per patch."""

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        seq: list[nn.Module] = [spectral_norm(nn.Conv2d(3, channels, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        c = channels
        for i in range(1, layers + 1):
            nc = channels * min(2**i, 8)
            stride = 2 if i < layers else 1
            seq += [spectral_norm(nn.Conv2d(c, nc, 4, stride, 1)), nn.LeakyReLU(0.2, True)]
            c = nc
        seq.append(spectral_norm(nn.Conv2d(c, 1, 4, 1, 1)))
        self.net = nn.Sequential(*seq)

    def forward(self, lightness_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((lightness_norm, ab_norm), dim=1))
