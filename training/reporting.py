"""What a training run writes besides checkpoints: CSV logs, TensorBoard events, sample grids, plots."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

TRAIN_FIELDS = ["step", "epoch", "phase", "loss", "d_loss", "lr", "img_per_s"]
VAL_FIELDS = ["step", "epoch", "loss", "psnr", "ssim", "colourfulness", "truth_colourfulness", "grey_psnr"]


class RunLog:
    """Appends rows to train_log.csv / val_log.csv and mirrors them to TensorBoard."""

    def __init__(self, out: Path):
        self.out = out
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except ImportError:  # tensorboard is in the 'train' extra; the CSV logs are always written
            pass

    def _append(self, name: str, fields: list[str], row: dict) -> None:
        path = self.out / name
        new = not path.exists()
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in fields})

    def train(self, row: dict) -> None:
        self._append("train_log.csv", TRAIN_FIELDS, row)
        if self.tb:
            for k in ("loss", "d_loss", "lr", "img_per_s"):
                if row.get(k) not in (None, ""):
                    self.tb.add_scalar(f"train/{k}", row[k], row["step"])

    def val(self, row: dict) -> None:
        self._append("val_log.csv", VAL_FIELDS, row)
        if self.tb:
            for k in VAL_FIELDS[2:]:
                self.tb.add_scalar(f"val/{k}", row[k], row["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb:
            self.tb.close()


def sample_grid(grey: torch.Tensor, pred: torch.Tensor, truth: torch.Tensor, path: Path) -> None:
    """Save a PNG: one column per image; rows grey input / prediction / truth. Inputs: (N,3,H,W) in [0,1]."""
    rows = [torch.cat(list(t.clamp(0, 1)), dim=2) for t in (grey, pred, truth)]  # each (3, H, N*W)
    grid = torch.cat(rows, dim=1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(grid)).save(path)


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def plot_curves(out: Path) -> Path | None:
    """loss_curve.png: training loss, validation loss and validation PSNR against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = _read(out / "train_log.csv"), _read(out / "val_log.csv")
    if not train and not val:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if train:
        ax1.plot([int(r["step"]) for r in train], [float(r["loss"]) for r in train], label="train")
    if val:
        steps = [int(r["step"]) for r in val]
        ax1.plot(steps, [float(r["loss"]) for r in val], "o-", label="validation")
        ax2.plot(steps, [float(r["psnr"]) for r in val], "o-", label="model")
        ax2.plot(steps, [float(r["grey_psnr"]) for r in val], "--", label="grey baseline (ab = 0)")
        ax2.set_ylabel("validation PSNR (dB)")
        ax2.legend()
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.set_xlabel("step")
    fig.tight_layout()
    path = out / "loss_curve.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
