"""Where and how the network runs: the device, the precision, the CPU's flags and the runtime (PyTorch or
OpenVINO) are chosen here, and ``load_colorizer`` returns the network ready to run.

    colorizer = load_colorizer("models/colorizer.safetensors", device="auto", precision="auto", runtime="auto")
    result = colorize.pipeline.colorize(image, colorizer, recommended_render_size(colorizer.metadata))

The object it returns (colorize.runtime's ``TorchColorizer`` or ``OpenVinoColorizer``) is called like the
model, L in and ab out, and owns its precision: bf16 arithmetic where it was chosen, and an answer with
non-finite values computed again in fp32. It carries ``metadata``, ``device``, ``precision``, ``runtime``
and ``channels_last``. The command line, the model service, evaluation.evaluate and the benchmarks all load
their networks through it.

Nothing here imports torch at import time: the model service reads ``openmp_environment`` and
``usable_cores`` while it is configured, before torch may be imported.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

DEVICES_HELP = "auto, cpu, cuda or cuda:N"
PRECISIONS = ("auto", "fp32", "bf16")
RUNTIMES = ("auto", "torch", "openvino")
BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}


class EngineError(ValueError):
    """A device, precision or runtime that cannot be used here; ``setting`` says which of the three (or
    "runtime" when OpenVINO could not compile the network)."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting


class CompileFailed(EngineError):
    """OpenVINO could not convert or compile the network (the torch runtime avoids it)."""


def resolve_device(name: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; other names are checked and pass through as given
    (an unknown name or a GPU index this machine lacks is an EngineError, not a failure inside loading)."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise EngineError("device", f"device {name!r} is not a device name ({exc})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EngineError("device", f"device {name!r} requested but no CUDA GPU is visible")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise EngineError("device", f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    return name


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_precision(requested: str, device: str) -> str:
    """'auto' -> 'bf16' on CUDA GPUs that support it and on CPUs with AMX or AVX512-BF16, else 'fp32'."""
    if requested not in PRECISIONS:
        raise EngineError("precision", f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_flags() & BF16_CPU_FLAGS else "fp32"


def openvino_available() -> bool:
    """Whether OpenVINO can be imported and offers a CPU device."""
    try:
        import openvino as ov
    except ImportError:
        return False
    try:
        return "CPU" in ov.Core().available_devices
    except Exception:  # noqa: BLE001 - a broken install counts as unavailable
        return False


def resolve_runtime(requested: str, device: str) -> str:
    """'auto' -> 'openvino' on a CPU where it is installed, else 'torch' (always 'torch' on CUDA)."""
    if requested not in RUNTIMES:
        raise EngineError("runtime", f"unknown runtime {requested!r}; choose one of {', '.join(RUNTIMES)}")
    if requested == "auto":
        return "openvino" if device == "cpu" and openvino_available() else "torch"
    if requested == "openvino":
        if device != "cpu":
            raise EngineError("runtime", f"the openvino runtime runs on the CPU, not on {device!r}")
        if not openvino_available():
            raise EngineError("runtime", "the openvino runtime was requested but OpenVINO is not installed "
                                         "(pip install openvino)")
    return requested


def openmp_environment(runtime: str = "auto", device: str = "auto",
                       env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables for PyTorch's OpenMP threads, to be set before torch is imported.

    When OpenVINO runs the network on the CPU (``runtime`` auto or openvino, OpenVINO installed, the
    device not CUDA), PyTorch still runs the pre- and post-processing, and its OpenMP threads by default
    spin for a while after each parallel operation: the network that follows then shares the cores with
    them. ``OMP_WAIT_POLICY=PASSIVE`` lets them sleep instead (without it the network ran slower right
    after PyTorch work, with it not: benchmarks/RESULTS.md). Not for the PyTorch runtime,
    whose own network it slows. A value already in ``env`` (default: the environment) is kept."""
    env = os.environ if env is None else env
    if "OMP_WAIT_POLICY" in env or runtime.strip() == "torch" or device.strip().startswith("cuda"):
        return {}
    if importlib.util.find_spec("openvino") is None:
        return {}
    return {"OMP_WAIT_POLICY": "PASSIVE"}


def colorizer_for(model: nn.Module, *, precision: str = "fp32", runtime: str = "torch",
                  channels_last: bool = False, threads: int = 0, cache_size: int = 4,
                  metadata: dict | None = None) -> nn.Module:
    """Wrap a loaded UNetColorizer (on its device) to run in ``precision`` with ``runtime``.

    ``channels_last`` (PyTorch only; OpenVINO chooses its own layouts) converts the model's weights in
    place: oneDNN and cuDNN run NHWC convolutions faster. ``threads`` and ``cache_size`` are OpenVINO's
    (0: its default; compiled input shapes kept)."""
    first = next(model.parameters(), None)
    device = str(first.device) if first is not None else "cpu"
    return _wrap(model, device, resolve_precision(precision, device), resolve_runtime(runtime, device),
                 channels_last, threads, cache_size, metadata)


def load_colorizer(path: str | Path, *, device: str = "auto", precision: str = "fp32", runtime: str = "torch",
                   channels_last: bool = False, threads: int = 0, cache_size: int = 4) -> nn.Module:
    """Load a checkpoint (colorize.checkpoint.load_model) and return it ready to run, as ``colorizer_for``.

    ``threads`` > 0 also sets PyTorch's threads for this process. The device, precision and runtime are
    checked before any weights are read: EngineError says which setting cannot be used (CheckpointError,
    which file cannot be)."""
    from colorize.checkpoint import load_model

    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    runtime = resolve_runtime(runtime, device)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    model, metadata = load_model(path, device=device)
    return _wrap(model, device, precision, runtime, channels_last, threads, cache_size, metadata)


def _wrap(model: nn.Module, device: str, precision: str, runtime: str, channels_last: bool, threads: int,
          cache_size: int, metadata: dict | None) -> nn.Module:
    from colorize.runtime import OpenVinoColorizer, TorchColorizer

    if runtime == "openvino":
        try:
            colorizer = OpenVinoColorizer(model, precision, threads=threads, cache_size=cache_size)
        except Exception as exc:  # noqa: BLE001 - any conversion failure: the runtime setting avoids it
            raise CompileFailed("runtime", f"OpenVINO could not compile the model ({exc})") from exc
    else:
        colorizer = TorchColorizer(model, precision, channels_last=channels_last, device=device)
    colorizer.metadata = dict(metadata or {})
    return colorizer
