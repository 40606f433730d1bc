"""The empirical prior over the ab bins of the training photos, and Zhang et al.'s class-rebalancing weights
made from it, for training a distribution head (colorize.distribution):

    python -m scripts.make_ab_prior --data ../shared/data/train --out models/ab_prior.json

Every photo is read at half its size (the training photos' short side is 128 px; the head predicts at half
resolution) and each pixel counted in its nearest bin. The JSON holds the bin centres, the counts, the prior
(counts / total) and the weights (prior smoothed with sigma 5, mixed with uniform at lambda 0.5, inverted,
scaled to expectation 1), with the data and the settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorize import lab
from colorize.distribution import BIN_SIZE, gamut_bins, rebalance_weights
from training.data import is_grey, list_images


def count_bins(files: list[Path], centres: np.ndarray, reduce: int = 2) -> tuple[np.ndarray, int]:
    """Pixels per bin (nearest centre) over ``files``, each read at 1/``reduce`` of its size, and the number of
    photos left out (unreadable, or grey: training skips both)."""
    index = {tuple(c): i for i, c in enumerate(np.round(centres / BIN_SIZE).astype(int).tolist())}
    lookup = np.full((23, 23), -1, dtype=np.int64)  # grid cell (a/10 + 11, b/10 + 11) -> bin
    for (a, b), i in index.items():
        lookup[a + 11, b + 11] = i
    counts = np.zeros(len(centres), dtype=np.int64)
    skipped = 0
    for n, path in enumerate(files):
        try:
            with Image.open(path) as image:
                size = (max(1, image.width // reduce), max(1, image.height // reduce))
                image.draft("RGB", size)
                rgb = image.convert("RGB").resize(size, Image.BILINEAR)
        except (OSError, ValueError):  # as training does: a broken photo is left out
            skipped += 1
            continue
        if is_grey(rgb):  # training skips grey photos too
            skipped += 1
            continue
        with rgb:
            pixels = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
        ab = lab.rgb_to_lab(pixels)[1:].reshape(2, -1)
        cells = torch.round(ab / BIN_SIZE).long().clamp(-11, 11).numpy() + 11
        bins = lookup[cells[0], cells[1]]
        counts += np.bincount(bins[bins >= 0], minlength=len(centres))
        if n % 5000 == 0:
            print(f"{n}/{len(files)}", file=sys.stderr, flush=True)
    return counts, skipped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", required=True, help="folders of training photos")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mix", type=float, default=0.5, help="lambda: the weight of the uniform distribution")
    p.add_argument("--limit", type=int, default=None, help="the first N photos only (a quick look)")
    args = p.parse_args(argv)
    files = list_images(args.data)[: args.limit]
    centres = gamut_bins()
    counts, skipped = count_bins(files, centres)
    prior = counts / max(1, counts.sum())
    weights = rebalance_weights(prior, centres, mix=args.mix)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "bin_size": BIN_SIZE, "centres": centres.tolist(), "counts": counts.tolist(),
        "prior": [round(float(v), 9) for v in prior], "weights": [round(float(v), 6) for v in weights],
        "mix": args.mix, "smoothing_sigma": 5.0, "photos": len(files) - skipped, "skipped": skipped,
        "pixels": int(counts.sum()),
        "data": [str(d) for d in args.data], "made_by": "python -m scripts.make_ab_prior",
    }) + "\n")
    print(f"{args.out}: {len(centres)} bins, {int((counts > 0).sum())} seen, {len(files) - skipped} photos, "
          f"weights {weights.min():.2f} .. {weights.max():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
