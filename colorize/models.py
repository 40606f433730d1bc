"""Encoder U-Nets that predict ab from L, their config (ModelConfig) and a small registry: create_model /
list_models.

The encoder (colorize.encoders: a ResNet, MobileNetV2 or EfficientNet-Lite) gives five taps at strides
2 ... 32. The decoder up-samples (bilinear, never transposed convolution) and joins each encoder tap by
concatenation. The model takes L in LAB units [0, 100] and returns ab in LAB units, bounded by tanh (or, with
a distribution head, the annealed mean over ab bins: colorize.distribution); the normalisation is inside
the model, so a checkpoint carries it.

A model is built from a ``ModelConfig`` (which encoder, its depth, the decoder's widths, the chroma gain);
the model keeps it as ``model.config`` and colorize.checkpoint stores its fields beside the weights, so a
checkpoint rebuilds exactly the model that was saved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from colorize import lab
from colorize.distribution import ClassHead, VividnessError
from colorize.encoders import (
    RESNET_DEPTHS,
    PretrainedWeightsUnavailable,
    ResNetEncoder,
    efficientnet_lite_encoder,
    mobilenet_v2_encoder,
)
from colorize.hints import pooled_hints

__all__ = ["PretrainedWeightsUnavailable", "ModelConfig", "UNetColorizer", "create_model", "list_models",
           "DEFAULT_MODEL", "with_hints"]


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _Upsample2x(torch.autograd.Function):
    """Bilinear x2 up-sampling (align_corners=False) with a faster gradient: the transpose of that
    up-sampling is a stride-2 depthwise convolution with the [1, 3, 3, 1] / 4 kernel on the edge-replicated
    gradient. PyTorch's own backward scatters pixel by pixel, which on the CPU was the slowest op of a bf16
    training step after the convolutions (benchmarks/RESULTS.md, training throughput)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        taps = torch.tensor((0.25, 0.75, 0.75, 0.25), dtype=grad.dtype, device=grad.device)
        c = grad.shape[1]
        kernel = (taps[:, None] * taps[None, :]).expand(c, 1, 4, 4)
        return F.conv2d(F.pad(grad, (1, 1, 1, 1), mode="replicate"), kernel, stride=2, groups=c)


def upsample_to(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Bilinear up-sampling of ``x`` to ``size`` (H, W); exactly x2 while training takes _Upsample2x."""
    if x.requires_grad and torch.is_grad_enabled() and tuple(size) == (2 * x.shape[-2], 2 * x.shape[-1]):
        return _Upsample2x.apply(x)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class DecoderBlock(nn.Module):
    """Up-sample x2, concatenate the skip, two 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(_conv_bn_relu(cin + cskip, cout), _conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = upsample_to(x, skip.shape[-2:])
        return self.conv(torch.cat((x, skip), dim=1))


def pad_to_multiple(lightness: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad H and W (bottom, right) up to multiples of ``multiple``; crop answers with [..., :h, :w]."""
    h, w = lightness.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(lightness, (0, pw, 0, ph), mode="replicate") if ph or pw else lightness


@dataclass(frozen=True)
class ModelConfig:
    """How a UNetColorizer is built; a registered name's defaults come from ``ModelConfig.named``."""

    name: str = "unet_resnet34"  # the registry's name (create_model), recorded in checkpoints
    encoder: str = "resnet"  # resnet | mobilenet_v2 | efficientnet_lite
    depth: int = 34  # ResNet depth, or EfficientNet-Lite's number (0, 2); unused by mobilenet_v2
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    # A fixed factor on the predicted ab, chosen after training on held-out photos
    # (evaluation.calibrate): regression losses shrink colour towards grey, this restores it.
    chroma_gain: float = 1.0
    # Takes colour hints (colorize.hints) through a second decoder; without hints the first answers, so a
    # hint-taking checkpoint's automatic answer is the one of the model it was made from.
    hints: bool = False
    colour_bins: int = 0  # > 0: the answer is a distribution over that many ab bins (colorize.distribution)
    vividness: float = 0.0  # its served default, chosen on held-out photos (0: the distribution's mean)

    def __post_init__(self):
        object.__setattr__(self, "decoder_channels", tuple(int(c) for c in self.decoder_channels))
        object.__setattr__(self, "chroma_gain", float(self.chroma_gain))
        object.__setattr__(self, "hints", bool(self.hints))
        object.__setattr__(self, "colour_bins", int(self.colour_bins))
        object.__setattr__(self, "vividness", float(self.vividness))
        if len(self.decoder_channels) != 5:
            raise ValueError("decoder_channels needs 5 entries")
        if self.encoder not in _ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(_ENCODERS)}")

    @classmethod
    def named(cls, name: str = "unet_resnet34", **overrides) -> ModelConfig:
        """A registered model's config (list_models), with ``overrides`` of its fields."""
        if name not in _REGISTRY:
            raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
        return cls(name=name, **{**_REGISTRY[name], **overrides})

    @classmethod
    def from_architecture(cls, architecture: Mapping) -> ModelConfig:
        """The config a checkpoint's ``architecture`` entry ({"name": ..., "config": {...}}) describes. Files
        written before ModelConfig stored only the fields given to create_model (often none but the chroma
        gain); the rest are the name's registered defaults, as they were then."""
        return cls.named(architecture["name"], **(architecture.get("config") or {}))

    def to_architecture(self) -> dict:
        """The checkpoint's ``architecture`` entry: the name, and every other field under "config"."""
        fields = dataclasses.asdict(self)
        name = fields.pop("name")
        if not fields["colour_bins"]:  # a regression model's entry stays as it was before distributions
            del fields["colour_bins"], fields["vividness"]
        return {"name": name, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}}


def _decoder(c: tuple[int, ...], d: tuple[int, ...], last_skip: int) -> nn.ModuleList:
    ins, skips = (c[4], *d[:4]), (c[3], c[2], c[1], c[0], last_skip)  # the last skip: the L input itself
    return nn.ModuleList(DecoderBlock(cin, skip, cout) for cin, skip, cout in zip(ins, skips, d, strict=True))


class UNetColorizer(nn.Module):
    """L (N,1,H,W) in [0,100] -> ab (N,2,H,W) in LAB units, for any H, W.

    With ``config.hints`` it also takes colour hints (colorize.hints.hint_map: normalised ab and a mask,
    (N,3,H,W)), as Zhang et al. 2017 do: a second decoder, made from the first (``init_hint_decoder``), reads
    the same encoder taps, each plus the hints pooled to its resolution through a 1x1 convolution (weights
    starting at zero: it starts as the automatic decoder), and the hint map beside L. Without hints the
    automatic decoder answers. Such a model trains only its hint decoder; a part whose parameters are all
    frozen stays in eval mode when the model trains."""

    def __init__(self, config: ModelConfig | None = None, pretrained: str | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        self.encoder = _ENCODERS[self.config.encoder](self.config.depth, pretrained)
        c = self.encoder.channels
        d = self.config.decoder_channels
        self.blocks = _decoder(c, d, 1)
        self.head = nn.Conv2d(d[4], 2, 1)
        # Start at the grey baseline (ab = 0) rather than at random colours.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        if self.config.colour_bins:
            self.class_head = ClassHead(d[4], self.config.colour_bins)
        if self.config.hints:
            self.hint_blocks = _decoder(c, d, 1 + 3)
            self.hint_head = nn.Conv2d(d[4], 2, 1)
            self.hint_inputs = nn.ModuleList(nn.Conv2d(3, ch, 1, bias=False) for ch in c)
            self.init_hint_decoder()
            for module in (self.encoder, self.blocks, self.head):
                module.requires_grad_(False)
            self.train(self.training)  # the frozen parts in eval mode from the start

    @torch.no_grad()
    def init_hint_decoder(self) -> None:
        """Make the hint decoder the automatic one, its hint weights zero: with any hints it then answers as
        the automatic decoder does (after the automatic weights have been loaded, call it again)."""
        self.hint_head.load_state_dict(self.head.state_dict())
        for hint_block, block in zip(self.hint_blocks, self.blocks, strict=True):
            state = block.state_dict()
            first = "conv.0.0.weight"
            wide = hint_block.state_dict()[first]
            if wide.shape != state[first].shape:  # the last block: three more input channels for the hints
                padded = torch.zeros_like(wide)
                padded[:, : state[first].shape[1]] = state[first]
                state[first] = padded
            hint_block.load_state_dict(state)
        for conv in self.hint_inputs:
            nn.init.zeros_(conv.weight)

    def train(self, mode: bool = True) -> UNetColorizer:
        super().train(mode)
        for module in (self.encoder, self.blocks, self.head):
            if not any(p.requires_grad for p in module.parameters()):
                module.eval()  # a frozen part keeps its BatchNorm statistics
        return self

    STRIDE = 32  # the encoder halves five times

    @property
    def chroma_gain(self) -> float:  # the config's: the factor on the predicted ab
        return self.config.chroma_gain

    @chroma_gain.setter
    def chroma_gain(self, gain: float) -> None:
        self.config = dataclasses.replace(self.config, chroma_gain=gain)

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor | None = None, vividness: float | None = None,
                logits: bool = False) -> torch.Tensor:
        """``hints``: the hint map (N,3,H,W) for a hint-taking model (ValueError for one that takes none);
        None or an empty mask gives the automatic answer. With a distribution head, ``vividness`` (default: the
        config's) sets how it is decoded, and ``logits`` returns the head's logits at half resolution
        (H and W multiples of STRIDE)."""
        h, w = lightness.shape[-2:]
        if hints is not None and not self.config.hints:
            raise ValueError(f"model {self.config.name} does not take colour hints")
        if vividness is not None and not self.config.colour_bins:
            raise VividnessError(f"model {self.config.name} has no colour distribution: vividness does not apply")
        given = hints[:, 2].flatten(1).any(1) if hints is not None else None
        if given is None or not bool(given.any()):
            out = self.forward_padded(pad_to_multiple(lightness, self.STRIDE))
            if logits or not self.config.colour_bins:
                return out if logits else out[..., :h, :w]
            chosen = self.config.vividness if vividness is None else vividness
            return self.class_head.decode(out, chosen)[..., :h, :w]
        if not bool(given.all()):  # a batch that mixes both: each image through its own decoder
            out = self.forward(lightness, vividness=vividness)
            out[given] = self.forward(lightness[given], hints[given]).to(out.dtype)
            return out
        padded = F.pad(hints, (0, (-w) % self.STRIDE, 0, (-h) % self.STRIDE))  # no hints in the padding
        return self.forward_hints(pad_to_multiple(lightness, self.STRIDE), padded.to(lightness.dtype))[..., :h, :w]

    def forward_padded(self, lightness: torch.Tensor) -> torch.Tensor:
        """forward() for H and W multiples of STRIDE (a distribution head's logits): no shape-dependent branch,
        so it exports to another runtime (colorize.runtime) with dynamic height and width."""
        x = lab.normalize_l(lightness)
        feats = self.encoder(lightness)
        y = feats[4]
        for block, skip in zip(self.blocks, [feats[3], feats[2], feats[1], feats[0], x], strict=True):
            y = block(y, skip)
        return self.class_head(y) if self.config.colour_bins else self._ab(self.head(y))

    def forward_hints(self, lightness: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
        """forward_padded() through the hint decoder, with the hint map (N,3,H,W) of the same padded size."""
        x = lab.normalize_l(lightness)
        feats = self.encoder(lightness)
        feats = [f + conv(pooled_hints(hints, 2 ** (i + 1)))
                 for i, (f, conv) in enumerate(zip(feats, self.hint_inputs, strict=True))]
        y = feats[4]
        skips = [feats[3], feats[2], feats[1], feats[0], torch.cat((x, hints), 1)]
        for block, skip in zip(self.hint_blocks, skips, strict=True):
            y = block(y, skip)
        return self._ab(self.hint_head(y))

    def _ab(self, out: torch.Tensor) -> torch.Tensor:
        ab = lab.denormalize_ab(torch.tanh(out.float()))
        gain = self.config.chroma_gain
        return ab * gain if gain != 1.0 else ab


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


def create_model(name: str = DEFAULT_MODEL, pretrained: str | None = None, **overrides) -> UNetColorizer:
    """Build a registered model (``overrides``: ModelConfig fields); ``model.config`` records how."""
    return UNetColorizer(ModelConfig.named(name, **overrides), pretrained=pretrained)


def with_hints(model: UNetColorizer) -> UNetColorizer:
    """A hint-taking copy of an automatic model: the same encoder and decoder weights, a hint decoder made
    from its decoder with the hint weights at zero (so any hints give the automatic answer until trained)."""
    if model.config.hints:
        return model
    twin = UNetColorizer(dataclasses.replace(model.config, hints=True))
    missing, unexpected = twin.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not k.startswith("hint_") for k in missing):
        raise ValueError(f"cannot add hints to {model.config.name}: {unexpected or missing}")
    twin.init_hint_decoder()
    return twin.to(next(model.parameters()).device).train(model.training)
