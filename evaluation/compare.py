"""Compare training runs on the same held-out photos, per source: the encoder study.

    python -m evaluation.compare --runs runs/compare/* --out models/eval/encoders

Every run must hold out the same photos (same data, val_split, val_fraction and seed); each run's
best.safetensors is measured on all of them at its raw output (gain 1.0) and at the gains given, as
evaluation.source_report measures one model. Writes compare.json, compare.md and compare.png to --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

import yaml

from colorize.checkpoint import load_model
from evaluation.measure import held_out_files, measure_photos
from evaluation.source_report import report

SPLIT_KEYS = ("data", "val_data", "val_split", "val_fraction", "seed")


def run_facts(run: Path) -> dict:
    """What a run cost: its architecture, encoder weights, steps, crops seen and median training rate."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    with open(run / "train_log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    steps = int(rows[-1]["step"]) if rows else 0
    rates = [float(r["img_per_s"]) for r in rows if r.get("img_per_s")]
    return {"run": str(run), "arch": cfg["arch"], "pretrained": cfg.get("pretrained") or "none",
            "max_minutes": cfg.get("max_minutes"), "steps": steps, "crops": steps * cfg["batch_size"],
            "img_per_s": statistics.median(rates) if rates else None}


def compare(runs: list[Path], gains: list[float], render_size: int, limit: int) -> dict:
    splits = {tuple(str(yaml.safe_load((r / "config.yaml").read_text()).get(k)) for k in SPLIT_KEYS) for r in runs}
    if len(splits) != 1:
        raise SystemExit("evaluation.compare: the runs hold out different photos (data, val_split, val_fraction "
                         "or seed differ); they cannot be compared")
    files = held_out_files(runs[0], limit)
    out = {"render_size": render_size, "gains": gains, "n_photos": len(files), "runs": []}
    for run in runs:
        model, _ = load_model(run / "best.safetensors")
        model.chroma_gain = 1.0  # gains are absolute
        result = report(measure_photos(model, files, gains, render_size), gains)
        out["runs"].append({**run_facts(run), **result})
        print(f"{run}: {result['all']['gains'][str(gains[0])]['psnr_over_grey']:+.3f} dB over grey", flush=True)
    return out


def label(r: dict) -> str:
    return f"{r['arch']} ({'ImageNet' if r['pretrained'] == 'imagenet' else 'scratch'})"


def markdown(result: dict) -> str:
    g0 = str(result["gains"][0])
    runs = result["runs"]
    sources = sorted(runs[0]["sources"])
    lines = [f"Held-out photos: {result['n_photos']} (hash of the file name), render size {result['render_size']}, "
             f"raw output (gain {g0}); cells: PSNR over grey (dB), colourfulness / truth's.", "",
             "| model | steps | crops | img/s | all photos | mean over sources | "
             + " | ".join(f"{s} ({runs[0]['sources'][s]['n']})" for s in sources) + " |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * len(sources)]

    def cell(entry: dict) -> str:
        return f"{entry['psnr_over_grey']:+.2f}, {entry['colour_ratio']:.2f}"

    for r in runs:
        rate = f"{r['img_per_s']:.1f}" if r["img_per_s"] else ""
        lines.append(f"| {label(r)} | {r['steps']} | {r['crops']} | {rate} | {cell(r['all']['gains'][g0])} | "
                     f"{cell(r['source_mean'][g0])} | "
                     + " | ".join(cell(r["sources"][s]["gains"][g0]) for s in sources) + " |")
    for g in result["gains"][1:]:
        lines += ["", f"At gain {g}: all photos / mean over sources: " + "; ".join(
            f"{label(r)} {cell(r['all']['gains'][str(g)])} / {cell(r['source_mean'][str(g)])}" for r in runs)]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g0 = str(result["gains"][0])
    runs = result["runs"]
    groups = ["all photos", "mean over sources", *sorted(runs[0]["sources"])]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for i, r in enumerate(runs):
        values = [r["all"]["gains"][g0]["psnr_over_grey"], r["source_mean"][g0]["psnr_over_grey"],
                  *(r["sources"][s]["gains"][g0]["psnr_over_grey"] for s in groups[2:])]
        ax.bar([k + i * width for k in range(len(groups))], values, width, label=label(r))
    ax.set_xticks([k + width * (len(runs) - 1) / 2 for k in range(len(groups))], groups, rotation=30, ha="right")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("PSNR over grey (dB)")
    ax.set_title(f"Held-out photos by source, same CPU budget ({result['n_photos']} photos)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Compare training runs per source on the same held-out photos.")
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="run folders (config.yaml, best.safetensors)")
    p.add_argument("--out", type=Path, required=True, help="folder for compare.json, compare.md, compare.png")
    p.add_argument("--gains", type=float, nargs="+", default=[1.0, 1.3])
    p.add_argument("--render-size", type=int, default=128)
    p.add_argument("--limit", type=int, default=100_000, help="held-out photos used (default: all)")
    args = p.parse_args(argv)
    runs = [r for r in args.runs if (r / "best.safetensors").is_file()]
    if not runs:
        raise SystemExit("evaluation.compare: no run folder with best.safetensors given")
    result = compare(runs, args.gains, args.render_size, args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (args.out / "compare.md").write_text(text)
    plot(result, args.out / "compare.png")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
