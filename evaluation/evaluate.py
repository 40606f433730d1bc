"""Evaluate a checkpoint (and the grey baseline) on image folders, as the service would colorize them.

    python -m evaluation.evaluate --checkpoint models/colorizer.safetensors \
        --data ../shared/data/bench/* --json eval.json --markdown eval.md

Each photo's ground truth is given to colorize.pipeline.colorize at full resolution (a colour input is
reduced to its lightness there); the grey baseline is the same lightness with ab = 0. MSE and PSNR are
on 0-255 RGB, SSIM as colorize.metrics.ssim, colourfulness after Hasler & Suesstrunk; all averaged per set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from colorize import metrics
from colorize.pipeline import colorize, recommended_render_size
from evaluation.measure import grey_baseline, image_metrics, load_photo, truth_tensor, write_report
from evaluation.paper_table import markdown_table
from training.data import list_images

METRICS = ("mse", "psnr", "ssim", "colourfulness")


def evaluate_folder(folder: Path, model, render_size: int, limit: int | None, vividness: float | None = None) -> dict:
    """``model``: a colorizer (colorize.engine.load_colorizer; its precision is its own), or None for the
    grey baseline alone. ``vividness``: for a model with a colour distribution; None: its own."""
    files = list_images([folder])[:limit]
    sums = {"model": dict.fromkeys(METRICS, 0.0), "grey": dict.fromkeys(METRICS, 0.0),
            "truth": {"colourfulness": 0.0}}
    for path in tqdm(files, desc=folder.name, unit="img", file=sys.stderr, leave=False):
        truth_img = load_photo(path)
        truth = truth_tensor(truth_img)
        for k, v in image_metrics(grey_baseline(truth_img), truth).items():
            sums["grey"][k] += v
        sums["truth"]["colourfulness"] += metrics.colourfulness(truth).item()
        if model is not None:
            pred = np.asarray(colorize(truth_img, model, render_size=render_size, vividness=vividness))
            for k, v in image_metrics(pred, truth).items():
                sums["model"][k] += v
    n = len(files)
    result = {"n": n, **{part: {k: v / max(n, 1) for k, v in vals.items()} for part, vals in sums.items()}}
    if model is None:
        del result["model"]
    return result


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate a colorization checkpoint against the grey baseline.")
    p.add_argument("--checkpoint", type=Path, help="a .safetensors checkpoint")
    p.add_argument("--data", nargs="+", required=True, type=Path, help="one folder per evaluation set")
    p.add_argument("--render-size", type=int,
                   help="default: the checkpoint's own (metadata render_size), else 256")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--device", default="auto")
    p.add_argument("--limit", type=int, help="at most this many images per set")
    p.add_argument("--vividness", type=float,
                   help="for a model with a colour distribution: 0 (its mean) to 1; default: the model's own")
    p.add_argument("--json", type=Path, help="write the results as JSON")
    p.add_argument("--markdown", type=Path, help="write the NTIRE-style table as Markdown")
    p.add_argument("--grey-baseline-only", action="store_true", help="no checkpoint: the grey baseline only")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if not args.grey_baseline_only and args.checkpoint is None:
        print("evaluation.evaluate: give --checkpoint, or --grey-baseline-only", file=sys.stderr)
        return 2
    model, meta = None, None
    if not args.grey_baseline_only:
        from colorize.checkpoint import CheckpointError
        from colorize.engine import EngineError, load_colorizer

        try:
            model = load_colorizer(args.checkpoint, device=args.device, precision=args.precision)
        except (CheckpointError, EngineError) as exc:
            print(f"evaluation.evaluate: {exc}", file=sys.stderr)
            return 2
        meta = model.metadata
    missing = [str(d) for d in args.data if not d.is_dir()]
    if missing:
        print(f"evaluation.evaluate: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    args.render_size = args.render_size or recommended_render_size(meta)
    result = {"sets": {}, "checkpoint": meta, "render_size": args.render_size, "precision": args.precision,
              "vividness": args.vividness}
    for folder in args.data:
        result["sets"][folder.name] = evaluate_folder(folder, model, args.render_size, args.limit, args.vividness)
    table = markdown_table(result)
    write_report(args.json, result, args.markdown, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
