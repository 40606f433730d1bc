"""ResNet-encoder U-Nets that predict ab from L, and a small registry: create_model / list_models.

The encoder is a torchvision ResNet with all four stages (1-channel stem). The decoder up-samples
(bilinear, never transposed convolution) and joins each encoder tap by concatenation. The model
takes L in LAB units [0, 100] and returns ab in LAB units, bounded by tanh: the normalisation is
inside the model, so a checkpoint carries it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models as tvm

from colorize import lab


class PretrainedWeightsUnavailable(RuntimeError):
    """The requested pretrained encoder weights could not be obtained."""


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


class ResNetEncoder(nn.Module):
    """A torchvision ResNet, 1-channel stem, returning the five feature taps (1/2 ... 1/32)."""

    def __init__(self, depth: int, pretrained: str | None):
        super().__init__()
        builder, weights_enum = _RESNETS[depth]
        weights = None
        if pretrained == "imagenet":
            weights = weights_enum.DEFAULT
        elif pretrained is not None:
            raise ValueError(f"unknown pretrained={pretrained!r}; use None or 'imagenet'")
        try:
            net = builder(weights=weights)
        except Exception as exc:  # network errors, hub errors, checksum errors
            raise PretrainedWeightsUnavailable(
                f"could not obtain torchvision's ImageNet weights for resnet{depth} ({exc}). "
                "They are downloaded from download.pytorch.org on first use; with no internet, "
                "put the file in $TORCH_HOME/hub/checkpoints or use pretrained=None."
            ) from exc
        # 1-channel stem: an RGB stem's filters summed over colour = its response to grey input.
        rgb_w = net.conv1.weight.detach()
        net.conv1 = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
        if weights is not None:
            with torch.no_grad():
                net.conv1.weight.copy_(rgb_w.sum(dim=1, keepdim=True))
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.pool = net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4,
        )
        expansion = 4 if depth >= 50 else 1
        self.channels = (64, 64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f0 = self.stem(x)
        f1 = self.layer1(self.pool(f0))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [f0, f1, f2, f3, f4]


def pad_to_multiple(lightness: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad H and W (bottom, right) up to multiples of ``multiple``; crop answers with [..., :h, :w]."""
    h, w = lightness.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(lightness, (0, pw, 0, ph), mode="replicate") if ph or pw else lightness


class UNetColorizer(nn.Module):
    """L (N,1,H,W) in [0,100] -> ab (N,2,H,W) in LAB units, for any H, W."""

    def __init__(self, depth: int = 34, pretrained: str | None = None,
                 decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16), chroma_gain: float = 1.0):
        super().__init__()
        # A fixed factor on the predicted ab, chosen after training on held-out photos
        # (training.calibrate): regression losses shrink colour towards grey, this restores it.
        self.chroma_gain = float(chroma_gain)
        self.encoder = ResNetEncoder(depth, pretrained)
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
        feats = self.encoder(x)
        y = feats[4]
        for block, skip in zip(self.blocks, [feats[3], feats[2], feats[1], feats[0], x], strict=True):
            y = block(y, skip)
        ab = lab.denormalize_ab(torch.tanh(self.head(y).float()))
        return ab * self.chroma_gain if self.chroma_gain != 1.0 else ab


_RESNETS: dict[int, tuple[Callable[..., nn.Module], object]] = {
    18: (tvm.resnet18, tvm.ResNet18_Weights),
    34: (tvm.resnet34, tvm.ResNet34_Weights),
    50: (tvm.resnet50, tvm.ResNet50_Weights),
}

_REGISTRY: dict[str, dict] = {f"unet_resnet{d}": {"depth": d} for d in sorted(_RESNETS)}
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
