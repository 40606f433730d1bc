"""One worker's model: loaded once in the app factory (colorize.engine.load_colorizer), warmed up, run under
the gate."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from colorize.checkpoint import CheckpointError, model_name
from colorize.engine import CompileFailed, EngineError, load_colorizer
from colorize.pipeline import colorize_upright, recommended_render_size, takes_hints, takes_vividness
from model_service.gate import InferenceGate

log = logging.getLogger(__name__)

# The setting behind each of colorize.engine's choices, named in a ModelLoadError.
_SETTINGS = {"device": "MODEL_DEVICE", "precision": "MODEL_PRECISION", "runtime": "MODEL_RUNTIME"}
CHECKPOINT_FIX = ("Set MODEL_CHECKPOINTS (comma-separated; or MODEL_CHECKPOINT for one) to colorize checkpoints "
                  "(.safetensors files written by colorize.checkpoint.save_model)")


class ModelLoadError(RuntimeError):
    """The model cannot be loaded: missing or bad checkpoint, or an unavailable device."""


class NotReady(RuntimeError):
    """The model is loaded but its warm-up inference has not finished (or failed)."""


class Predictor:
    """The model plus its serving state: loading -> warming -> ready (or failed)."""

    def __init__(self, model: torch.nn.Module, *, checkpoint: str, gate: InferenceGate, render_size: int):
        """``model``: a colorizer from colorize.engine, which knows its metadata, device, precision and runtime."""
        self.model, self.metadata, self.checkpoint = model, model.metadata, checkpoint
        self.runtime, self.device, self.precision = model.runtime, model.device, model.precision
        self.channels_last = model.channels_last
        self.gate, self.render_size = gate, render_size
        self.state = "loaded"
        self.failure = ""
        self.warm_up_thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], path: str, gate: InferenceGate | None = None) -> Predictor:
        """Load the checkpoint at ``path`` as the config says; raise ModelLoadError with the fix.

        ``gate``: shared by all of a worker's models (one inference at a time across them); else a new one."""
        try:
            model = load_colorizer(path, device=config["MODEL_DEVICE"], precision=config["MODEL_PRECISION"],
                                   runtime=config["MODEL_RUNTIME"], channels_last=config["MODEL_CHANNELS_LAST"],
                                   threads=config["MODEL_THREADS"])
        except CheckpointError as exc:
            raise ModelLoadError(f"{exc}. {CHECKPOINT_FIX}") from exc
        except CompileFailed as exc:
            raise ModelLoadError(f"{exc}; set MODEL_RUNTIME=torch to serve it with PyTorch") from exc
        except EngineError as exc:
            setting = _SETTINGS[exc.setting]
            raise ModelLoadError(f"{setting}={config[setting]!r}: {exc}") from exc
        gate = gate or InferenceGate(config["MAX_CONCURRENT_INFERENCES"], config["MAX_QUEUE"],
                                     config["QUEUE_TIMEOUT"])
        return cls(model, checkpoint=str(path), gate=gate,
                   render_size=config["DEFAULT_RENDER_SIZE"] or recommended_render_size(model.metadata))

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
                colorize_upright(ramp, self.model, self.render_size)
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

    @property
    def takes_hints(self) -> bool:
        return takes_hints(self.model)

    @property
    def takes_vividness(self) -> bool:
        return takes_vividness(self.model)

    @property
    def vividness(self) -> float | None:
        """The vividness this model answers with when a request names none (None: it has no distribution)."""
        return float(self.model.config.vividness) if self.takes_vividness else None

    def colorize(self, image: Image.Image | np.ndarray, render_size: int, depth: int = 8,
                 hints: list | None = None, vividness: float | None = None
                 ) -> tuple[Image.Image | np.ndarray, dict[str, float]]:
        """Colorize an image from model_service.decode (its EXIF orientation applied there); returns the result
        (a uint16 array for ``depth`` 16) and its timings in ms (call inside ``slot()``). ``hints``: colour
        hints (colorize.hints) in the upright photo's pixels; ``vividness``: for a model with a colour
        distribution (colorize.distribution), None for its own."""
        timings: dict[str, float] = {}
        result = colorize_upright(image, self.model, render_size, timings=timings, depth=depth, hints=hints,
                                  vividness=vividness)
        return result, timings

    def describe(self) -> dict[str, Any]:
        """What /v1/models reports: the checkpoint's metadata and how this worker serves it."""
        meta = self.metadata
        return {
            "name": self.name,
            "version": self.version,
            "architecture": meta.get("architecture"),
            "hints": self.takes_hints,
            "vividness": self.vividness,
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
