"""Validation during training: loss and image metrics on held-out crops, plus a sample grid."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from colorize import lab, metrics
from colorize.hints import sample_hints
from training.losses import reconstruction_loss
from training.reporting import sample_grid


@torch.no_grad()
def validate(model: torch.nn.Module, dataset, device: torch.device, cfg, phase: int, autocast,
             grid_path: Path | None = None, grid_images: int = 8) -> dict:
    """Mean loss, PSNR/SSIM (RGB, 0-255), colourfulness of prediction and truth, grey-baseline PSNR.

    A hint-taking model is measured with ``cfg.val_hints`` hints on each photo, drawn from the truth with a
    fixed seed (the same hints at every validation)."""
    was_training = model.training
    model.eval()
    sums = dict.fromkeys(("loss", "psnr", "ssim", "colourfulness", "truth_colourfulness", "grey_psnr"), 0.0)
    n = 0
    grid = None
    loader = DataLoader(dataset, batch_size=cfg.batch_size, num_workers=min(cfg.workers, 2))
    config = getattr(model, "config", None)
    # a run that trains hints measures them; one that trains the automatic answer (a distribution head on a
    # hint-taking model) measures that
    trains_hints = getattr(cfg, "hints", False) and getattr(config, "hints", False)
    n_hints = getattr(cfg, "val_hints", 0) if trains_hints else 0
    generator = torch.Generator().manual_seed(0)
    for batch in loader:
        rgb = batch.to(device).float() / 255.0
        labs = lab.rgb_to_lab(rgb)
        lightness = labs[:, :1]
        target = lab.normalize_ab(labs[:, 1:])
        inputs = [lightness]
        if n_hints:
            inputs.append(sample_hints(target, torch.full((len(rgb),), n_hints), generator=generator))
        with autocast():
            ab = model(*inputs).float()
        loss = reconstruction_loss(lab.normalize_ab(ab), target, phase, cfg.ssim_weight)
        pred = lab.lab_to_rgb(torch.cat((lightness, ab), 1)) * 255
        grey = lab.lab_to_rgb(torch.cat((lightness, torch.zeros_like(ab)), 1)) * 255
        truth = rgb * 255
        k = rgb.shape[0]
        sums["loss"] += loss.item() * k
        sums["psnr"] += metrics.psnr(pred, truth).sum().item()
        sums["ssim"] += metrics.ssim(pred, truth).sum().item()
        sums["colourfulness"] += metrics.colourfulness(pred).sum().item()
        sums["truth_colourfulness"] += metrics.colourfulness(truth).sum().item()
        sums["grey_psnr"] += metrics.psnr(grey, truth).sum().item()
        n += k
        if grid is None:
            grid = (grey[:grid_images] / 255, pred[:grid_images] / 255, rgb[:grid_images])
    if grid_path is not None and grid is not None:
        sample_grid(*grid, grid_path)
    model.train(was_training)
    return {k: v / max(n, 1) for k, v in sums.items()}
