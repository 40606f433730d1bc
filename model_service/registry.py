"""The worker's models: one Predictor per checkpoint in MODEL_CHECKPOINTS, by name, and the default one.

Every checkpoint's metadata is read and the names checked before any weights are loaded, so a typo in a
setting fails the start in a second instead of after several models have been loaded.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from colorize.bodies import release_freed_memory
from colorize.checkpoint import CheckpointError, model_name, read_metadata
from model_service.config import ConfigError
from model_service.gate import InferenceGate
from model_service.predictor import CHECKPOINT_FIX, ModelLoadError, Predictor

log = logging.getLogger(__name__)

# A name travels in form fields, query strings and the X-Model-Name header (Latin-1 only): keep it plain.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


class UnknownModel(LookupError):
    """A request named a model this service does not serve."""

    def __init__(self, name: str, names: list[str]):
        super().__init__(f"unknown model {name!r}; choose one of: {', '.join(names)}")
        self.name, self.names = name, names


def checkpoint_names(paths: list[str]) -> list[str]:
    """Each checkpoint's model name, from its metadata alone; ModelLoadError names a missing or bad file."""
    names = []
    for path in paths:
        try:
            name = model_name(read_metadata(path))
        except CheckpointError as exc:
            raise ModelLoadError(f"{exc}. {CHECKPOINT_FIX}") from exc
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(f"{path}: model name {name!r} must be 1-64 letters, digits, '.', '_', '+' or '-' "
                              "(set \"model_name\" in its metadata)")
        names.append(name)
    return names


def check_names(paths: list[str], names: list[str], default: str) -> str:
    """The default model's name; ConfigError, listing the names, for a duplicate or an unknown default."""
    listed = ", ".join(f"{name} ({path})" for name, path in zip(names, paths, strict=True))
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"MODEL_CHECKPOINTS: more than one checkpoint is named {name!r}; each needs its own "
                              f"name (\"model_name\" in its metadata, else its architecture's). Models: {listed}")
    if default and default not in names:
        raise ConfigError(f"MODEL_DEFAULT={default!r} is not one of the models loaded: {listed}")
    return default or names[0]


class ModelRegistry:
    """name -> Predictor, all behind one InferenceGate, and the name a request gets when it names none."""

    def __init__(self, predictors: dict[str, Predictor], default_name: str, gate: InferenceGate):
        self.predictors, self.default_name, self.gate = predictors, default_name, gate
        self.warm_up_thread: threading.Thread | None = None  # gunicorn's post_worker_init joins it

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelRegistry:
        """Check every checkpoint's name, then load each; ConfigError or ModelLoadError say what to fix."""
        paths = list(config["MODEL_CHECKPOINTS"])
        names = checkpoint_names(paths)
        default = check_names(paths, names, config["MODEL_DEFAULT"])
        if config["MODEL_CHECKPOINT"] and config["MODEL_CHECKPOINT"] not in paths:
            log.warning("MODEL_CHECKPOINT=%s is ignored: MODEL_CHECKPOINTS is set", config["MODEL_CHECKPOINT"])
        # One gate: MAX_CONCURRENT_INFERENCES and MAX_QUEUE bound the worker, whichever models are asked for.
        gate = InferenceGate(config["MAX_CONCURRENT_INFERENCES"], config["MAX_QUEUE"], config["QUEUE_TIMEOUT"])
        predictors = {name: Predictor.from_config(config, path, gate) for name, path in zip(names, paths, strict=True)}
        return cls(predictors, default, gate)

    @property
    def names(self) -> list[str]:
        return list(self.predictors)

    @property
    def default(self) -> Predictor:
        return self.predictors[self.default_name]

    def get(self, name: str | None = None) -> Predictor:
        """The named model, or the default for None or ""; UnknownModel otherwise."""
        if not name:
            return self.default
        try:
            return self.predictors[name]
        except KeyError:
            raise UnknownModel(name, self.names) from None

    def hint_models(self) -> list[str]:
        """The names of the models that take colour hints."""
        return [name for name, p in self.predictors.items() if p.takes_hints]

    def vividness_models(self) -> list[str]:
        """The names of the models with a colour distribution (they take ``vividness``)."""
        return [name for name, p in self.predictors.items() if p.takes_vividness]

    @property
    def ready(self) -> bool:
        return all(p.ready for p in self.predictors.values())

    def states(self) -> dict[str, str]:
        """Each model's serving state: loaded, warming, ready or failed."""
        return {name: p.state for name, p in self.predictors.items()}

    def warm_up(self) -> None:
        """Warm up every model, one after the other (they share the gate, so they would queue anyway)."""
        for predictor in self.predictors.values():
            predictor.warm_up()
        # Loading leaves about 100 MB of cyclic garbage (the models' conversion): give it back once, before
        # the worker takes requests, so that two workers fit one container (docs/limits.md).
        release_freed_memory(collect=True)

    def start_warm_up(self) -> threading.Thread:
        """Warm up in the background, so /healthz and /readyz answer meanwhile."""
        self.warm_up_thread = threading.Thread(target=self.warm_up, name="model-warm-up", daemon=True)
        self.warm_up_thread.start()
        return self.warm_up_thread

    def describe(self) -> dict[str, Any]:
        """What GET /v1/models answers: every model, flagged default or not, and the default's name."""
        models = [{**p.describe(), "default": name == self.default_name} for name, p in self.predictors.items()]
        return {"models": models, "default": self.default_name}
