"""Which render size suits a model? Measured on held-out training photos shown at a larger scale.

    python -m evaluation.render_study --run runs/shipped --checkpoint models/colorizer.safetensors \
        --upscale 2 --render-sizes 128 192 256 --json study.json --markdown study.md

The training photos are small (short side 128 px), so a network trained on them has learnt what
objects look like at that scale; photos people bring are larger. To see which render size serves
such photos, the run's own held-out photos (never bench/) are enlarged by ``--upscale`` (Lanczos)
and colorized at each render size, as the service does (network at the render size, colour
up-sampled onto the full-resolution lightness), next to the grey baseline on the same photos.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from colorize import metrics
from colorize.checkpoint import load_model
from colorize.pipeline import colorize
from evaluation.measure import grey_baseline, held_out_files, image_metrics, load_photo, truth_tensor


def study(model, files: list[Path], upscale: float, render_sizes: list[int]) -> dict:
    """Mean PSNR / SSIM / colourfulness per render size, plus the grey baseline and the truth's colour."""
    sums = {r: {"psnr": 0.0, "ssim": 0.0, "colourfulness": 0.0} for r in render_sizes}
    grey = truth_colour = 0.0
    for path in files:
        photo = load_photo(path, upscale)
        truth = truth_tensor(photo)
        grey_scores = image_metrics(grey_baseline(photo), truth)
        grey += grey_scores["psnr"]
        truth_colour += metrics.colourfulness(truth).item()
        for r in render_sizes:
            scores = image_metrics(np.asarray(colorize(photo, model, render_size=r)), truth)
            for k in sums[r]:
                sums[r][k] += scores[k]
    n = max(len(files), 1)
    return {"n": len(files), "upscale": upscale, "grey_psnr": grey / n, "truth_colourfulness": truth_colour / n,
            "render_sizes": {r: {k: v / n for k, v in s.items()} for r, s in sums.items()}}


def markdown(result: dict) -> str:
    lines = [f"{result['n']} held-out photos enlarged {result['upscale']:g}x; grey baseline "
             f"{result['grey_psnr']:.2f} dB, truth colourfulness {result['truth_colourfulness']:.1f}.", "",
             "| render size | PSNR dB | vs grey | SSIM | colourfulness |", "|---:|---:|---:|---:|---:|"]
    for r, s in result["render_sizes"].items():
        lines.append(f"| {r} | {s['psnr']:.2f} | {s['psnr'] - result['grey_psnr']:+.2f} | {s['ssim']:.4f} | "
                     f"{s['colourfulness']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Measure render sizes on enlarged held-out training photos.")
    p.add_argument("--run", type=Path, required=True, help="the training run (its config names the held-out photos)")
    p.add_argument("--checkpoint", type=Path, help="default: RUN/best.safetensors")
    p.add_argument("--upscale", type=float, default=2.0, help="enlargement of the held-out photos")
    p.add_argument("--render-sizes", type=int, nargs="+", default=[128, 192, 256])
    p.add_argument("--limit", type=int, default=150, help="held-out photos used")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    if args.upscale <= 0:
        print("evaluation.render_study: --upscale must be positive", file=sys.stderr)
        return 2
    model, _ = load_model(args.checkpoint or args.run / "best.safetensors")
    result = study(model, held_out_files(args.run, args.limit), args.upscale, args.render_sizes)
    table = markdown(result)
    for path, text in ((args.json, json.dumps(result, indent=2) + "\n"), (args.markdown, table)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
