"""Choose a trained model's chroma gain on held-out photos and write the checkpoint to ship.

    python -m evaluation.calibrate --run runs/shipped --out models/colorizer.safetensors

L1/MSE training shrinks colour towards grey (the loss prefers a muted average to a wrong vivid
guess). A single factor on the predicted ab restores saturation; it is chosen on the run's own
held-out split of the training photos (never on bench/): the smallest gain whose mean
colourfulness reaches ``--colour-ratio`` of the truth's. With ``--per-source`` the ratio must be reached
by every source of held-out photos (the file-name prefix before the first ``_``; sources with fewer than
``--min-source-photos`` photos are not counted), not only on average: the held-out mix is mostly the
kinds of photo the model knows best, and the photos people bring are not. With ``--source-mean`` the
ratio of each source counts once and their mean must reach it: a source of many easy photos (faces, most
vivid at any gain) then cannot carry the rest. ``--upscale 2`` measures the table on the
photos enlarged twice instead (larger than the render size, as photos people bring are); for the shipped
model it changed little (models/unet_resnet34.md). ``--render-size`` is stored in the metadata as
the size the model is served at by default. The table for every gain is printed and
stored in the checkpoint's metadata, and the fp16 copy is checked against fp32.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from colorize.checkpoint import load_model, save_model
from evaluation.measure import held_out_files, measure, measure_photos, source_of, summarise


def choose_gain(rows: list[dict], gains: list[float], colour_ratio: float, per_source: bool = False,
                min_source_photos: int = 5, source_mean: bool = False) -> tuple[float, bool, dict]:
    """The smallest gain whose mean colourfulness reaches ``colour_ratio`` of the truth's: over all photos,
    within each source of at least ``min_source_photos`` photos (``per_source``), or on the mean of those
    sources' ratios (``source_mean``). Returns (gain, reached, {source: colour ratio at that gain}); the
    largest gain, reached False, when none reaches it."""
    by_source = per_source or source_mean
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(source_of(r["file"]) if by_source else "all", []).append(r)
    counted = {k: rs for k, rs in groups.items() if not by_source or len(rs) >= min_source_photos} or groups

    def ratios(g: float) -> dict:
        return {k: sum(r["gains"][g]["colourfulness"] for r in rs)
                / max(sum(r["truth_colourfulness"] for r in rs), 1e-9) for k, rs in sorted(counted.items())}

    def score(at: dict) -> float:
        return sum(at.values()) / len(at) if source_mean else min(at.values())

    for g in gains:
        at = ratios(g)
        if score(at) >= colour_ratio:
            return g, True, at
    return gains[-1], False, ratios(gains[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Choose the chroma gain on held-out photos; write the shipped model.")
    p.add_argument("--run", type=Path, required=True, help="a training run folder (config.yaml, best.safetensors)")
    p.add_argument("--checkpoint", type=Path, help="default: RUN/best.safetensors")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--gains", type=float, nargs="+", default=[1.0, 1.1, 1.2, 1.25, 1.3, 1.35, 1.4, 1.5, 1.6, 1.8])
    p.add_argument("--colour-ratio", type=float, default=0.52,
                   help="target colourfulness / truth's (the quality bar is 0.5; a small margin)")
    p.add_argument("--per-source", action="store_true",
                   help="the colour ratio must be reached within every source of held-out photos (file-name "
                        "prefix), not only over all of them")
    p.add_argument("--source-mean", action="store_true",
                   help="the mean of the sources' colour ratios must reach it (each source counts once)")
    p.add_argument("--min-source-photos", type=int, default=5,
                   help="with --per-source, sources with fewer held-out photos are not counted")
    p.add_argument("--limit", type=int, default=300, help="held-out photos used")
    p.add_argument("--upscale", type=float, default=1.0,
                   help="enlarge the held-out photos this many times first (Lanczos), to measure the gains on "
                        "photos larger than the render size, as the service sees them (default: as they are)")
    p.add_argument("--render-size", type=int, default=128,
                   help="the render size the shipped model is served at, stored in its metadata (default: "
                        "128, the scale of the training photos; see python -m evaluation.render_study)")
    args = p.parse_args(argv)
    if args.per_source and args.source_mean:
        print("evaluation.calibrate: choose one of --per-source and --source-mean", file=sys.stderr)
        return 2
    if args.upscale <= 0:
        print("evaluation.calibrate: --upscale must be positive", file=sys.stderr)
        return 2
    model, meta = load_model(args.checkpoint or args.run / "best.safetensors")
    model.chroma_gain = 1.0  # gains are absolute: a stored gain is replaced, not multiplied
    files = held_out_files(args.run, args.limit)
    gains = sorted(args.gains)
    rows = measure_photos(model, files, gains, args.render_size, args.upscale)
    table = summarise(rows, gains)
    print("gain  PSNR   (grey)  SSIM    colourfulness (truth)")
    for r in table:
        print(f"{r['gain']:4.2f}  {r['psnr']:.2f}  ({r['grey_psnr']:.2f})  {r['ssim']:.4f}  "
              f"{r['colourfulness']:.1f} ({r['truth_colourfulness']:.1f})")
    gain, reached, at = choose_gain(rows, gains, args.colour_ratio, args.per_source, args.min_source_photos,
                                    args.source_mean)
    chosen = next(r for r in table if r["gain"] == gain)
    if args.per_source or args.source_mean:
        print("colour ratio per source at that gain: " + ", ".join(f"{k} {v:.3f}" for k, v in at.items()))
    print(f"chosen gain {gain}" + ("" if reached else " (largest tried; the target was not reached)"))

    model.chroma_gain = chosen["gain"]  # in model.config, which save_model stores
    keep = {k: v for k, v in meta.items() if k in ("training", "metrics", "name", "version")}
    keep["render_size"] = args.render_size  # the service's, the CLI's and evaluate's default for this model
    keep["calibration"] = {"chroma_gain": chosen["gain"], "colour_ratio_target": args.colour_ratio,
                           "rule": ("each held-out source" if args.per_source else "mean of the held-out sources"
                                    if args.source_mean else "all held-out photos"),
                           "colour_ratio_at_gain": at,
                           "data": f"{len(files)} held-out photos of the run's training folders",
                           "render_size": args.render_size, "upscale": args.upscale, "table": table}
    save_model(model, args.out, keep, dtype=torch.float16)
    half, _ = load_model(args.out)
    fp16 = measure(half, files[:100], [1.0], args.render_size, args.upscale)[0]
    fp32 = measure(model, files[:100], [1.0], args.render_size, args.upscale)[0]
    drift = fp32["psnr"] - fp16["psnr"]
    print(f"fp16 storage: PSNR {fp16['psnr']:.4f} vs fp32 {fp32['psnr']:.4f} on 100 photos ({drift:+.4f} dB)")
    if abs(drift) >= 0.02:
        save_model(model, args.out, keep)  # fp16 costs too much: ship fp32
        print("fp16 storage costs >= 0.02 dB: saved in fp32 instead", file=sys.stderr)
    print(json.dumps({"chroma_gain": chosen["gain"], "fp16_psnr_drift_db": drift}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
