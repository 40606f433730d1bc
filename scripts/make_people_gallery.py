"""The README's people gallery: fixed photos of people, each through every shipped model side by side.

    python -m scripts.make_people_gallery --out docs/gallery/people

The photos are fixed in advance, not picked by result: every portrait of the bench sets (kodim04, kodim15,
kodim18: the only three with a face filling the frame) and two old portraits from ../shared/data/oldphotos
("Migrant Mother" and Audrey Hepburn, the two close-up faces there). A bench photo is shown as grey input,
each model's answer and the truth, with each model's PSNR gain over grey; an old photo (no truth) as the
scan and each model's answer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorize import SHIPPED_CHECKPOINTS
from colorize.checkpoint import load_model, model_name
from colorize.pipeline import colorize, recommended_render_size
from evaluation.measure import grey_baseline, image_metrics, load_photo

BENCH = Path("../shared/data/bench/kodak24")
OLD = Path("../shared/data/oldphotos")
BENCH_PORTRAITS = [BENCH / "kodim04.jpg", BENCH / "kodim15.jpg", BENCH / "kodim18.jpg"]
OLD_PORTRAITS = [OLD / "February 1936. Nipomo, Calif. Destitute pea pickers living in tent in migrant camp. "
                "Mother of seven children. Age 32.jpg",
                 OLD / "Audrey Hepburn.jpg"]


def strip(images: list[np.ndarray], height: int) -> Image.Image:
    gap = np.full((images[0].shape[0], 6, 3), 255, np.uint8)
    parts = [p for im in images for p in (im, gap)][:-1]
    img = Image.fromarray(np.concatenate(parts, axis=1))
    return img.resize((round(img.width * height / img.height), height), Image.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Photos of people through every shipped model.")
    p.add_argument("--checkpoints", type=Path, nargs="+", default=SHIPPED_CHECKPOINTS)
    p.add_argument("--with-truth", type=Path, nargs="*", default=BENCH_PORTRAITS, help="colour photos")
    p.add_argument("--old", type=Path, nargs="*", default=OLD_PORTRAITS, help="black-and-white photos")
    p.add_argument("--out", type=Path, default=Path("docs/gallery/people"))
    p.add_argument("--height", type=int, default=240)
    args = p.parse_args(argv)
    models = []
    for path in args.checkpoints:
        model, meta = load_model(path)
        models.append((model_name(meta), model, recommended_render_size(meta)))
    args.out.mkdir(parents=True, exist_ok=True)
    names = " · ".join(name for name, _, _ in models)
    lines = [f"| photo | input · {names} · truth (bench only) | PSNR gain over grey |", "|---|---|---|"]
    for path, has_truth in [(p, True) for p in args.with_truth] + [(p, False) for p in args.old]:
        rgb = load_photo(path)
        answers = [np.asarray(colorize(rgb, model, render_size=size)) for _, model, size in models]
        grey = grey_baseline(rgb)
        truth = np.asarray(rgb)
        gains = ""
        if has_truth:
            t = torch.from_numpy(truth.copy()).permute(2, 0, 1)[None].double()
            base = image_metrics(grey, t)["psnr"]
            gains = ", ".join(f"{name} {image_metrics(a, t)['psnr'] - base:+.2f} dB"
                              for (name, _, _), a in zip(models, answers, strict=True))
        name = f"{path.stem[:40].replace(' ', '_').replace(',', '').replace('.', '')}.jpg"
        strip([grey, *answers, *([truth] if has_truth else [])], args.height).save(args.out / name, quality=88)
        lines.append(f"| {path.parent.name}/{path.name[:60]} | ![{path.stem[:40]}]({args.out.name}/{name}) | {gains} |")
    (args.out / "people.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
