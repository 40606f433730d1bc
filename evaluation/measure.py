"""What evaluation.evaluate, calibrate, source_report and render_study (and scripts/make_*gallery) measure
with: a photo opened upright, per-image metrics against the truth, the grey baseline, a run's held-out
photos, and the PSNR / SSIM / colourfulness table over chroma gains.

Photos are measured as the service colorizes them: the whole photo, the network at the render size, its
colour up-sampled onto the full-resolution lightness (colorize.pipeline).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from colorize import metrics
from colorize.pipeline import join_lightness_ab, lightness_at_render_size, lightness_of, predict_ab
from training.data import open_rgb, run_split


def image_metrics(pred: np.ndarray, truth: torch.Tensor) -> dict:
    """pred: (H, W, 3) uint8; truth: (1, 3, H, W) float 0-255."""
    p = torch.tensor(pred).permute(2, 0, 1).unsqueeze(0).double()  # a copy: PIL arrays are read-only
    return {"mse": metrics.mse(p, truth).item(), "psnr": metrics.psnr(p, truth).item(),
            "ssim": metrics.ssim(p, truth).item(), "colourfulness": metrics.colourfulness(p).item()}


def grey_baseline(image: Image.Image) -> np.ndarray:
    """The photo's own lightness with ab = 0, as uint8 RGB."""
    lightness = lightness_of(image)
    return join_lightness_ab(lightness, torch.zeros(1, 2, 1, 1))


def held_out_files(run: Path, limit: int) -> list[Path]:
    """The validation photos of a training run (same folders, fraction and seed as it used)."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    _, val = run_split(cfg["data"], cfg.get("val_data"), cfg["val_fraction"], cfg["seed"],
                       cfg.get("val_split", "shuffle"))
    return val[:limit]


def load_photo(path: Path, upscale: float = 1.0) -> Image.Image:
    """A photo as RGB, upright (training.data.open_rgb), enlarged ``upscale`` times (Lanczos) to stand for
    the larger photos the service is given (the network still runs at the render size; its colour is
    up-sampled)."""
    rgb = open_rgb(path)
    if upscale != 1:
        rgb = rgb.resize((round(rgb.width * upscale), round(rgb.height * upscale)), Image.LANCZOS)
    return rgb


def truth_tensor(rgb: Image.Image) -> torch.Tensor:
    """An RGB photo as the metrics' truth: (1, 3, H, W) float64, 0-255."""
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].double()


def measure_photos(model, files: list[Path], gains: list[float], render_size: int,
                   upscale: float = 1.0) -> list[dict]:
    """Per photo: the truth's colourfulness, the grey baseline's PSNR, and PSNR / SSIM / colourfulness for
    each gain (``rows[i]["gains"][g]``); one network pass per photo."""
    rows = []
    for path in files:
        rgb = load_photo(path, upscale)
        truth = truth_tensor(rgb)
        lightness = lightness_of(rgb)
        ab = predict_ab(model, lightness_at_render_size(lightness, render_size))
        grey = image_metrics(join_lightness_ab(lightness, torch.zeros(1, 2, 1, 1)), truth)["psnr"]
        scores = {g: image_metrics(join_lightness_ab(lightness, ab * g), truth) for g in gains}
        rows.append({"file": path.name, "truth_colourfulness": metrics.colourfulness(truth).item(),
                     "grey_psnr": grey,
                     "gains": {g: {k: sc[k] for k in ("psnr", "ssim", "colourfulness")} for g, sc in scores.items()}})
    return rows


def source_of(name: str) -> str:
    """The source of a training photo: its file-name prefix (``intelscene_000057.jpg`` -> ``intelscene``)."""
    return name.split("_", 1)[0] if "_" in name else "other"


def summarise(rows: list[dict], gains: list[float]) -> list[dict]:
    """Mean PSNR / SSIM / colourfulness per gain over the photos, with the truth's and grey's means."""
    n = max(len(rows), 1)
    truth_c = sum(r["truth_colourfulness"] for r in rows) / n
    grey = sum(r["grey_psnr"] for r in rows) / n
    return [{"gain": g, **{k: sum(r["gains"][g][k] for r in rows) / n for k in ("psnr", "ssim", "colourfulness")},
             "truth_colourfulness": truth_c, "grey_psnr": grey} for g in gains]


def measure(model, files: list[Path], gains: list[float], render_size: int, upscale: float = 1.0) -> list[dict]:
    """Mean PSNR / SSIM / colourfulness on the photos for each gain (one network pass per photo)."""
    return summarise(measure_photos(model, files, gains, render_size, upscale), gains)


def write_report(json_path: Path | None, data: dict, markdown_path: Path | None, table: str) -> None:
    """A report's outputs where asked for: ``data`` as indented JSON, ``table`` as markdown (folders made)."""
    for path, text in ((json_path, json.dumps(data, indent=2) + "\n"), (markdown_path, table)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
