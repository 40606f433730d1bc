"""One worker's model: loaded once in the app factory, prepared for speed, warmed up, run under the gate."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from colorize import resolve_device
from colorize.checkpoint import CheckpointError, load_model, model_name
from colorize.pipeline import colorize, recommended_render_size
from colorize.runtime import OpenVinoColorizer, resolve_runtime
from model_service.gate import InferenceGate

log = logging.getLogger(__name__)

_BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}
CHECKPOINT_FIX = ("Set MODEL_CHECKPOINTS (comma-separated; or MODEL_CHECKPOINT for one) to colorize checkpoints "
                  "(.safetensors files written by colorize.checkpoint.save_model)")


class ModelLoadError(RuntimeError):
    """The model cannot be loaded: missing or bad checkpoint, or an unavailable device."""


class NotReady(RuntimeError):
    """The model is loaded but its warm-up inference has not finished (or failed)."""


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


def resolve_precision(requested: str, device: str) -> str:
    """'auto' -> 'bf16' on CUDA GPUs that support it and on CPUs with AMX or AVX512-BF16, else 'fp32'."""
    if requested != "auto":
        return requested
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_flags() & _BF16_CPU_FLAGS else "fp32"


def prepare_model(model: torch.nn.Module, channels_last: bool, precision: str = "fp32") -> torch.nn.Module:
    """channels_last weights when asked (oneDNN and cuDNN run NHWC convolutions faster).

    A bf16 answer with non-finite values is rerun in fp32 by colorize.pipeline.predict_ab itself.
    """
    return model.to(memory_format=torch.channels_last) if channels_last else model


class Predictor:
    """The model plus its serving state: loading -> warming -> ready (or failed)."""

    def __init__(self, model: torch.nn.Module, metadata: dict[str, Any], *, checkpoint: str, device: str,
                 precision: str, channels_last: bool, gate: InferenceGate, render_size: int,
                 runtime: str = "torch"):
        self.model, self.metadata, self.checkpoint = model, metadata, checkpoint
        self.runtime = runtime
        self.device, self.precision, self.channels_last = device, precision, channels_last
        self.gate, self.render_size = gate, render_size
        self.state = "loaded"
        self.failure = ""
        self.warm_up_thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], path: str, gate: InferenceGate | None = None) -> Predictor:
        """Load the checkpoint at ``path`` onto the config's device; raise ModelLoadError with the fix.

        ``gate``: shared by all of a worker's models (one inference at a time across them); else a new one."""
        try:
            device = resolve_device(config["MODEL_DEVICE"])
        except RuntimeError as exc:
            raise ModelLoadError(f"MODEL_DEVICE={config['MODEL_DEVICE']!r}: {exc}") from exc
        torch.set_num_threads(config["MODEL_THREADS"])
        try:
            model, metadata = load_model(path, device=device)
        except CheckpointError as exc:
            raise ModelLoadError(f"{exc}. {CHECKPOINT_FIX}") from exc
        gate = gate or InferenceGate(config["MAX_CONCURRENT_INFERENCES"], config["MAX_QUEUE"],
                                     config["QUEUE_TIMEOUT"])
        precision = resolve_precision(config["MODEL_PRECISION"], device)
        try:
            runtime = resolve_runtime(config["MODEL_RUNTIME"], device)
        except ValueError as exc:
            raise ModelLoadError(f"MODEL_RUNTIME={config['MODEL_RUNTIME']!r}: {exc}") from exc
        if runtime == "openvino":
            channels_last = False  # OpenVINO chooses its own layouts
            try:
                model = OpenVinoColorizer(model, precision, threads=config["MODEL_THREADS"])
            except Exception as exc:  # noqa: BLE001 - any conversion failure: say which setting avoids it
                raise ModelLoadError(f"OpenVINO could not compile the model ({exc}); "
                                     "set MODEL_RUNTIME=torch to serve it with PyTorch") from exc
        else:
            channels_last = config["MODEL_CHANNELS_LAST"]
            model = prepare_model(model, channels_last, precision)
        return cls(model, metadata, checkpoint=str(path), device=device, precision=precision,
                   channels_last=channels_last, gate=gate,
                   render_size=config["DEFAULT_RENDER_SIZE"] or recommended_render_size(metadata),
                   runtime=runtime)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def name(self) -> str:
        return model_name(self.metadata)

    @property
    def version(self) -> str:
        """The checkpoint's own version, else the start of its weights' sha256."""
        return str(self.metadata.get("version") or self.metadata.get("weights_sha256", "unknown")[:12])

    def warm_up(self) -> None:
        """One inference on a synthetic photo at the default render size, so the first request is not slow."""
        self.state = "warming"
        start = time.perf_counter()
        try:
            ramp = Image.linear_gradient("L").resize((self.render_size, self.render_size))
            with self.gate.slot():
                colorize(ramp, self.model, self.render_size, precision=self.precision)
        except Exception as exc:  # noqa: BLE001 - reported by /readyz and the log, the worker stays up
            self.state, self.failure = "failed", f"warm-up inference failed: {exc}"
            log.exception("warm-up inference failed")
            return
        self.state = "ready"
        log.info("model %s %s ready on %s (%s, %s%s) after a %.0f ms warm-up", self.name, self.version,
                 self.device, self.runtime, self.precision, ", channels_last" if self.channels_last else "",
                 (time.perf_counter() - start) * 1000)

    def start_warm_up(self) -> threading.Thread:
        """Warm up in the background, so /healthz and /readyz answer meanwhile."""
        thread = threading.Thread(target=self.warm_up, name="model-warm-up", daemon=True)
        thread.start()
        self.warm_up_thread = thread
        return thread

    @contextmanager
    def slot(self) -> Iterator[None]:
        """An inference slot (InferenceGate.slot); NotReady before the warm-up has finished."""
        if not self.ready:
            raise NotReady(self.failure or "the model's warm-up inference has not finished")
        with self.gate.slot():
            yield

    def colorize(self, image: Image.Image, render_size: int) -> tuple[Image.Image, dict[str, float]]:
        """Colorize a decoded image; returns the result and its timings in ms (call inside ``slot()``)."""
        timings: dict[str, float] = {}
        result = colorize(image, self.model, render_size, precision=self.precision, timings=timings)
        return result, timings

    def describe(self) -> dict[str, Any]:
        """What /v1/models reports: the checkpoint's metadata and how this worker serves it."""
        meta = self.metadata
        return {
            "name": self.name,
            "version": self.version,
            "architecture": meta.get("architecture"),
            "training": meta.get("training", {}),
            "metrics": meta.get("metrics", {}),
            "colorize_version": meta.get("colorize_version"),
            "weights_sha256": meta.get("weights_sha256"),
            "checkpoint": Path(self.checkpoint).name,
            "metadata": meta,
            "serving": {
                "state": self.state,
                "worker_pid": os.getpid(),
                "device": self.device,
                "runtime": self.runtime,
                "precision": self.precision,
                "channels_last": self.channels_last,
                "torch_threads": torch.get_num_threads(),
                "max_concurrent_inferences": self.gate.slots,
                "max_queue": self.gate.max_queue,
                "default_render_size": self.render_size,
            },
        }
