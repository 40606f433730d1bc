"""The training configuration: one dataclass, filled from a YAML file and command-line overrides
(``get_args_parser``: training.train's options).

Unknown keys and values of the wrong type or range stop at once with a message that names them.
The resolved configuration is written beside every run's outputs and stored in its checkpoints.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from colorize.models import list_models


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the colorization U-Net.")
    p.add_argument("--config", type=Path, help="YAML file (training/configs/*.yaml)")
    p.add_argument("--data", nargs="+", help="training image folders (read recursively)")
    p.add_argument("--val-data", help="validation folder (default: hold out --val-fraction of --data)")
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--arch")
    p.add_argument("--pretrained", help="'imagenet' (needs internet) or 'none'")
    p.add_argument("--init-from", help="start from this checkpoint's weights (.safetensors), e.g. to fine-tune")
    p.add_argument("--finetune-fraction", type=float, help="share of the steps in phase 2 (MSE); 1: all")
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--max-minutes", type=float, help="wall-clock budget: the schedule is fitted to it")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--crop-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--out", help="run folder")
    p.add_argument("--device", help="auto, cpu, cuda")
    p.add_argument("--precision", help="auto (on a CPU: the fastest, timed), fp32, bf16, bf16-autocast")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels_last memory format for the model and its input")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="torch.compile the model")
    p.add_argument("--workers", type=int)
    p.add_argument("--val-every", type=int)
    p.add_argument("--resume", action="store_true", default=None, help="continue from RUN_DIR/last.pt")
    p.add_argument("--gan", action="store_true", default=None, help="add the PatchGAN critic")
    p.add_argument("--seed", type=int)
    return p


class ConfigError(ValueError):
    """A configuration key or value is wrong."""


@dataclass
class TrainConfig:
    arch: str = "unet_resnet34"
    pretrained: str | None = None
    init_from: str | None = None  # a .safetensors checkpoint of the same arch: its weights start the run (fine-tuning)
    data: list[str] = field(default_factory=lambda: ["../shared/data/train"])
    val_data: str | None = None  # a folder; without it, val_fraction of data is held out
    val_fraction: float = 0.02
    val_split: str = "shuffle"  # hash: by file name, stays put when photos are added (training.data.hash_split)
    val_max_images: int = 512
    epochs: int = 1
    max_steps: int | None = None  # overrides epochs when set
    # a wall-clock budget for this invocation: after a short measurement the schedule's length (cosine,
    # phase 2) is fitted to it (capped by max_steps when set; epochs are then ignored), and training stops
    # at the deadline even if the measurement was optimistic
    max_minutes: float | None = None
    batch_size: int = 16
    crop_size: int = 128
    val_crop_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    ssim_weight: float = 1e-3  # lambda of the method
    finetune_fraction: float = 0.2  # last part of training: MSE + lambda(1-SSIM) instead of L1
    # file-name prefix -> sampling weight (others 1): e.g. {intelscene_: 0.35} draws the 21,500 Intel scenes
    # about as often as the 7,400 other photos together
    sample_weights: dict[str, float] | None = None
    # train the hint decoder of a hint-taking model (colorize.hints, Zhang et al. 2017): hints drawn from the
    # truth, the encoder and the automatic decoder frozen; init_from may hold an automatic model
    hints: bool = False
    val_hints: int = 10  # hints per held-out photo when validating a hint-taking model
    # train the decoder only: the encoder's weights and BatchNorm statistics stay as init_from (or the
    # pretrained weights) left them, so a hint decoder that reads the same encoder taps stays valid
    freeze_encoder: bool = False
    # grow a distribution head over ab bins (colorize.distribution, Zhang et al. 2016) on init_from's model,
    # trained by cross-entropy weighted by this prior's class-rebalancing weights (scripts.make_ab_prior);
    # the encoder, the regression head and any hint decoder stay as init_from left them
    prior: str | None = None
    gan: bool = False
    gan_pretrain_steps: int = 0  # generator steps with reconstruction only, before the critic joins
    gan_recon_weight: float = 100.0
    critic_lr: float = 2e-4
    device: str = "auto"
    # auto | fp32 | bf16 | bf16-autocast. auto: bf16 on CUDA; on a CPU a few steps of each candidate (fp32
    # and the bf16 replica, channels_last on and off) are timed and the fastest trains (precision.json).
    # bf16 on CUDA is autocast; on a CPU with bf16 units a bf16 replica of the model with fp32 master weights
    # (training.precision); without them, fp32
    precision: str = "auto"
    channels_last: bool = False
    compile: bool = False
    workers: int = 2
    seed: int = 0
    log_every: int = 20
    val_every: int | None = None  # steps (and at the end); without it, at the end of every epoch
    # keep the weights of every validation: snapshots/step_N.safetensors (training.shipping.average)
    snapshots: bool = False
    out: str = "runs/default"
    resume: bool = False

    _CHOICES = {"precision": ("auto", "fp32", "bf16", "bf16-autocast"), "pretrained": (None, "imagenet"),
                "val_split": ("shuffle", "hash")}

    def validate(self) -> TrainConfig:
        if self.pretrained == "none":
            self.pretrained = None
        if self.arch not in list_models():
            raise ConfigError(f"arch: unknown model {self.arch!r}; choose one of {list_models()}")
        for key, allowed in self._CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key}: {getattr(self, key)!r} is not one of {allowed}")
        positive = ("epochs", "batch_size", "crop_size", "val_crop_size", "lr", "log_every")
        for key in positive:
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key}: must be > 0, got {getattr(self, key)!r}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"max_steps: must be > 0, got {self.max_steps}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"max_minutes: must be > 0, got {self.max_minutes}")
        if not 0 <= self.finetune_fraction <= 1 or not 0 <= self.val_fraction < 1:
            raise ConfigError("finetune_fraction must be in [0, 1] and val_fraction in [0, 1)")
        if self.crop_size < 32 or self.val_crop_size < 32:
            raise ConfigError("crop_size and val_crop_size must be at least 32")
        if self.ssim_weight < 0:
            raise ConfigError("ssim_weight must be >= 0")
        if self.prior and not self.init_from:
            raise ConfigError("prior: a distribution head grows on a trained model: init_from must name one")
        if self.prior and self.crop_size % 32:
            raise ConfigError("prior: crop_size must be a multiple of 32 (the head's logits match the crop)")
        if self.freeze_encoder and not (self.init_from or self.pretrained):
            raise ConfigError("freeze_encoder: the encoder must come trained, from init_from or pretrained")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(key: str, value, hint) -> object:
    """Check ``value`` against the field's type hint (YAML already parsed numbers and booleans)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{key}: may not be null")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(key, value, inner)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        out = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"{key}: {k!r} needs a positive number, got {v!r}")
            out[str(k)] = float(v)
        return out
    if origin is list:
        items = value if isinstance(value, list) else [value]
        return [str(v) for v in items]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if hint is int and float(value) != int(value):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def build_config(path: str | Path | None, overrides: dict) -> TrainConfig:
    """Defaults <- YAML file <- overrides (None values in overrides mean 'not given')."""
    values: dict = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of keys to values")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    hints = typing.get_type_hints(TrainConfig)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    typed = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    return TrainConfig(**typed).validate()


def save_config(config: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
