"""Choose a distribution model's served vividness on held-out photos, by a rule fixed before any bench photo is
seen, and write the checkpoint to ship:

    python -m evaluation.vividness --run runs/lite0_distribution --out models/colorizer_vivid.safetensors \
        --name unet_efficientnet_lite0_vivid --markdown models/eval/vivid/heldout.md

For each candidate vividness (colorize.distribution: 0 is the photo's own distribution's mean, 0.5 Zhang's mean
at T = 1, 1 the tilted distribution at T = 0.2) the
run's held-out photos give PSNR and colourfulness beside the grey baseline and the truth, and its held-out
UTKFace photos the colour shift on the face per skin-tone group (evaluation.face_report). The rule: the most
colourful vividness whose held-out PSNR stays at least ``--min-gain-db`` (1.0) over grey and that shifts no
group's faces by more than ``--max-shift-a`` (3) in CIE *a*. None eligible: vividness 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import yaml

from colorize import metrics
from colorize.checkpoint import load_model, save_model
from colorize.distribution import decoding
from colorize.pipeline import join_lightness_ab, lightness_at_render_size, lightness_of, predict_ab
from evaluation.face_report import by_group, central_shift, utk_groups
from evaluation.measure import held_out_files, image_metrics, load_photo, truth_tensor, write_report
from training.build import read_prior

# 0 ... 0.5: the rebalancing tilt undone less and less (T = 1); then T = 0.6, 0.38 and 0.2 on the tilted one
CANDIDATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.659, 0.8, 1.0)


def measure_vividness(model, files: list[Path], candidates: list[float], render_size: int) -> list[dict]:
    """Per photo and candidate: PSNR over grey, colourfulness (and the truth's) and the central (a, b) shift."""
    rows = []
    for path in files:
        rgb = load_photo(path)
        truth = truth_tensor(rgb)
        lightness = lightness_of(rgb)
        small = lightness_at_render_size(lightness, render_size)
        grey = image_metrics(join_lightness_ab(lightness, torch.zeros(1, 2, 1, 1)), truth)["psnr"]
        truth_c = metrics.colourfulness(truth).item()
        for v in candidates:
            pred = join_lightness_ab(lightness, predict_ab(model, small, vividness=v))
            got = image_metrics(pred, truth)
            da, db = central_shift(torch.from_numpy(pred).permute(2, 0, 1)[None].double(), truth)
            rows.append({"file": path.name, "vividness": v, "psnr": got["psnr"], "grey_psnr": grey,
                         "gain_db": got["psnr"] - grey, "colourfulness": got["colourfulness"],
                         "truth_colourfulness": truth_c, "shift_a": da, "shift_b": db})
    return rows


def summary(rows: list[dict], faces: list[dict], groups: dict[str, str], v: float) -> dict:
    mine = [r for r in rows if r["vividness"] == v]
    n = max(len(mine), 1)
    mean = {k: sum(r[k] for r in mine) / n for k in ("psnr", "grey_psnr", "colourfulness", "truth_colourfulness")}
    face_groups = by_group([r for r in faces if r["vividness"] == v], groups) if faces else {}
    correction, temperature = decoding(v)
    return {"vividness": v, "temperature": round(temperature, 4), "correction": correction, **mean,
            "gain_db": mean["psnr"] - mean["grey_psnr"],
            "colour_ratio": mean["colourfulness"] / max(mean["truth_colourfulness"], 1e-9),
            "faces": face_groups}


def choose(table: list[dict], min_gain_db: float, max_shift_a: float) -> tuple[float, list[float]]:
    """(the chosen vividness, the eligible ones) by the rule in the module's docstring."""
    eligible = [r for r in table if r["gain_db"] >= min_gain_db
                and all(abs(g["shift_a"]) <= max_shift_a for name, g in r["faces"].items() if name != "all")]
    best = max(eligible, key=lambda r: r["colourfulness"], default=None)
    return (best["vividness"] if best else 0.0), [r["vividness"] for r in eligible]


def markdown(table: list[dict], chosen: float) -> str:
    groups = sorted({g for r in table for g in r["faces"] if g != "all"})
    lines = ["| vividness | tilt undone, T | PSNR (grey) | over grey | colourfulness (truth) | ratio | faces Δa: "
             + ", ".join(groups) + " |", "|---:|---:|---:|---:|---:|---:|---|"]
    for r in table:
        shifts = ", ".join(f"{r['faces'][g]['shift_a']:+.1f}" for g in groups if g in r["faces"])
        mark = " **(chosen)**" if r["vividness"] == chosen else ""
        lines.append(f"| {r['vividness']:g}{mark} | {r['correction']:.1f}, {r['temperature']:.2f} "
                     f"| {r['psnr']:.2f} ({r['grey_psnr']:.2f}) "
                     f"| {r['gain_db']:+.2f} | {r['colourfulness']:.1f} ({r['truth_colourfulness']:.1f}) | "
                     f"{r['colour_ratio']:.2f} | {shifts} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Choose the served vividness of a distribution model on held-out photos.")
    p.add_argument("--run", type=Path, required=True, help="the training run (config.yaml: the held-out split)")
    p.add_argument("--checkpoint", type=Path, help="default: RUN/best.safetensors")
    p.add_argument("--out", type=Path, help="write the checkpoint to ship, its vividness set")
    p.add_argument("--name", help="the shipped model's name (metadata model_name)")
    p.add_argument("--prior", type=Path, help="the prior the head was trained with, whose tilt vividness 0 divides "
                   "out (default: the run's config 'prior'), for a checkpoint that does not carry it")
    p.add_argument("--candidates", type=float, nargs="+", default=list(CANDIDATES))
    p.add_argument("--limit", type=int, default=384, help="held-out photos (faces: all held-out UTKFace photos)")
    p.add_argument("--render-size", type=int, default=128)
    p.add_argument("--min-gain-db", type=float, default=1.0)
    p.add_argument("--max-shift-a", type=float, default=3.0)
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    model, meta = load_model(args.checkpoint or args.run / "best.safetensors")
    if not model.config.colour_bins:
        print("evaluation.vividness: the checkpoint has no colour distribution", file=sys.stderr)
        return 2
    model.eval()
    prior = args.prior or yaml.safe_load((args.run / "config.yaml").read_text()).get("prior")
    if prior and not model.class_head.log_weights.any():
        with torch.no_grad():
            model.class_head.log_weights.copy_(read_prior(prior)[1].log())
        print(f"the head's rebalancing tilt from {prior}")
    every = held_out_files(args.run, 100_000)
    files = every[: args.limit]
    manifest = every[0].parent / "manifest.csv" if every else Path("manifest.csv")
    groups = utk_groups(manifest) if manifest.is_file() else {}
    faces = [f for f in every if f.name in groups]
    rows = measure_vividness(model, files, args.candidates, args.render_size)
    face_rows = measure_vividness(model, faces, args.candidates, args.render_size)
    table = [summary(rows, face_rows, groups, v) for v in args.candidates]
    chosen, eligible = choose(table, args.min_gain_db, args.max_shift_a)
    text = markdown(table, chosen)
    print(text, end="")
    print(f"chosen vividness {chosen:g} (T = {decoding(chosen)[1]:.2f}); eligible: {eligible}")
    report = {"chosen": chosen, "eligible": eligible, "rule": {"min_gain_db": args.min_gain_db,
              "max_shift_a": args.max_shift_a}, "photos": len(files), "faces": len(faces), "table": table}
    write_report(args.json, report, args.markdown, text)
    if args.out:
        import dataclasses

        model.config = dataclasses.replace(model.config, vividness=chosen)
        keep = {k: v for k, v in meta.items() if k in ("training", "metrics", "version")}
        keep.update(render_size=args.render_size, model_name=args.name or meta.get("model_name"),
                    vividness={**{k: v for k, v in report.items() if k != "table"},
                               "data": f"{len(files)} held-out photos and {len(faces)} held-out faces of the run"})
        save_model(model, args.out, {k: v for k, v in keep.items() if v is not None}, dtype=torch.float16)
        print(json.dumps({"out": str(args.out), "vividness": chosen}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
