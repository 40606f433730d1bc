"""Make the README gallery: before/after/truth strips of bench photos, picked by rank, not by taste.

    python -m scripts.make_gallery --checkpoint models/colorizer.safetensors --out docs/gallery

Every photo of the given sets is colorized; they are ranked by PSNR gain over the grey baseline and
the two best, two middle and two worst are shown, so the gallery shows failures as well as successes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorize.checkpoint import load_model
from colorize.pipeline import colorize, recommended_render_size
from evaluation.measure import grey_baseline, image_metrics
from training.data import list_images


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", type=Path, default=Path("models/colorizer.safetensors"))
    p.add_argument("--data", nargs="+", default=["../shared/data/bench/kodak24", "../shared/data/bench/mcmaster18",
                                                 "../shared/data/bench/set14"])
    p.add_argument("--out", type=Path, default=Path("docs/gallery"))
    p.add_argument("--height", type=int, default=220)
    p.add_argument("--render-size", type=int, help="default: the checkpoint's own (as the service uses it)")
    args = p.parse_args(argv)
    model, meta = load_model(args.checkpoint)
    render_size = args.render_size or recommended_render_size(meta)
    scored = []
    for path in list_images(args.data):
        truth_img = Image.open(path).convert("RGB")
        truth = np.asarray(truth_img)
        pred = np.asarray(colorize(truth_img, model, render_size=render_size))
        grey = grey_baseline(truth_img)
        truth_t = torch.from_numpy(truth.copy()).permute(2, 0, 1)[None].double()
        gain = image_metrics(pred, truth_t)["psnr"] - image_metrics(grey, truth_t)["psnr"]
        scored.append((gain, path, grey, pred, truth))
    scored.sort(key=lambda s: -s[0])
    mid = len(scored) // 2
    picks = [("best", s) for s in scored[:2]] + [("middle", s) for s in scored[mid - 1:mid + 1]] + \
            [("worst", s) for s in scored[-2:]]
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| rank | photo | grey input · colorized · truth | PSNR gain over grey |", "|---|---|---|---:|"]
    for rank, (gain, path, grey, pred, truth) in picks:
        strip = np.concatenate([grey, np.full((grey.shape[0], 6, 3), 255, np.uint8), pred,
                                np.full((grey.shape[0], 6, 3), 255, np.uint8), truth], axis=1)
        img = Image.fromarray(strip)
        img = img.resize((round(img.width * args.height / img.height), args.height), Image.LANCZOS)
        name = f"{rank}-{path.parent.name}-{path.stem}.jpg"
        img.save(args.out / name, quality=88)
        lines.append(f"| {rank} | {path.parent.name}/{path.name} | ![{path.stem}]({args.out.name}/{name}) | "
                     f"{gain:+.2f} dB |")
    (args.out / "gallery.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
