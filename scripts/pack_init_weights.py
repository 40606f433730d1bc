"""Shrink a checkpoint to carry it to a lent GPU machine as the start of a fine-tuning run, and rebuild it there.

    python -m scripts.pack_init_weights pack models/colorizer.safetensors gpu_init/init8.safetensors
    python -m scripts.pack_init_weights unpack gpu_init/init8.safetensors /tmp/init.safetensors

A lent machine takes 64 MiB of working tree in all, and unet_resnet34 alone is 49 MB in fp16, which
leaves no room for photos. ``pack`` stores every weight tensor of 2 or more dimensions with at least
4,096 values as int8 with one fp32 scale per output channel (symmetric, round to nearest: 0.4% of a
channel's largest weight at most), the rest as they are: about half the size. ``unpack`` turns it back
into an ordinary checkpoint in fp32 (colorize.checkpoint) for ``training.train --init-from``. A start
for fine-tuning, never a model to ship: the rounding costs accuracy that the fine-tuning has to win back.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from colorize.checkpoint import load_model, save_model
from colorize.models import ModelConfig, UNetColorizer

_META_KEY = "colorize-int8-pack"
_SCALE = ".__int8_scale"


def quantize(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 values and fp32 per-output-channel scales with ``q * scale ~= w``."""
    flat = w.detach().float().reshape(w.shape[0], -1)
    scale = (flat.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    q = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.reshape(w.shape), scale


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (q.float().reshape(q.shape[0], -1) * scale[:, None]).reshape(q.shape)


def pack(src: Path | str, dst: Path | str) -> dict:
    src, dst = Path(src), Path(dst)
    model, meta = load_model(src)
    state, packed = {}, 0
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        if t.is_floating_point() and t.dim() >= 2 and t.numel() >= 4096:
            state[name], state[name + _SCALE] = quantize(t)
            packed += 1
        else:
            state[name] = t.clone()
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(dst), metadata={_META_KEY: json.dumps(meta)})
    return {"tensors_int8": packed, "bytes": dst.stat().st_size, "source_bytes": src.stat().st_size}


def unpack(src: Path | str, dst: Path | str) -> dict:
    src, dst = Path(src), Path(dst)
    from safetensors import safe_open

    with safe_open(str(src), "pt") as fh:
        meta = json.loads(fh.metadata()[_META_KEY])
    raw = load_file(str(src))
    state = {k: (dequantize(v, raw[k + _SCALE]) if k + _SCALE in raw else v.float() if v.is_floating_point() else v)
             for k, v in raw.items() if not k.endswith(_SCALE)}
    model = UNetColorizer(ModelConfig.from_architecture(meta["architecture"]))
    model.load_state_dict(state, strict=True)
    keep = {k: v for k, v in meta.items() if k in ("training", "metrics", "name", "version", "render_size")}
    keep["packed_from"] = {"int8": True, "weights_sha256": meta.get("weights_sha256")}
    return save_model(model, dst, keep)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="int8-pack a checkpoint to carry it, or unpack it for --init-from.")
    p.add_argument("action", choices=["pack", "unpack"])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    args = p.parse_args(argv)
    result = (pack if args.action == "pack" else unpack)(args.src, args.dst)
    print(json.dumps({k: v for k, v in result.items() if k in ("tensors_int8", "bytes", "source_bytes",
                                                                "weights_sha256")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
