"""Write the study's REPORT.md and figures from the runs' logs and evaluation JSON."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from training.datasets import sha256_of

DEPTHS = ["unet_resnet18", "unet_resnet34", "unet_resnet50"]


def _val_log(run: Path) -> list[dict]:
    with (run / "val_log.csv").open() as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _mean(result: dict, part: str, key: str) -> float:
    sets = result["sets"].values()
    return float(np.mean([s[part][key] for s in sets]))


def plot_depth_curves(runs: Path, target: Path) -> None:
    """The paper's Fig. 3: validation SSIM and PSNR over training steps, per encoder depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in DEPTHS:
        rows = _val_log(runs / name)
        steps = [r["step"] for r in rows]
        axes[0].plot(steps, [r["ssim"] for r in rows], "o-", label=name)
        axes[1].plot(steps, [r["psnr"] for r in rows], "o-", label=name)
    grey = _val_log(runs / DEPTHS[0])
    axes[1].plot([r["step"] for r in grey], [r["grey_psnr"] for r in grey], "k--", label="grey baseline")
    for ax, label in zip(axes, ("validation SSIM", "validation PSNR (dB)"), strict=True):
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)


def visual_grid(runs: Path, bench: list[str], target: Path, per_row: int = 4, render_size: int = 256) -> None:
    """The paper's Fig. 2: grey input | U-Net | U-Net + GAN | truth, on the same bench photos."""
    from colorize.checkpoint import load_model
    from colorize.pipeline import colorize

    unet, _ = load_model(runs / "unet_resnet34" / "best.safetensors")
    gan, _ = load_model(runs / "unet_resnet34_gan" / "best.safetensors")
    photos = []
    for folder in bench:
        files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if files:
            photos.append(files[len(files) // 2])
    rows = []
    for path in photos[:per_row]:
        truth = Image.open(path).convert("RGB")
        truth.thumbnail((256, 256))
        cells = [truth.convert("L").convert("RGB"), colorize(truth, unet, render_size),
                 colorize(truth, gan, render_size), truth]
        rows.append(np.concatenate([np.asarray(c) for c in cells], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(rows, axis=0)).save(target)


def write_report(out: Path, budget_name: str, budget: dict, results: dict, timings: dict,
                 bench: list[str]) -> Path:
    runs = out / "runs"
    plot_depth_curves(runs, out / "fig3_depth.png")
    visual_grid(runs, bench, out / "fig2_unet_vs_gan.png", render_size=budget["render_size"])
    (out / "configs").mkdir(exist_ok=True)
    sums = []
    for name in results:
        shutil.copy(runs / name / "config.yaml", out / "configs" / f"{name}.yaml")
        sums.append(f"{sha256_of(runs / name / 'best.safetensors')}  runs/{name}/best.safetensors")
    (out / "checkpoints.sha256").write_text("\n".join(sums) + "\n")

    any_result = next(iter(results.values()))
    set_names = list(any_result["sets"])
    lines = [f"# Encoder depth and U-Net vs GAN ({budget_name} budget)", "",
             f"Made by `python -m experiments --budget {budget_name}`: every model trained from scratch on the "
             f"same photos with the same seed for {budget['max_steps']} steps of {budget['batch_size']} crops of "
             f"{budget['crop_size']} px, then evaluated by `evaluation.evaluate` at render size "
             f"{budget['render_size']}" + (f" on the first {budget['eval_limit']} photos of each bench set."
                                           if budget["eval_limit"] else " on every bench photo."), "",
             "## Final table (mean over the bench sets)", "",
             "| model | PSNR (dB) | vs grey | SSIM | colourfulness | train time (min) |",
             "|---|---:|---:|---:|---:|---:|"]
    grey_psnr = _mean(any_result, "grey", "psnr")
    for name, res in results.items():
        psnr = _mean(res, "model", "psnr")
        lines.append(f"| {name} | {psnr:.2f} | {psnr - grey_psnr:+.2f} | {_mean(res, 'model', 'ssim'):.4f} | "
                     f"{_mean(res, 'model', 'colourfulness'):.1f} | {timings.get(name, 0) / 60:.1f} |")
    lines.append(f"| grey baseline (ab = 0) | {grey_psnr:.2f} | | {_mean(any_result, 'grey', 'ssim'):.4f} | "
                 f"{_mean(any_result, 'grey', 'colourfulness'):.1f} | |")
    lines.append(f"| ground truth | | | | {_mean(any_result, 'truth', 'colourfulness'):.1f} | |")
    lines += ["", "## PSNR per set (dB; grey baseline in brackets)", "",
              "| model | " + " | ".join(set_names) + " |", "|---|" + "---:|" * len(set_names)]
    for name, res in results.items():
        cells = [f"{res['sets'][s]['model']['psnr']:.2f} ({res['sets'][s]['grey']['psnr']:.2f})" for s in set_names]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ssims = {n: _mean(results[n], "model", "ssim") for n in DEPTHS}
    psnrs = {n: _mean(results[n], "model", "psnr") for n in DEPTHS}
    by_ssim = " > ".join(sorted(ssims, key=ssims.get, reverse=True))
    by_psnr = " > ".join(sorted(psnrs, key=psnrs.get, reverse=True))
    curves = {n: _val_log(runs / n) for n in DEPTHS}
    rising = [n for n, rows in curves.items() if len(rows) >= 2 and rows[-1]["psnr"] > rows[-2]["psnr"]]
    unet, gan = results["unet_resnet34"], results["unet_resnet34_gan"]
    d_col = _mean(gan, "model", "colourfulness") - _mean(unet, "model", "colourfulness")
    d_psnr = _mean(gan, "model", "psnr") - _mean(unet, "model", "psnr")
    adversarial = budget["max_steps"] - budget["gan_pretrain"]
    gan_text = (f"- GAN: the critic changed mean colourfulness by {d_col:+.1f} and PSNR by {d_psnr:+.2f} dB against "
                "the plain U-Net of the same depth. ")
    if d_col > 0:
        gan_text += "More vivid colour at some cost in PSNR is the trade the paper describes (its Fig. 2)."
    else:
        gan_text += (f"That is not the more vivid colour the paper reports: here the adversarial phase is "
                     f"{adversarial} steps after {budget['gan_pretrain']} steps of plain U-Net training, which "
                     "may be too short for the critic to push the colours (not tested here: it would take a longer "
                     "budget); compare the grid (Fig. 2) by eye.")
    lines += ["", "## Figures", "", "![SSIM and PSNR over steps per encoder depth](fig3_depth.png)", "",
              "Validation SSIM and PSNR (held-out training photos) over the training steps, per encoder depth.", "",
              "![grey input, U-Net, U-Net + GAN, truth](fig2_unet_vs_gan.png)", "",
              "Columns: grey input, unet_resnet34, unet_resnet34 with the PatchGAN critic, ground truth.", "",
              "## What the figures show, and what they don't", "",
              f"- Encoder depth: on the bench sets the order by mean SSIM is {by_ssim} "
              f"({', '.join(f'{n} {v:.4f}' for n, v in ssims.items())}), by mean PSNR {by_psnr}. "
              f"The spread is {max(ssims.values()) - min(ssims.values()):.4f} SSIM and "
              f"{max(psnrs.values()) - min(psnrs.values()):.2f} dB. "
              + (f"Validation PSNR was still rising at the last step for {', '.join(rising)}: "
                 "no depth has converged at this budget. " if rising else "")
              + "The paper's comparison used ImageNet-pretrained encoders and far longer training; from scratch "
              "and this short, the depths cannot be ranked with confidence.",
              gan_text,
              "- Limits: one seed per model, so the run-to-run spread is not measured and small differences should "
              "not be read as an ordering; one short budget; no pretrained weights (none are reachable here); "
              "stand-in training photos with a short side of 128 px (see ../shared/data/README.md) instead of "
              "DIV2K / Landscape Pictures"
              + (f"; the bench figures use the first {budget['eval_limit']} photos of each set" if budget["eval_limit"]
                 else "") + ".",
              "- Train time is wall-clock time on the machine that ran the study, including anything else that "
              "machine did meanwhile.",
              "- The checkpoints are not committed; their sha256 are in `checkpoints.sha256`, the resolved configs "
              "in `configs/`, the evaluation JSON in `eval/`."]
    report = out / "REPORT.md"
    report.write_text("\n".join(lines) + "\n")
    return report
