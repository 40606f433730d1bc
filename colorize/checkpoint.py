"""save_model / load_model: safetensors weights (no pickle) with JSON metadata in the file header.

The metadata records the architecture (the model's ModelConfig: ``{"name": ..., "config": {fields}}``) so
that load_model rebuilds exactly the model that was trained, plus whatever the caller adds (training data,
metrics, ...), the package version and the sha256 of the weights, which load_model verifies. A readable
copy of the metadata is written beside the weights as ``<name>.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from colorize import __version__
from colorize.models import ModelConfig, UNetColorizer

_META_KEY = "colorize"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt or does not match its architecture."""


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """A digest of the tensors themselves (names, dtypes, shapes and bytes), independent of the file."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_model(model: torch.nn.Module, path: str | Path, metadata: dict | None = None,
               dtype: torch.dtype | None = None) -> dict:
    """Write ``model``'s weights to ``path`` (.safetensors); ``dtype=torch.float16`` halves the file."""
    path = Path(path)
    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise ValueError("save_model needs a UNetColorizer (colorize.models.create_model), which has a ModelConfig")
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.clone()
    meta = {
        **(metadata or {}),
        "format_version": FORMAT_VERSION,
        "colorize_version": __version__,
        "architecture": config.to_architecture(),
        "storage_dtype": str(dtype or torch.float32).replace("torch.", ""),
        "weights_sha256": weights_sha256(state),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={_META_KEY: json.dumps(meta)})
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def read_metadata(path: str | Path) -> dict:
    """The metadata of a checkpoint, without loading its weights."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if not 0 < n < 100_000_000:
                raise ValueError("bad header length")
            header = json.loads(fh.read(n))
        return json.loads(header["__metadata__"][_META_KEY])
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise CheckpointError(f"{path} is not a colorize checkpoint (safetensors with metadata): {exc}") from exc


def model_name(meta: dict) -> str:
    """The name a checkpoint goes by (the service's model=, the CLI's --model): its metadata's model_name,
    else its architecture's name."""
    return str(meta.get("model_name") or (meta.get("architecture") or {}).get("name") or "unnamed")


def find_checkpoint(name: str, paths: list[Path]) -> Path:
    """The checkpoint among ``paths`` that goes by ``name``; ValueError listing the names when none does."""
    names = {}
    for path in paths:
        names.setdefault(model_name(read_metadata(path)), Path(path))
    if name not in names:
        raise ValueError(f"unknown model {name!r}; the shipped models are: {', '.join(names)}")
    return names[name]


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model a checkpoint describes, load its weights, return ``(model.eval(), metadata)``."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the weights: {exc}") from exc
    if meta.get("weights_sha256") and weights_sha256(state) != meta["weights_sha256"]:
        raise CheckpointError(f"{path}: weights do not match their recorded sha256 (file corrupt?)")
    arch = meta.get("architecture") or {}
    try:
        model = UNetColorizer(ModelConfig.from_architecture(arch))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: unknown or invalid architecture {arch!r}: {exc}") from exc
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: weights do not fit architecture {arch.get('name')!r}: {str(exc)[:500]}"
        ) from exc
    return model.to(device).eval(), meta
