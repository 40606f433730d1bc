"""How far colour hints take a hint-taking checkpoint: PSNR and colourfulness with 0, 1, 2, 5, 10 and 20
hints drawn from the truth, beside the grey baseline and the automatic answer (Zhang et al. 2017's curve).

    python -m evaluation.hint_eval --checkpoint models/colorizer.safetensors \
        --data ../shared/data/bench/* --json hints.json --markdown hints.md --plot hints.png

Each photo is coloured as the service colours it (colorize.pipeline, full resolution) from its own
lightness. Its hints are points drawn at random (a fixed seed per photo; the first k of one list of 20, so
more hints only add points), each carrying the truth's mean sRGB colour over a square as wide as a hint's
patch at the render size, sent as ``#rrggbb`` exactly as a user's hint is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from colorize import metrics
from colorize.hints import PATCH, Hint
from colorize.pipeline import colorize, recommended_render_size, render_shape, takes_hints
from evaluation.measure import grey_baseline, image_metrics, load_photo, truth_tensor
from training.data import list_images

COUNTS = (0, 1, 2, 5, 10, 20)


def truth_hints(truth: np.ndarray, render_size: int, count: int, seed: int) -> list[Hint]:
    """``count`` hints from the truth (H, W, 3 uint8): random points, each the mean colour of a square of
    PATCH render pixels around it."""
    h, w = truth.shape[:2]
    rh, rw = render_shape(h, w, render_size)
    half = max(0, round(PATCH * max(h / rh, w / rw) / 2))
    rng = np.random.default_rng(seed)
    hints = []
    for x, y in zip(rng.integers(0, w, count), rng.integers(0, h, count), strict=True):
        patch = truth[max(y - half, 0): y + half + 1, max(x - half, 0): x + half + 1].reshape(-1, 3)
        r, g, b = np.rint(patch.mean(axis=0)).astype(int)
        hints.append(Hint(float(x), float(y), f"#{r:02x}{g:02x}{b:02x}"))
    return hints


def _seed(folder: str, name: str) -> int:
    return int(hashlib.sha256(f"{folder}/{name}".encode()).hexdigest()[:8], 16)


def evaluate_folder(folder: Path, model, render_size: int, counts: tuple[int, ...], limit: int | None,
                    spread: bool = True) -> dict:
    files = list_images([folder])[:limit]
    keys = ("psnr", "ssim", "colourfulness")
    sums = {"grey": dict.fromkeys(keys, 0.0), "truth": {"colourfulness": 0.0},
            **{str(k): dict.fromkeys(keys, 0.0) for k in counts}}
    for path in tqdm(files, desc=folder.name, unit="img", file=sys.stderr, leave=False):
        truth_img = load_photo(path)
        truth = truth_tensor(truth_img)
        grey = image_metrics(grey_baseline(truth_img), truth)
        for k in keys:
            sums["grey"][k] += grey[k]
        sums["truth"]["colourfulness"] += metrics.colourfulness(truth).item()
        pool = truth_hints(np.asarray(truth_img.convert("RGB")), render_size, max(counts),
                           _seed(folder.name, path.name))
        for count in counts:
            pred = np.asarray(colorize(truth_img, model, render_size=render_size, hints=pool[:count] or None,
                                       spread=spread))
            got = image_metrics(pred, truth)
            for k in keys:
                sums[str(count)][k] += got[k]
    n = max(len(files), 1)
    return {"n": len(files), **{part: {k: v / n for k, v in vals.items()} for part, vals in sums.items()}}


def mean_of_sets(result: dict, counts: tuple[int, ...]) -> dict:
    sets = list(result["sets"].values())
    parts = ["grey", *map(str, counts)]
    mean = {p: {k: float(np.mean([s[p][k] for s in sets])) for k in sets[0][p]} for p in parts}
    mean["truth"] = {"colourfulness": float(np.mean([s["truth"]["colourfulness"] for s in sets]))}
    return mean


def markdown(result: dict, counts: tuple[int, ...]) -> str:
    head = "| set | n | grey | " + " | ".join(f"{k} hints" if k else "automatic (0)" for k in counts) + " |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(counts)]
    rows = [(name, s) for name, s in result["sets"].items()] + [("**mean of sets**", {**result["mean"], "n": ""})]
    for name, s in rows:
        auto = s["0"]["psnr"] if 0 in counts else None
        cells = []
        for k in counts:
            v = s[str(k)]["psnr"]
            cells.append(f"{v:.2f}" + (f" ({v - auto:+.2f})" if auto is not None and k else ""))
        lines.append(f"| {name} | {s['n']} | {s['grey']['psnr']:.2f} | " + " | ".join(cells) + " |")
    m = result["mean"]
    lines += ["", "Colourfulness, mean of sets (truth " + f"{m['truth']['colourfulness']:.1f}): grey "
              f"{m['grey']['colourfulness']:.1f}, " + ", ".join(
                  f"{k} hints {m[str(k)]['colourfulness']:.1f}" for k in counts) + ".",
              "", f"PSNR in dB on 0-255 RGB; in brackets, against the automatic answer. Render size "
                  f"{result['render_size']}, fp32, hints drawn from the truth (evaluation.hint_eval), "
                  + ("spread past the network's answer (colorize.hints.spread_hints)." if result.get("spread", True)
                     else "the network's answer alone (--no-spread).")]
    return "\n".join(lines) + "\n"


def plot(result: dict, counts: tuple[int, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, s in result["sets"].items():
        ax.plot(counts, [s[str(k)]["psnr"] for k in counts], marker=".", lw=1, alpha=0.6, label=name)
    m = result["mean"]
    ax.plot(counts, [m[str(k)]["psnr"] for k in counts], marker="o", lw=2.5, color="black", label="mean of sets")
    ax.axhline(m["grey"]["psnr"], color="grey", ls="--", lw=1, label="grey (mean)")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks(counts, [str(k) for k in counts])
    ax.set_xlabel("hints drawn from the truth")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Colour hints: PSNR against the number of hints")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="PSNR of a hint-taking checkpoint against the number of hints.")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--data", nargs="+", required=True, type=Path, help="one folder per evaluation set")
    p.add_argument("--counts", nargs="+", type=int, default=list(COUNTS))
    p.add_argument("--render-size", type=int, help="default: the checkpoint's own")
    p.add_argument("--limit", type=int, help="at most this many photos per set")
    p.add_argument("--no-spread", action="store_true",
                   help="the network's answer alone, without colorize.hints.spread_hints")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--plot", type=Path)
    args = p.parse_args(argv)
    from colorize.checkpoint import CheckpointError
    from colorize.engine import load_colorizer

    try:
        model = load_colorizer(args.checkpoint)
    except CheckpointError as exc:
        print(f"evaluation.hint_eval: {exc}", file=sys.stderr)
        return 2
    if not takes_hints(model):
        print(f"evaluation.hint_eval: {args.checkpoint} does not take colour hints", file=sys.stderr)
        return 2
    counts = tuple(sorted(set(args.counts)))
    render_size = args.render_size or recommended_render_size(model.metadata)
    result = {"checkpoint": str(args.checkpoint), "render_size": render_size, "counts": list(counts),
              "spread": not args.no_spread, "sets": {}}
    for folder in args.data:
        result["sets"][folder.name] = evaluate_folder(folder, model, render_size, counts, args.limit,
                                                      spread=not args.no_spread)
    result["mean"] = mean_of_sets(result, counts)
    table = markdown(result, counts)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(table)
    if args.plot:
        plot(result, counts, args.plot)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
