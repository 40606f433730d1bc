"""Choosing the stabilisation's constants (colorize.video.stabilize) on held-out clips, never on the bench.

    python -m benchmarks.video.tune [--photos 12] [--frames 48] [--grid weight=0.8,0.85,0.9 tolerance=0.35]
                                    [--grain 6 --flicker 0.1] [--end-to-end]

The clips are made from photos the default model never trained on: the first landscape photos at least
170 px wide of its held-out split (training.data.hash_split of ../shared/data/train at 2%, in hash order, a
mix of sources), a pan and a zoom of each and a cut between each pair. The network runs once per frame; each
setting of the grid then stabilises the stored answers and is scored at the render size (the warping error
and the colour PSNR of benchmarks.video.measure against the truth seen at that size): a proxy for the
whole path. ``--end-to-end`` measures the held-out clips instead as the bench run (python -m
benchmarks.video) measures the bench's: through colorize.video, with the module's constants. Writes
benchmarks/out/video_tune[_end_to_end].{md,json}. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.machine import print_machine, save_results
from benchmarks.video.clips import DEFAULT_FLICKER, DEFAULT_GRAIN, Clip, read_photo, resized, standard_clips
from benchmarks.video.measure import Flicker, colour_psnr, input_lightness, srgb

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT.parent / "shared" / "data" / "train"
HELD_OUT_FRACTION = 0.02  # the default model's val_fraction (models/README.md, "Data")


def held_out_photos(count: int, folder: Path = TRAIN) -> list[tuple[str, np.ndarray]]:
    """The first ``count`` landscape photos at least 170 px wide of the default model's held-out split."""
    from PIL import Image

    from training.data import hash_split

    _, held_out = hash_split(sorted(folder.glob("*.jpg")), HELD_OUT_FRACTION)
    chosen = []
    for path in held_out:
        width, height = Image.open(path).size
        if width >= 170 and width > height:
            chosen.append((path.stem, read_photo(path)))
        if len(chosen) == count:
            break
    return chosen


@dataclass
class Answers:
    """A clip's per-frame network answers at the render size, and the clip seen at that size."""

    clip: Clip
    small: Clip
    lightness: np.ndarray  # (N, h, w) float16: the network's input
    ab: np.ndarray  # (N, 2, h, w) float16: its answer
    truth: np.ndarray  # (N, 2, h, w) float16: the truth at that size


def network_answers(clip: Clip, model, render_size: int, workdir: Path, batch: int = 8) -> Answers:
    """Write ``clip``, read it back as colorize.video does and run the network on every frame."""
    from colorize.pipeline import lightness_at_render_size, predict_ab

    source = clip.write(workdir / "input.mp4")
    lights, abs_ = [], []
    frames = [torch.from_numpy(light)[None, None] for light in input_lightness(source)]
    for start in range(0, len(frames), batch):
        small = torch.cat([lightness_at_render_size(f, render_size) for f in frames[start:start + batch]])
        lights.append(small[:, 0].numpy().astype(np.float16))
        abs_.append(predict_ab(model, small).numpy().astype(np.float16))
    lightness, ab = np.concatenate(lights), np.concatenate(abs_)
    size = (lightness.shape[2], lightness.shape[1])
    truth = np.stack([clip.truth_ab(t, size) for t in range(clip.frames)]).astype(np.float16)
    return Answers(clip, resized(clip, size), lightness, ab, truth)


def stabilised(answers: Answers, **constants) -> tuple[list[np.ndarray], int, list[float], list[float]]:
    """The stabiliser's answers, the cuts it counted, and the share of pixels that followed in each frame
    within a shot and in each frame after a cut."""
    from colorize.video.stabilize import Stabilizer

    stabilizer, out, within, across = Stabilizer(**constants), [], [], []
    cuts = set(answers.clip.cuts)
    for t in range(len(answers.ab)):
        out.append(stabilizer.step(answers.lightness[t].astype(np.float32), answers.ab[t].astype(np.float32)))
        if t:
            (across if t in cuts else within).append(stabilizer.following)
    return out, stabilizer.cuts, within, across


def proxy_scores(answers: Answers, frames: list[np.ndarray]) -> dict:
    """The warping error and mean colour PSNR of ``frames`` at the render size."""
    flicker, psnr = Flicker(answers.small), []
    for t, ab in enumerate(frames):
        lightness = answers.lightness[t].astype(np.float32)
        flicker.add(t, ab)
        psnr.append(colour_psnr(lightness, ab, srgb(lightness, answers.truth[t])))
    return {"flicker": flicker.value, "psnr": float(np.mean(psnr))}


def evaluate(answers: list[Answers], constants: dict) -> dict:
    """Per clip and in all, for one setting: flicker and PSNR per-frame and stabilised, cuts found."""
    rows, within, across = [], [], []
    for a in answers:
        raw = proxy_scores(a, [a.ab[t].astype(np.float32) for t in range(len(a.ab))])
        frames, cuts, following, after_cut = stabilised(a, **constants)
        within, across = within + following, across + after_cut
        rows.append({"clip": a.clip.name, "kind": a.clip.kind, "cuts": len(a.clip.cuts), "found": cuts,
                     "per_frame": raw, "stabilised": proxy_scores(a, frames)})
    ratio = np.mean([r["stabilised"]["flicker"] for r in rows]) / np.mean([r["per_frame"]["flicker"] for r in rows])
    return {"constants": constants, "flicker_ratio": float(ratio),
            "psnr_change": float(np.mean([r["stabilised"]["psnr"] - r["per_frame"]["psnr"] for r in rows])),
            "cuts_right": sum(r["found"] == r["cuts"] for r in rows), "clips": len(rows),
            "following_in_a_shot_min": min(within), "following_after_a_cut_max": max(across, default=0.0),
            "rows": rows}


def _grid(specs: list[str]) -> list[dict]:
    axes = {}
    for spec in specs:
        name, values = spec.split("=")
        axes[name] = [float(v) for v in values.split(",")]
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=12)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--grid", nargs="*", default=[], help="NAME=V1,V2,... Stabilizer keyword arguments")
    p.add_argument("--grain", type=float, default=DEFAULT_GRAIN)
    p.add_argument("--flicker", type=float, default=DEFAULT_FLICKER)
    p.add_argument("--end-to-end", action="store_true", help="through colorize.video, the module's constants")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = p.parse_args(argv)

    from benchmarks.video import quality
    from colorize.engine import load_colorizer
    from colorize.pipeline import recommended_render_size

    info = print_machine()
    model = load_colorizer(ROOT / "models" / "colorizer.safetensors", precision="auto", runtime="auto")
    render_size = recommended_render_size(model.metadata)
    photos, film = held_out_photos(args.photos), {"grain": args.grain, "flicker": args.flicker}
    title = (f"{len(photos)} held-out photos, {args.frames}-frame clips, grain {args.grain:g}, flicker "
             f"{args.flicker:g}, render size {render_size}")
    if args.end_to_end:
        result = quality.run(model, {"held-out": photos}, args.frames, **film)
        lines = [f"# Stabilisation end to end on held-out clips ({title})", "", *quality.table(result)]
        save_results(args.out, "video_tune_end_to_end", {"machine": info, **film, **result}, "\n".join(lines) + "\n")
        return 0
    clips = standard_clips(photos, args.frames, seed=7, **film)
    with tempfile.TemporaryDirectory() as workdir:
        answers = [network_answers(clip, model, render_size, Path(workdir)) for clip in clips]
    results = [evaluate(answers, constants) for constants in (_grid(args.grid) or [{}])]
    lines = [f"# Stabilisation on held-out clips ({title}; {len(clips)} clips)", "",
             "| constants | flicker, stabilised / per-frame | PSNR change (dB) | cuts right | fewest following in "
             "a shot | most following after a cut |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['constants'] or 'defaults'} | {r['flicker_ratio']:.3f} | {r['psnr_change']:+.3f} | "
                     f"{r['cuts_right']} of {r['clips']} | {r['following_in_a_shot_min']:.2f} | "
                     f"{r['following_after_a_cut_max']:.3f} |")
    save_results(args.out, "video_tune", {"machine": info, "frames": args.frames, **film, "results": results},
                 "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
