"""The model card shown on the about page, from the model service's ``GET /v1/models``."""

from __future__ import annotations


def model_card(info: dict) -> dict:
    """The few facts a person wants from ``GET /v1/models`` (``{"models": [entry]}`` or one entry)."""
    if isinstance(info.get("models"), list) and info["models"]:
        info = info["models"][0]
    meta = info.get("metadata") if isinstance(info.get("metadata"), dict) else {}

    def pick(key: str):
        return info.get(key) or meta.get(key)

    arch = pick("architecture") or {}
    arch = arch if isinstance(arch, dict) else {"name": str(arch)}
    training = pick("training") or {}
    metrics = pick("metrics") or {}
    serving = info.get("serving") if isinstance(info.get("serving"), dict) else {}
    return {
        "name": info.get("name") or arch.get("name"),
        "architecture": arch.get("name"),
        "config": arch.get("config") or {},
        "version": info.get("version"),
        "colorize_version": pick("colorize_version"),
        "training": training if isinstance(training, dict) else {"data": training},
        "metrics": _flatten(metrics) if isinstance(metrics, dict) else {},
        "sha256": pick("weights_sha256"),
        "serving": {k: serving[k] for k in ("device", "precision") if serving.get(k)},
    }


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key} "))
        else:
            flat[f"{prefix}{key}"] = round(value, 4) if isinstance(value, float) else value
    return flat
