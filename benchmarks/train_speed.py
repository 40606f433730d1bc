"""CPU training speed: one optimisation step per architecture and variant, against the training floor,
and the whole training loop with data loading.

    python -m benchmarks.train_speed [--archs all] [--steps 30] [--loop-steps 200] [--data ../shared/data/train]

**Step.** For every registered architecture (``--archs``) and variant, ``training.train.Trainer.train_step``
on synthetic 16 x 128^2 uint8 crops: LAB conversion, forward, the method's loss, backward, AdamW, the
learning-rate schedule. ``--steps`` steps after 3 of warm-up, in rounds of 5 that alternate with a dense
bf16 kernel (benchmarks.model.paired_floor_ratio): the *training floor* is 3 x the forward FLOPs
(torch.utils.flop_counter) / that kernel's rate, measured beside each step because this VM's speed swings,
and each variant is reported as images/s (median step), x the fp32 eager baseline of the same run, and x
the floor. Where an architecture has depthwise convolutions, the bf16 replica also runs with them in bf16,
to show what keeping them in fp32 gains. The compiled variants and the unfused optimiser run for
``--detail-archs`` only (a compile costs about a minute per variant).

**Loop.** ``training.train`` itself (data folders, decoding, crops, the data-loading worker that shares
the two cores) for ``--loop-steps`` steps, images/s as its log reports them (median of the 20-step log
rows after the first); and the data path alone (decode + crop, images/s).

Writes benchmarks/out/train_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.machine import model_flops, print_machine
from benchmarks.model import machine_rates, paired_floor_ratio
from colorize.models import create_model, list_models
from training.config import TrainConfig
from training.precision import Bf16Replica, is_depthwise
from training.train import Trainer

BATCH, CROP = 16, 128


@dataclass(frozen=True)
class Variant:
    name: str
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    fused: bool = True  # the trainer's fused AdamW on the CPU; False: PyTorch's default (foreach)
    depthwise_bf16: bool = False  # the replica without its fp32 depthwise convolutions (what they gain)


BASELINE = Variant("fp32 eager (baseline)")
FAST = Variant("bf16 replica + channels_last", "bf16", True)  # training/configs/cpu.yaml
VARIANTS = [
    BASELINE,
    Variant("fp32 + channels_last", channels_last=True),
    Variant("bf16 autocast + channels_last", "bf16-autocast", True),
    Variant("bf16 replica + channels_last, depthwise in bf16", "bf16", True, depthwise_bf16=True),
    FAST,
]
DETAIL_VARIANTS = [
    Variant("fp32 eager, foreach AdamW", fused=False),
    Variant("fp32 + channels_last, compiled", channels_last=True, compile=True),
    Variant("bf16 replica + channels_last, compiled", "bf16", True, compile=True),
]


def step_trainer(arch: str, v: Variant) -> Trainer:
    cfg = TrainConfig(arch=arch, batch_size=BATCH, crop_size=CROP, device="cpu", precision=v.precision,
                      channels_last=v.channels_last, compile=v.compile, max_steps=10**6)
    trainer = Trainer(cfg, data=False)
    if v.depthwise_bf16:
        trainer.replica = Bf16Replica(trainer.model, fp32_depthwise=False)
        trainer.net = trainer.replica.net
    if not v.fused:
        trainer.opt = torch.optim.AdamW(trainer.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        trainer.sched = torch.optim.lr_scheduler.LambdaLR(trainer.opt, lambda s: 1.0)
    return trainer


def measure_step(arch: str, v: Variant, steps: int, probe) -> dict:
    torch.manual_seed(0)
    trainer = step_trainer(arch, v)
    batch = torch.randint(0, 256, (BATCH, 3, CROP, CROP), dtype=torch.uint8)
    flops = 3 * model_flops(create_model(arch), CROP) * BATCH
    start = time.perf_counter()
    trainer.train_step(batch)  # the first step (and with compile, the compilation)
    first_s = time.perf_counter() - start
    paired = paired_floor_ratio(lambda: trainer.train_step(batch), flops, probe, rounds=max(2, -(-steps // 5)))
    return {"arch": arch, "variant": v.name, "precision": v.precision, "channels_last": v.channels_last,
            "compile": v.compile, "fused_adamw": v.fused, "steps": 5 * paired["rounds"],
            "img_per_s": BATCH * 1000 / paired["forward_ms_median"], "step_ms": paired["forward_ms_median"],
            "floor_ms": paired["floor_ms_median"], "x_floor": paired["x_floor_median"],
            "x_floor_p10": paired["x_floor_p10"], "x_floor_p90": paired["x_floor_p90"],
            "train_gflop": flops / 1e9, "first_step_s": first_s}


def measure_loop(data: str, v: Variant, steps: int, workers: int) -> dict:
    """training.train on real photos for ``steps`` steps; images/s from its own log."""
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(arch="unet_resnet34", data=[data], batch_size=BATCH, crop_size=CROP, device="cpu",
                          precision=v.precision, channels_last=v.channels_last, compile=v.compile,
                          workers=workers, max_steps=steps, warmup_steps=10, val_max_images=16,
                          log_every=20, out=out, val_split="hash")
        start = time.perf_counter()
        Trainer(cfg).fit()
        wall = time.perf_counter() - start
        with open(Path(out) / "train_log.csv") as fh:
            rates = [float(r["img_per_s"]) for r in csv.DictReader(fh)]
    return {"variant": v.name, "workers": workers, "steps": steps, "img_per_s": statistics.median(rates[1:]),
            "log_rows": len(rates), "wall_s": wall}


def measure_data(data: str, batches: int, workers: int) -> float:
    """Images/s of the data path alone: list, decode, random crop, flip, collate."""
    from torch.utils.data import DataLoader

    from training.data import ColourImages, ResumableSampler, list_images

    files = list_images([data])
    dataset = ColourImages(files, CROP, train=True)
    loader = DataLoader(dataset, sampler=ResumableSampler(len(files), 0), batch_size=BATCH, num_workers=workers)
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * BATCH / (time.perf_counter() - start)


def _markdown(result: dict) -> str:
    info, rates = result["machine"], result["rates_gflops"]
    lines = [f"# CPU training speed, batch {BATCH} x {CROP}^2", "",
             f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}; {result['date']}.",
             f"Dense rates beside it: bf16 {rates['bf16']:.0f} GFLOP/s, fp32 {rates['fp32']:.0f} GFLOP/s "
             f"(best probe: {result['bf16_probe']}). Floor: 3 x forward FLOPs / the bf16 probe's rate, "
             "measured beside each step.", "",
             "## One training step (synthetic batches)", "",
             "| architecture | variant | images/s | x baseline | step ms | floor ms | x floor (p10-p90) |",
             "|---|---|---:|---:|---:|---:|---|"]
    base = {r["arch"]: r["img_per_s"] for r in result["steps"] if r["variant"] == BASELINE.name}
    for r in result["steps"]:
        lines.append(f"| {r['arch']} | {r['variant']} | {r['img_per_s']:.1f} | "
                     f"{r['img_per_s'] / base[r['arch']]:.2f}x | {r['step_ms']:.0f} | {r['floor_ms']:.0f} | "
                     f"{r['x_floor']:.1f} ({r['x_floor_p10']:.1f}-{r['x_floor_p90']:.1f}) |")
    if result["loop"]:
        lines += ["", "## The training loop with data loading (unet_resnet34, training.train)", "",
                  "| variant | data workers | images/s | x baseline |", "|---|---:|---:|---:|"]
        first = result["loop"][0]["img_per_s"]
        for r in result["loop"]:
            lines.append(f"| {r['variant']} | {r['workers']} | {r['img_per_s']:.1f} | {r['img_per_s'] / first:.2f}x |")
        lines += ["", "Data path alone (decode + crop + flip + collate): "
                  + ", ".join(f"{k} worker(s) {v:.0f} images/s" for k, v in result["data_only"].items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", default="all", help="comma-separated registry names, or 'all'")
    p.add_argument("--detail-archs", default="unet_resnet34",
                   help="architectures that also get the compiled and unfused-optimiser variants ('' for none)")
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant (rounded up to rounds of 5)")
    p.add_argument("--loop-steps", type=int, default=200, help="steps of the training loop (0: skip it)")
    p.add_argument("--data", default="../shared/data/train")
    args = p.parse_args(argv)
    archs = list_models() if args.archs == "all" else args.archs.split(",")
    detail = [a for a in args.detail_archs.split(",") if a]
    info = print_machine()
    rates, _, best_probe = machine_rates()
    print(f"dense rates: bf16 {rates['bf16']:.0f} GFLOP/s ({best_probe['bf16'][0]}), fp32 {rates['fp32']:.0f}")
    steps = []
    for arch in archs:
        for v in VARIANTS + (DETAIL_VARIANTS if arch in detail else []):
            if v.depthwise_bf16 and not any(map(is_depthwise, create_model(arch).modules())):
                continue
            row = measure_step(arch, v, args.steps, best_probe["bf16"][1])
            steps.append(row)
            print(f"{arch:>24} | {v.name:<42} {row['img_per_s']:6.1f} img/s  x floor {row['x_floor']:.1f}",
                  flush=True)
    loop, data_only = [], {}
    if args.loop_steps:
        for v, workers in ((BASELINE, 1), (FAST, 1), (FAST, 0)):
            loop.append(measure_loop(args.data, v, args.loop_steps, workers))
            print(f"loop | {v.name:<42} workers {workers}: {loop[-1]['img_per_s']:6.1f} img/s", flush=True)
        data_only = {w: measure_data(args.data, 60, w) for w in (0, 1)}
        print("data path alone:", {k: round(v) for k, v in data_only.items()})
    result = {"machine": info, "date": time.strftime("%Y-%m-%d"), "batch_size": BATCH, "crop_size": CROP,
              "rates_gflops": rates, "bf16_probe": best_probe["bf16"][0], "steps": steps, "loop": loop,
              "data_only": data_only}
    out = Path("benchmarks/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_speed.json").write_text(json.dumps(result, indent=2))
    (out / "train_speed.md").write_text(_markdown(result))
    print(f"wrote {out / 'train_speed.md'}")


if __name__ == "__main__":
    main()
