"""Ship a trained hint decoder with the automatic model it was made from: one checkpoint that answers as
the automatic model without hints and takes colour hints (colorize.hints).

    python -m training.shipping.hints --automatic models/colorizer.safetensors \
        --hints runs/lite0_hints/best.safetensors --out models/colorizer.safetensors

The automatic checkpoint's metadata (training, metrics, calibration, render size) is kept; the hint run's
goes under "hints". Refused when the hint run's encoder or automatic decoder differ from the automatic
checkpoint's: the automatic answer must not move.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from colorize.checkpoint import load_model, read_metadata, save_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--automatic", type=Path, required=True, help="the automatic checkpoint the hint run started from")
    p.add_argument("--hints", type=Path, required=True, help="the hint run's checkpoint (training.train, hints: true)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    auto, auto_meta = load_model(args.automatic)
    hinted, hint_meta = load_model(args.hints)
    if not hinted.config.hints or auto.config.hints:
        print("training.shipping.hints: --hints must take hints and --automatic must not", file=sys.stderr)
        return 2
    theirs = hinted.state_dict()
    moved = [k for k, v in auto.state_dict().items() if not torch.equal(v, theirs[k])]
    if moved or hinted.config.chroma_gain != auto.config.chroma_gain:
        print(f"training.shipping.hints: the automatic part differs ({moved[:3]}, chroma gain "
              f"{hinted.config.chroma_gain} vs {auto.config.chroma_gain})", file=sys.stderr)
        return 2
    meta = {k: v for k, v in auto_meta.items()
            if k not in ("format_version", "colorize_version", "architecture", "storage_dtype", "weights_sha256")}
    meta["hints"] = {"training": hint_meta.get("training", {}), "metrics": hint_meta.get("metrics", {})}
    dtype = torch.float16 if read_metadata(args.automatic).get("storage_dtype") == "float16" else None
    save_model(hinted, args.out, meta, dtype=dtype)
    print(f"wrote {args.out}: {auto.config.name}, automatic part of {args.automatic}, hint decoder of {args.hints}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
