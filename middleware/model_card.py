"""The models' cards on the about page and the upload page's choice, from the model service's ``GET /v1/models``
(``{"models": [entry, ...], "default": name}``; a service before several models answered one entry)."""

from __future__ import annotations


def model_entries(info: dict) -> list[dict]:
    """Every model's entry in a ``GET /v1/models`` answer."""
    if isinstance(info.get("models"), list):
        return [entry for entry in info["models"] if isinstance(entry, dict)]
    return [info] if info else []


def model_choices(info: dict) -> tuple[list[str], str | None]:
    """The models' names, in the service's order, and the one a request without ``model`` gets."""
    entries = model_entries(info)
    names = [str(entry["name"]) for entry in entries if entry.get("name")]
    if info.get("default") in names:
        return names, info["default"]
    flagged = [str(entry["name"]) for entry in entries if entry.get("default") is True and entry.get("name")]
    return names, (flagged or names or [None])[0]


def model_cards(info: dict) -> list[dict]:
    """A card per model, the default one first (it is the one a photo gets unless another is chosen)."""
    _, default = model_choices(info)
    cards = [{**model_card(entry), "default": entry.get("name") == default} for entry in model_entries(info)]
    return sorted(cards, key=lambda card: not card["default"])


def model_card(info: dict) -> dict:
    """The few facts a person wants about one model: its entry, or the default one of a whole answer."""
    entries = model_entries(info)
    if "models" in info and entries:
        _, default = model_choices(info)
        info = next((entry for entry in entries if entry.get("name") == default), entries[0])
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
