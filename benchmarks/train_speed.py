"""Training throughput (images/s) of one optimisation step for the speed settings of training.train.

    python -m benchmarks.train_speed [--arch unet_resnet34] [--batch-size 16] [--crop-size 128]

Synthetic batches (data loading excluded), the real loss and optimiser. Writes
benchmarks/out/train_speed.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.machine import print_machine
from training.config import TrainConfig
from training.train import Trainer


def measure(cfg: TrainConfig, steps: int, warmup: int) -> float:
    trainer = Trainer.__new__(Trainer)  # only the pieces train_step needs, without data folders
    trainer.cfg, trainer.device = cfg, torch.device(cfg.device)
    trainer.precision, trainer.critic, trainer.step, trainer.total_steps = cfg.precision, None, 0, 10**6
    from colorize.models import create_model

    trainer.model = create_model(cfg.arch).to(trainer.device)
    if cfg.channels_last:
        trainer.model = trainer.model.to(memory_format=torch.channels_last)
    trainer.net = torch.compile(trainer.model) if cfg.compile else trainer.model
    trainer.opt = torch.optim.AdamW(trainer.model.parameters(), lr=1e-4)
    trainer.sched = torch.optim.lr_scheduler.LambdaLR(trainer.opt, lambda s: 1.0)
    batch = torch.randint(0, 256, (cfg.batch_size, 3, cfg.crop_size, cfg.crop_size), dtype=torch.uint8)
    for _ in range(warmup):
        trainer.train_step(batch)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(batch)
    return steps * cfg.batch_size / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="unet_resnet34")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--variants", default="fp32,channels_last,bf16,bf16+channels_last,compile")
    args = p.parse_args()
    info = print_machine()
    rows = []
    for variant in args.variants.split(","):
        cfg = TrainConfig(arch=args.arch, batch_size=args.batch_size, crop_size=args.crop_size,
                          device=args.device, precision="bf16" if "bf16" in variant else "fp32",
                          channels_last="channels_last" in variant, compile="compile" in variant)
        rate = measure(cfg, args.steps, warmup=3 if cfg.compile else 2)
        rows.append({"variant": variant, "img_per_s": round(rate, 2)})
        print(f"{variant:>22}: {rate:6.2f} img/s")
    out = Path("benchmarks/out")
    out.mkdir(parents=True, exist_ok=True)
    result = {"machine": info, "arch": args.arch, "batch_size": args.batch_size, "crop_size": args.crop_size,
              "results": rows}
    (out / "train_speed.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Training speed: {args.arch}, batch {args.batch_size} x {args.crop_size}^2, {args.device}", "",
             f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}", "",
             "| variant | images/s | vs fp32 |", "|---|---|---|"]
    base = rows[0]["img_per_s"]
    lines += [f"| {r['variant']} | {r['img_per_s']} | {r['img_per_s'] / base:.2f}x |" for r in rows]
    (out / "train_speed.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
