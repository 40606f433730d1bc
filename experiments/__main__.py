"""Reproduce the paper's comparisons in one command:

    python -m experiments --budget tiny|small|large --out DIR

Trains unet_resnet18/34/50 and unet_resnet34 with the GAN critic under the same budget (same data,
steps, crop and seed), evaluates each with evaluation.evaluate on the bench sets, and writes
DIR/REPORT.md with its figures. Finished runs are skipped, so an interrupted study continues.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from experiments.report import write_report

BUDGETS = {
    # a few minutes in all: checks the whole chain
    "tiny": {"max_steps": 12, "batch_size": 4, "crop_size": 64, "val_crop_size": 64, "val_every": 6,
             "val_max_images": 32, "warmup_steps": 4, "eval_limit": 2, "render_size": 128, "gan_pretrain": 4},
    # this 2-core CPU, about two hours in all
    "small": {"max_steps": 500, "batch_size": 16, "crop_size": 112, "val_crop_size": 128, "val_every": 100,
              "val_max_images": 192, "warmup_steps": 50, "eval_limit": 12, "render_size": 256,
              "gan_pretrain": 200},
    # a GPU
    "large": {"max_steps": 6000, "batch_size": 64, "crop_size": 128, "val_crop_size": 128, "val_every": 500,
              "val_max_images": 512, "warmup_steps": 300, "eval_limit": None, "render_size": 256,
              "gan_pretrain": 2000},
}
RUNS = [("unet_resnet18", False), ("unet_resnet34", False), ("unet_resnet50", False), ("unet_resnet34", True)]


def run_name(arch: str, gan: bool) -> str:
    return f"{arch}_gan" if gan else arch


def train_one(arch: str, gan: bool, budget: dict, args: argparse.Namespace, out: Path) -> float:
    run_dir = out / "runs" / run_name(arch, gan)
    clock = run_dir / "wall_time.json"
    spent = json.loads(clock.read_text())["seconds"] if clock.exists() else 0.0
    if (run_dir / "best.safetensors").exists() and (run_dir / "loss_curve.png").exists():
        return spent  # finished earlier
    cmd = [sys.executable, "-m", "training.train", "--data", *args.data, "--arch", arch,
           "--max-steps", str(budget["max_steps"]), "--batch-size", str(budget["batch_size"]),
           "--crop-size", str(budget["crop_size"]), "--val-every", str(budget["val_every"]),
           "--seed", str(args.seed), "--out", str(run_dir), "--device", args.device,
           "--workers", str(args.workers)]
    if gan:
        cmd.append("--gan")
    # keys without a command-line flag go through a small config file
    extra = {k: budget[k] for k in ("val_crop_size", "val_max_images", "warmup_steps")}
    if gan:
        extra["gan_pretrain_steps"] = budget["gan_pretrain"]
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = run_dir / "study.yaml"
    cfg.write_text("".join(f"{k}: {v}\n" for k, v in extra.items()))
    if (run_dir / "last.pt").exists():
        cmd.append("--resume")
    start = time.perf_counter()
    subprocess.run([*cmd, "--config", str(cfg)], check=True)
    spent += time.perf_counter() - start
    clock.write_text(json.dumps({"seconds": spent}))
    return spent


def evaluate_one(name: str, budget: dict, args: argparse.Namespace, out: Path) -> dict:
    target = out / "eval" / f"{name}.json"
    if not target.exists():
        cmd = [sys.executable, "-m", "evaluation.evaluate",
               "--checkpoint", str(out / "runs" / name / "best.safetensors"), "--data", *args.bench,
               "--render-size", str(budget["render_size"]), "--json", str(target), "--device", args.device]
        if budget["eval_limit"]:
            cmd += ["--limit", str(budget["eval_limit"])]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(target.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Encoder depth and U-Net vs GAN, as a reproducible report.")
    p.add_argument("--budget", choices=sorted(BUDGETS), required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", nargs="+", default=["../shared/data/train"])
    p.add_argument("--bench", nargs="+", default=[str(d) for d in sorted(Path("../shared/data/bench").glob("*"))
                                                  if d.is_dir()])
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not args.bench:
        print("experiments: no bench sets found; pass --bench DIR...", file=sys.stderr)
        return 2
    budget = BUDGETS[args.budget]
    (args.out / "eval").mkdir(parents=True, exist_ok=True)
    timings = {}
    for arch, gan in RUNS:
        name = run_name(arch, gan)
        print(f"== training {name} ({args.budget} budget)", file=sys.stderr)
        timings[name] = train_one(arch, gan, budget, args, args.out)
    results = {}
    for arch, gan in RUNS:
        name = run_name(arch, gan)
        print(f"== evaluating {name}", file=sys.stderr)
        results[name] = evaluate_one(name, budget, args, args.out)
    report = write_report(args.out, args.budget, budget, results, timings, args.bench)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
