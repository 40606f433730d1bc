"""A PatchGAN critic (pix2pix's 70x70 NLayerDiscriminator) on (L, ab)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm

from training.losses import adversarial_loss


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


def critic_step(critic: PatchCritic, opt: torch.optim.Optimizer, lightness_norm: torch.Tensor,
                target: torch.Tensor, pred: torch.Tensor, autocast) -> tuple[torch.Tensor, float]:
    """pix2pix's order: one critic step on the truth and the detached prediction, then the generator's
    adversarial loss with the critic frozen. Returns (that loss, to back-propagate; the critic's loss)."""
    with autocast():
        d_loss = 0.5 * (adversarial_loss(critic(lightness_norm, target), True)
                        + adversarial_loss(critic(lightness_norm, pred.detach()), False))
    opt.zero_grad(set_to_none=True)
    d_loss.backward()
    opt.step()
    critic.requires_grad_(False)
    with autocast():
        g_adv = adversarial_loss(critic(lightness_norm, pred), True)
    critic.requires_grad_(True)
    return g_adv, d_loss.item()
