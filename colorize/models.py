"""Encoder U-Nets that predict ab from L, and a small registry: create_model / list_models.

The encoder (colorize.encoders: a ResNet, MobileNetV2 or EfficientNet-Lite) gives five taps at strides
2 ... 32. The decoder up-samples (bilinear, never transposed convolution) and joins each encoder tap by
concatenation. The model
takes L in LAB units [0, 100] and returns ab in LAB units, bounded by tanh: the normalisation is
inside the model, so a checkpoint carries it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from colorize import lab
from colorize.encoders import (
    RESNET_DEPTHS,
    PretrainedWeightsUnavailable,
    ResNetEncoder,
    efficientnet_lite_encoder,
    mobilenet_v2_encoder,
)

__all__ = ["PretrainedWeightsUnavailable", "UNetColorizer", "create_model", "list_models", "DEFAULT_MODEL"]


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class DecoderBlock(nn.Module):
    """Up-sample x2, concatenate the skip, two 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(_conv_bn_relu(cin + cskip, cout), _conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat((x, skip), dim=1))


def pad_to_multiple(lightness: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad H and W (bottom, right) up to multiples of ``multiple``; crop answers with [..., :h, :w]."""
    h, w = lightness.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(lightness, (0, pw, 0, ph), mode="replicate") if ph or pw else lightness


class UNetColorizer(nn.Module):
    """L (N,1,H,W) in [0,100] -> ab (N,2,H,W) in LAB units, for any H, W."""

    def __init__(self, depth: int = 34, pretrained: str | None = None,
                 decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16), chroma_gain: float = 1.0,
                 encoder: str = "resnet"):
        super().__init__()
        # A fixed factor on the predicted ab, chosen after training on held-out photos
        # (training.calibrate): regression losses shrink colour towards grey, this restores it.
        self.chroma_gain = float(chroma_gain)
        self.encoder = _ENCODERS[encoder](depth, pretrained)
        c = self.encoder.channels
        d = tuple(decoder_channels)
        if len(d) != 5:
            raise ValueError("decoder_channels needs 5 entries")
        self.blocks = nn.ModuleList([
            DecoderBlock(c[4], c[3], d[0]),
            DecoderBlock(d[0], c[2], d[1]),
            DecoderBlock(d[1], c[1], d[2]),
            DecoderBlock(d[2], c[0], d[3]),
            DecoderBlock(d[3], 1, d[4]),  # full resolution: the L input itself is the last skip
        ])
        self.head = nn.Conv2d(d[4], 2, 1)
        # Start at the grey baseline (ab = 0) rather than at random colours.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    STRIDE = 32  # the encoder halves five times

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        h, w = lightness.shape[-2:]
        return self.forward_padded(pad_to_multiple(lightness, self.STRIDE))[..., :h, :w]

    def forward_padded(self, lightness: torch.Tensor) -> torch.Tensor:
        """forward() for H and W that are multiples of STRIDE: no shape-dependent branch, so it can be
        exported to another runtime (colorize.runtime) with dynamic height and width."""
        x = lab.normalize_l(lightness)
        feats = self.encoder(lightness)
        y = feats[4]
        for block, skip in zip(self.blocks, [feats[3], feats[2], feats[1], feats[0], x], strict=True):
            y = block(y, skip)
        ab = lab.denormalize_ab(torch.tanh(self.head(y).float()))
        return ab * self.chroma_gain if self.chroma_gain != 1.0 else ab


_ENCODERS: dict[str, Callable[[int, str | None], nn.Module]] = {
    "resnet": ResNetEncoder,
    "mobilenet_v2": lambda _depth, pretrained: mobilenet_v2_encoder(pretrained),
    "efficientnet_lite": lambda depth, pretrained: efficientnet_lite_encoder(f"efficientnet-lite{depth}", pretrained),
}

_REGISTRY: dict[str, dict] = {
    **{f"unet_resnet{d}": {"depth": d} for d in RESNET_DEPTHS},
    "unet_mobilenet_v2": {"encoder": "mobilenet_v2"},
    "unet_efficientnet_lite0": {"encoder": "efficientnet_lite", "depth": 0},
    "unet_efficientnet_lite2": {"encoder": "efficientnet_lite", "depth": 2},
}
DEFAULT_MODEL = "unet_resnet34"


def list_models() -> list[str]:
    """Names accepted by create_model."""
    return sorted(_REGISTRY)


def create_model(name: str = DEFAULT_MODEL, pretrained: str | None = None, **config) -> UNetColorizer:
    """Build a registered model; ``model.config`` records how, so a checkpoint can rebuild it."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    kwargs = {**_REGISTRY[name], **config}
    model = UNetColorizer(pretrained=pretrained, **kwargs)
    model.config = {"name": name, **{k: v for k, v in config.items()}}
    return model
