"""Held-out faces by the dataset's own skin-tone groups: does a model wash some faces with a colour?

    python -m evaluation.face_report --run runs/lite0_main --checkpoints models/colorizer.safetensors \
        models/unet_resnet34.safetensors --markdown models/eval/faces.md

A face coloured red or green can score well enough on average and still be the worst thing a colorizer
does to a portrait. UTKFace names each photo ``age_gender_race_date`` (race 0 White, 1 Black, 2 Asian,
3 Indian, 4 Others: the dataset's labels, used here only to group photos); the training folder's
manifest.csv keeps those names. For each group of a run's held-out UTKFace photos and each checkpoint (as
shipped: its own gain and render size) this reports the PSNR over grey, the colourfulness as a fraction
of the truth's, and the mean shift of the prediction from the truth in CIE *a* (positive: towards red) and
*b* (positive: towards yellow) over the central half of the photo, where the aligned face is.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import torch

from colorize import lab, metrics
from colorize.checkpoint import CheckpointError, load_model, model_name
from colorize.pipeline import join_lightness_ab, lightness_at_render_size, lightness_of, predict_ab
from evaluation.measure import held_out_files, image_metrics, load_photo, truth_tensor, write_report

GROUPS = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}


def utk_groups(manifest: Path) -> dict[str, str]:
    """File name -> UTKFace group, for the UTKFace photos of a training folder's manifest.csv."""
    out = {}
    with manifest.open(newline="") as f:
        for row in csv.reader(f):
            if len(row) > 4 and row[1] == "utkface":
                parts = Path(row[4]).name.split("_")
                if len(parts) > 3 and parts[2].isdigit():
                    out[row[0]] = GROUPS.get(int(parts[2]), "Others")
    return out


def central_shift(pred: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """Mean (a, b) of prediction minus truth over the central half of the photo; both (1, 3, H, W) 0-255."""
    h, w = truth.shape[-2:]
    box = (slice(None), slice(None), slice(h // 4, h - h // 4), slice(w // 4, w - w // 4))
    diff = lab.rgb_to_lab(pred[box].float() / 255) - lab.rgb_to_lab(truth[box].float() / 255)
    return diff[:, 1].mean().item(), diff[:, 2].mean().item()


def measure_faces(model, files: list[Path], render_size: int) -> list[dict]:
    """Per photo: PSNR over grey, colourfulness and the truth's, and the central (a, b) shift."""
    rows = []
    for path in files:
        rgb = load_photo(path)
        truth = truth_tensor(rgb)
        lightness = lightness_of(rgb)
        pred = join_lightness_ab(lightness, predict_ab(model, lightness_at_render_size(lightness, render_size)))
        grey = image_metrics(join_lightness_ab(lightness, torch.zeros(1, 2, 1, 1)), truth)["psnr"]
        got = image_metrics(pred, truth)
        da, db = central_shift(torch.from_numpy(pred).permute(2, 0, 1)[None].double(), truth)
        rows.append({"file": path.name, "gain_db": got["psnr"] - grey, "colourfulness": got["colourfulness"],
                     "truth_colourfulness": metrics.colourfulness(truth).item(), "shift_a": da, "shift_b": db})
    return rows


def by_group(rows: list[dict], groups: dict[str, str]) -> dict[str, dict]:
    """Means per group (and over all), with the photo count."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        grouped[groups[r["file"]]].append(r)
        grouped["all"].append(r)
    out = {}
    for name, rs in grouped.items():
        n = len(rs)
        out[name] = {"photos": n, "gain_db": sum(r["gain_db"] for r in rs) / n,
                     "colour_ratio": sum(r["colourfulness"] for r in rs) / max(sum(r["truth_colourfulness"]
                                                                                  for r in rs), 1e-9),
                     "shift_a": sum(r["shift_a"] for r in rs) / n, "shift_b": sum(r["shift_b"] for r in rs) / n}
    return out


def markdown(results: dict[str, dict[str, dict]]) -> str:
    names = list(results)
    order = [g for g in (*GROUPS.values(), "all") if any(g in r for r in results.values())]
    head = "| group | photos | " + " | ".join(f"{n}: dB over grey, colour, Δa, Δb" for n in names) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(names)]
    for g in order:
        n = next(r[g]["photos"] for r in results.values() if g in r)
        cells = [f"{r[g]['gain_db']:+.2f}, {r[g]['colour_ratio']:.2f}, {r[g]['shift_a']:+.1f}, "
                 f"{r[g]['shift_b']:+.1f}" if g in r else "" for r in results.values()]
        label = f"**{g}**" if g == "all" else g
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Held-out UTKFace photos by skin-tone group, per checkpoint.")
    p.add_argument("--run", type=Path, required=True, help="a training run folder (its config.yaml: the split)")
    p.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    p.add_argument("--manifest", type=Path, help="default: manifest.csv in the run's first data folder")
    p.add_argument("--limit", type=int, default=100_000, help="held-out photos looked at (default: all)")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    files = held_out_files(args.run, args.limit)
    manifest = args.manifest or Path(files[0].parent if files else ".") / "manifest.csv"
    if not manifest.is_file():
        print(f"evaluation.face_report: no manifest at {manifest} (--manifest)", file=sys.stderr)
        return 2
    groups = utk_groups(manifest)
    faces = [f for f in files if f.name in groups]
    if not faces:
        print("evaluation.face_report: none of the held-out photos is a UTKFace photo", file=sys.stderr)
        return 2
    results = {}
    for path in args.checkpoints:
        try:
            model, meta = load_model(path)
        except CheckpointError as exc:
            print(f"evaluation.face_report: {exc}", file=sys.stderr)
            return 2
        model.eval()
        label = f"{model_name(meta)} ({path.name})"
        results[label] = by_group(measure_faces(model, faces, int(meta.get("render_size", 128))), groups)
    table = markdown(results)
    print(table, end="")
    write_report(args.json, results, args.markdown, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
