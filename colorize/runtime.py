"""The network on its inference runtime, in its precision: PyTorch (``TorchColorizer``) or OpenVINO, for
CPUs (``OpenVinoColorizer``). colorize.engine chooses which and builds them (load_colorizer).

On CPUs with AMX-bf16 OpenVINO in bf16 runs the U-Nets several times faster than PyTorch's fastest eager
path (bf16 autocast + channels_last); benchmarks/RESULTS.md has the figures.

``OpenVinoColorizer`` wraps a loaded ``UNetColorizer``: the same call (L in, ab out, any height and
width), so ``colorize.pipeline`` runs it unchanged. The network is converted once, in memory, from
``forward_padded`` (no shape-dependent branch); the padding to a multiple of 32 and the crop stay in torch.
Before conversion each decoder block's concatenation is taken out (``without_concat``): the same
arithmetic, in less time (benchmarks/RESULTS.md).

OpenVINO is optional (``pip install 'colorize[serve]'`` brings it on x86-64);
``colorize.engine.openvino_available()`` says whether it can be used.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import warnings
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from colorize.distribution import VividnessError
from colorize.models import DecoderBlock, pad_to_multiple

log = logging.getLogger(__name__)

class TorchColorizer(nn.Module):
    """A UNetColorizer run by PyTorch in its precision; call it like the model: L (N,1,H,W) -> ab (N,2,H,W),
    float32 on the CPU whatever the model's device.

    ``precision`` 'bf16' runs the model under bf16 autocast; an answer with non-finite values is computed
    again in fp32 (seen with torch 2.14 on AMX CPUs for very thin renders, a 1-pixel-wide deepest feature
    map: bf16 gives NaN there). ``channels_last`` converts the model's weights (in place) to NHWC."""

    runtime = "torch"

    def __init__(self, model: nn.Module, precision: str = "fp32", channels_last: bool = False,
                 device: str | None = None):
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model
        self.precision, self.channels_last = precision, channels_last
        first = next(model.parameters(), None)
        # the name as it was asked for ("cuda", as the service reports it), else the weights' ("cuda:0")
        self.device = device or (str(first.device) if first is not None else "cpu")
        self.metadata: dict = {}

    @property
    def config(self):
        return getattr(self.model, "config", None)

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor | None = None,
                vividness: float | None = None) -> torch.Tensor:
        device = torch.device(self.device)
        inputs = [lightness.to(device)] + ([hints.to(device)] if hints is not None else [])
        options = {"vividness": vividness} if vividness is not None else {}
        with torch.inference_mode():
            if self.precision == "bf16":
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                    ab = self.model(*inputs, **options).float()
                if torch.isfinite(ab).all():
                    return ab.cpu()
            ab = self.model(*inputs, **options).float()
        return ab.cpu()


class _SplitDecoderBlock(nn.Module):
    """A DecoderBlock without its concatenation: conv(cat(x, skip)) = conv_x(x) + conv_skip(skip), the
    first convolution's weights split along its input channels. OpenVINO 2026.4 runs the concatenation
    with a reference kernel (5% of a 256 x 256 pass here) and fuses the addition into the second
    convolution; A/B in one process, bf16: 0.92x the time at 256 x 256, 0.96x at 128 x 128."""

    def __init__(self, block: DecoderBlock, x_channels: int):
        super().__init__()
        (conv, bn, relu), self.rest = block.conv
        self.conv_x = nn.Conv2d(x_channels, conv.out_channels, 3, padding=1, bias=False)
        self.conv_skip = nn.Conv2d(conv.in_channels - x_channels, conv.out_channels, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv_x.weight.copy_(conv.weight[:, :x_channels])
            self.conv_skip.weight.copy_(conv.weight[:, x_channels:])
        self.bn, self.relu = bn, relu

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.rest(self.relu(self.bn(self.conv_x(x) + self.conv_skip(skip))))


def without_concat(model: nn.Module) -> nn.Module:
    """A copy of a UNetColorizer (eval mode) whose decoder blocks add two convolutions instead of
    concatenating: the same function, for export. The model itself is left as it is."""
    twin = copy.deepcopy(model).eval()
    x_channels = twin.encoder.channels[4]
    blocks = []
    for block in twin.blocks:
        blocks.append(_SplitDecoderBlock(block, x_channels))
        x_channels = block.conv[1][0].out_channels
    twin.blocks = nn.ModuleList(blocks)
    return twin


class _Padded(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.model.forward_padded(lightness)


class OpenVinoColorizer(nn.Module):
    """A UNetColorizer compiled by OpenVINO for the CPU; call it like the model: L (N,1,H,W) -> ab (N,2,H,W).

    The network is converted once; each padded input shape is compiled on first use (about 0.15 s for the
    shipped model) and kept in a small least-recently-used cache of ``cache_size`` shapes (about 70 MB each).
    Static shapes, because OpenVINO 2026.4's bf16 kernels with a dynamic shape ran 2x slower here and gave
    wrong answers after some changes of shape (tests/colorize/test_runtime.py repeats that sequence).

    OpenVINO 2026.4 in bf16 with two threads answered some inputs of thin shapes (128 x 32) wrongly, so
    shapes whose deepest feature map is one pixel wide are compiled in fp32. And every compiled shape is
    checked once against the PyTorch model in fp32 on a probe image of that shape (bf16 is allowed 4x the
    difference that PyTorch's own bf16 arithmetic makes there, see ``_agrees``); a shape that fails the
    check is compiled in fp32 and checked again; if that fails too, PyTorch answers for that shape.

    ``precision`` 'bf16' asks OpenVINO for bf16 arithmetic (AMX / AVX512-BF16; OpenVINO falls back to fp32
    on CPUs without them), 'fp32' for fp32. An answer with non-finite values is computed again in fp32, as
    TorchColorizer does. Thread-safe: each call gets its own infer request.
    """

    runtime = "openvino"
    device = "cpu"
    channels_last = False  # OpenVINO chooses its own layouts

    def __init__(self, model: nn.Module, precision: str = "bf16", threads: int = 0, cache_size: int = 4):
        super().__init__()
        import openvino as ov

        self._ov = ov
        self.stride = model.STRIDE
        self.chroma_gain = model.chroma_gain
        self.config = getattr(model, "config", None)
        self.metadata: dict = {}
        self.precision, self.threads, self.cache_size = precision, threads, max(1, cache_size)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shape-dependent Python values
            example = torch.full((1, 1, 2 * self.stride, 2 * self.stride), 50.0)
            self._ov_model = ov.convert_model(_Padded(without_concat(model.eval())), example_input=example,
                                              input=[ov.PartialShape([-1, 1, -1, -1])])
        self._reference = model.eval()  # PyTorch, fp32: checks each compiled shape, and the last resort
        self._core = ov.Core()
        self._compiled: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def compiled_shapes(self) -> list[tuple]:
        """(precision, input shape) of the compiled networks in the cache, least recently used first."""
        with self._lock:
            return list(self._compiled)

    def compile_shape(self, precision: str, shape: tuple[int, ...], profile: bool = False):
        """The network compiled for one input shape as the service compiles it, unchecked and uncached;
        ``profile`` turns on OpenVINO's per-layer timers (benchmarks.layers)."""
        model = self._ov_model.clone()
        model.reshape({0: self._ov.PartialShape(list(shape))})
        config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                  "PERFORMANCE_HINT": "LATENCY"}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        if profile:
            config["PERF_COUNT"] = True
        return self._core.compile_model(model, "CPU", config)

    @staticmethod
    def _infer(compiled, x: torch.Tensor) -> torch.Tensor:
        out = compiled.create_infer_request().infer([x.numpy()], share_inputs=True)
        return torch.from_numpy(out[0].copy())

    @staticmethod
    def _probe(shape: tuple[int, ...]) -> torch.Tensor:
        """A lightness probe of this shape: gradients, a disc and texture."""
        n, _, h, w = shape
        y = torch.linspace(0, 1, h).view(h, 1)
        x = torch.linspace(0, 1, w).view(1, w)
        disc = (((y - 0.5) ** 2 + (x - 0.4) ** 2) < 0.08).float()
        texture = torch.rand(h, w, generator=torch.Generator().manual_seed(0))
        return (20 + 40 * y + 25 * x + 15 * disc + 5 * texture).expand(n, 1, h, w).contiguous()

    def _gap(self, got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
        """|got - want| in the network's own units: the chroma gain scales its answer, and any rounding with
        it, after the last layer."""
        return (got - want).abs() / max(self.chroma_gain, 1.0)

    def _bf16_rounding(self, probe: torch.Tensor, want: torch.Tensor) -> tuple[float, float]:
        """How far PyTorch's own bf16 autocast lands from its fp32 answer on the probe (mean, largest), in the
        network's units: how much bf16 arithmetic alone moves this model's answer for this shape."""
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            got = self._reference.forward_padded(probe).float()
        diff = self._gap(self._as_ab(got), self._as_ab(want))
        return diff.mean().item(), diff.max().item()

    def _agrees(self, compiled, shape: tuple[int, ...], precision: str = "fp32") -> bool:
        """Whether a compiled network answers a probe as PyTorch does in fp32: within 0.25 ab units on average
        and 5 at most, in the network's own units (the chroma gain scales its answer, and any rounding with
        it, after the last layer). For bf16 the limits widen to 4x what PyTorch's own bf16 arithmetic moves
        the answer on the same probe: some models are that sensitive on a smooth probe at large shapes
        (unet_resnet34 of 2026-11-27 moves by about a unit on average at 256 x 256 in bf16, while real photos
        agree with fp32 to 56 dB: benchmarks/RESULTS.md), OpenVINO's bf16 moves it a few times as far as
        PyTorch's, and a broken kernel (OpenVINO 2026.4's thin shapes) is off by far more than rounding."""
        probe = self._probe(shape)
        want = self._reference_ab(probe)
        diff = self._gap(self._as_ab(self._infer(compiled, probe)), self._as_ab(want))
        mean_limit, max_limit = 0.25, 5.0
        if precision == "bf16":
            pt_mean, pt_max = self._bf16_rounding(probe, want)
            if math.isfinite(pt_mean) and math.isfinite(pt_max):
                mean_limit, max_limit = max(mean_limit, 4 * pt_mean), max(max_limit, 4 * pt_max)
        return bool(torch.isfinite(diff).all()) and diff.mean().item() < mean_limit and diff.max().item() < max_limit

    def _compiled_for(self, precision: str, shape: tuple[int, ...]):
        """The checked network for this input shape (or None: PyTorch answers it), compiled on first use."""
        key = (precision, shape)
        if min(shape[-2:]) <= self.stride:
            # The deepest feature map is one pixel wide: there OpenVINO 2026.4's bf16 kernels with two
            # threads gave wrong colours for some inputs (as PyTorch's give NaN): such renders run in fp32.
            precision = "fp32"
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return self._compiled[key]
            compiled = None
            for attempt in dict.fromkeys((precision, "fp32")):
                candidate = self.compile_shape(attempt, shape)
                if self._agrees(candidate, shape, attempt):
                    compiled = candidate
                    break
                log.warning("OpenVINO (%s) answered input shape %s unlike PyTorch; %s", attempt, shape,
                            "trying fp32" if attempt != "fp32" else "PyTorch answers this shape")
            self._compiled[key] = compiled
            while len(self._compiled) > self.cache_size:
                self._compiled.popitem(last=False)
            return compiled

    def _run(self, precision: str, x: torch.Tensor) -> torch.Tensor:
        compiled = self._compiled_for(precision, tuple(x.shape))
        if compiled is None:
            return self._reference_ab(x)
        return self._infer(compiled, x)

    def _reference_hints(self, lightness: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", enabled=False):
            return self._reference(lightness, hints)

    def _reference_ab(self, x: torch.Tensor) -> torch.Tensor:
        """PyTorch in fp32 (also inside a caller's bf16 autocast), as the exported network answers: ab, or a
        distribution head's logits."""
        with torch.inference_mode(), torch.autocast("cpu", enabled=False):
            return self._reference.forward_padded(x)

    def _as_ab(self, out: torch.Tensor, vividness: float = 0.0) -> torch.Tensor:
        """The network's answer for a padded input as ab: a distribution head's logits decoded (colorize.
        distribution), a regression head's answer as it is."""
        if not getattr(self.config, "colour_bins", 0):
            return out
        return self._reference.class_head.decode(out, vividness)

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor | None = None,
                vividness: float | None = None) -> torch.Tensor:
        if hints is not None and bool(hints[:, 2].any()):
            # The hint decoder runs in PyTorch, fp32: a hint request is an interactive second pass on one
            # photo, and one exported network per decoder would double the compile cache.
            return self._reference_hints(lightness.float(), hints.float())
        if vividness is not None and not self.config.colour_bins:
            raise VividnessError(f"model {self.config.name} has no colour distribution: vividness does not apply")
        h, w = lightness.shape[-2:]
        x = pad_to_multiple(lightness.float(), self.stride).contiguous()
        ab = self._run(self.precision, x)
        if self.precision != "fp32" and not torch.isfinite(ab).all():
            ab = self._run("fp32", x)
        return self._as_ab(ab, self.config.vividness if vividness is None else vividness)[..., :h, :w]
