"""Latency and PSNR of the model service's speed options: fp32, bf16, channels_last, and both.

    python benchmarks/service_precision.py --checkpoint models/colorizer.safetensors \
        [--data ../shared/data/bench/kodak24] [--render-size 256] [--repeats 3] [--limit N]

Each image's colour truth is converted to grey and colorized exactly as the service does
(colorize.pipeline.colorize); PSNR (colorize.metrics.psnr) is measured against the colour truth and
against the fp32 output (how much the faster arithmetic changes the answer). A second table measures
micro-batching: the network's time per image when several requests run as one batch. Results go to
benchmarks/out/service_precision.{md,json}; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_model, save_results  # noqa: E402
from colorize.checkpoint import load_model  # noqa: E402
from colorize.engine import colorizer_for, cpu_flags, openvino_available, usable_cores  # noqa: E402
from colorize.metrics import psnr  # noqa: E402
from colorize.pipeline import colorize, predict_ab, render_shape  # noqa: E402

# (runtime, precision, channels_last); the first is the baseline
VARIANTS = [("torch", "fp32", False), ("torch", "bf16", False), ("torch", "fp32", True), ("torch", "bf16", True)]
if openvino_available():
    VARIANTS += [("openvino", "fp32", False), ("openvino", "bf16", False)]
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="a colorize .safetensors checkpoint")
    p.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "bench" / "kodak24",
                   help="folder of colour photos (default: ../shared/data/bench/kodak24)")
    p.add_argument("--render-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs per image and variant (their median and best are kept)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    p.add_argument("--batch-sizes", default="1,2,4", help="micro-batching table (empty: skip)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    return p


def machine() -> dict:
    flags = cpu_flags()
    return {"cpu": cpu_model(), "cores": usable_cores(), "torch_threads": torch.get_num_threads(),
            "bf16_flags": sorted(flags & {"amx_bf16", "avx512_bf16"}),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "python": platform.python_version()}


def as_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32)).permute(2, 0, 1)


def measure(checkpoint: Path, images: list[tuple[str, Image.Image]], render_size: int, repeats: int
            ) -> list[dict]:
    """Every variant on every image; the variants take turns, so that load from other processes on the
    machine falls on all of them alike."""
    models = {}
    for engine, precision, channels_last in VARIANTS:
        model = colorizer_for(load_model(checkpoint)[0], precision=precision, runtime=engine,
                              channels_last=channels_last, threads=torch.get_num_threads(), cache_size=64)
        if engine == "openvino":
            for _, truth in images:  # compile every render shape before timing
                colorize(truth.convert("L"), model, render_size)
        colorize(images[0][1].convert("L"), model, render_size)  # warm-up
        models[(engine, precision, channels_last)] = model
    rows: dict[tuple[str, str, bool], list[dict]] = {v: [] for v in VARIANTS}
    for name, truth in images:
        grey = truth.convert("L")
        totals: dict[tuple[str, str, bool], list[float]] = {v: [] for v in VARIANTS}
        networks: dict[tuple[str, str, bool], list[float]] = {v: [] for v in VARIANTS}
        outputs: dict[tuple[str, str, bool], Image.Image] = {}
        for _ in range(repeats):
            for variant, model in models.items():
                timings: dict[str, float] = {}
                outputs[variant] = colorize(grey, model, render_size, timings=timings)
                totals[variant].append(sum(timings.values()))
                networks[variant].append(timings["network_ms"])
        fp32 = as_tensor(outputs[VARIANTS[0]])
        for variant in VARIANTS:
            out = as_tensor(outputs[variant])
            rows[variant].append({"image": name, "total_ms": statistics.median(totals[variant]),
                                  "total_ms_best": min(totals[variant]),
                                  "network_ms": statistics.median(networks[variant]),
                                  "network_ms_best": min(networks[variant]),
                                  "psnr_truth_db": float(psnr(out, as_tensor(truth))),
                                  "psnr_vs_fp32_db": float(psnr(out, fp32))})
    variants = []
    for (engine, precision, channels_last), per_image in rows.items():
        vs_fp32 = [r["psnr_vs_fp32_db"] for r in per_image if np.isfinite(r["psnr_vs_fp32_db"])]
        variants.append({
            "name": ("OpenVINO " if engine == "openvino" else "") + precision
                    + ("+channels_last" if channels_last else ""), "runtime": engine,
            "precision": precision, "channels_last": channels_last,
            **{key: statistics.mean(r[key] for r in per_image)
               for key in ("total_ms", "total_ms_best", "network_ms", "network_ms_best")},
            "psnr_truth_db": statistics.mean(r["psnr_truth_db"] for r in per_image),
            "psnr_vs_fp32_db": statistics.mean(vs_fp32) if vs_fp32 else None,
            "per_image": per_image,
        })
    return variants


def batching(checkpoint: Path, shape: tuple[int, int], sizes: list[int], repeats: int) -> list[dict]:
    """Network time per image when ``b`` same-shaped requests run as one batch (batch sizes take turns)."""
    cases = [(precision, b) for precision in ("fp32", "bf16") for b in sizes]
    models = {p: colorizer_for(load_model(checkpoint)[0], precision=p, channels_last=True) for p in ("fp32", "bf16")}
    inputs = {b: torch.rand(b, 1, *shape) * 100 for b in sizes}
    for precision, b in cases:
        predict_ab(models[precision], inputs[b])  # warm-up for this shape
    times: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    for _ in range(repeats):
        for precision, b in cases:
            start = time.perf_counter()
            predict_ab(models[precision], inputs[b])
            times[(precision, b)].append((time.perf_counter() - start) * 1000 / b)
    return [{"precision": p, "channels_last": True, "batch": b, "network_ms_per_image": statistics.median(t),
             "network_ms_per_image_best": min(t)} for (p, b), t in times.items()]


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Model service: precision and layout",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads, "
        f"{m['cpu_capability']}, bf16 flags: {', '.join(m['bf16_flags']) or 'none'}); 1-minute load "
        f"average {m['load_average'][0]:.1f} before, {m['load_average'][1]:.1f} after (other processes).",
        f"Checkpoint: `{report['checkpoint']}` ({report['architecture']}); {report['images']} images from "
        f"`{report['data']}`; render size {report['render_size']}; {report['repeats']} runs per image: "
        "the mean over images of each image's median (and, in brackets, of its best run).",
        "",
        "| variant | colorize ms | network ms | speed-up vs fp32 | PSNR vs truth dB "
        "| PSNR vs fp32 output dB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = report["variants"][0]["total_ms"]
    for v in report["variants"]:
        vs_fp32 = "identical" if v["psnr_vs_fp32_db"] is None else f"{v['psnr_vs_fp32_db']:.1f}"
        lines.append(f"| {v['name']} | {v['total_ms']:.0f} ({v['total_ms_best']:.0f}) "
                     f"| {v['network_ms']:.0f} ({v['network_ms_best']:.0f}) "
                     f"| {base / v['total_ms']:.2f}x | {v['psnr_truth_db']:.2f} | {vs_fp32} |")
    if report["batching"]:
        lines += ["", f"Micro-batching, network only, render shape {report['batch_shape']}:", "",
                  "| precision | channels_last | batch | network ms per image, median (best) |",
                  "| --- | --- | ---: | ---: |"]
        lines += [f"| {b['precision']} | {b['channels_last']} | {b['batch']} "
                  f"| {b['network_ms_per_image']:.0f} ({b['network_ms_per_image_best']:.0f}) |"
                  for b in report["batching"]]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    files = sorted(f for f in args.data.iterdir() if f.suffix.lower() in SUFFIXES)
    files = files[: args.limit] if args.limit else files
    if not files:
        print(f"no images in {args.data}", file=sys.stderr)
        return 2
    images = [(f.name, Image.open(f).convert("RGB")) for f in files]
    load_before = os.getloadavg()[0]
    variants = measure(args.checkpoint, images, args.render_size, args.repeats)
    w, h = images[0][1].size
    shape = render_shape(h, w, args.render_size)
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    meta = load_model(args.checkpoint)[1]
    report = {"machine": machine(), "checkpoint": str(args.checkpoint),
              "architecture": meta.get("architecture", {}).get("name"), "data": str(args.data.resolve()),
              "images": len(images), "render_size": args.render_size, "repeats": args.repeats,
              "variants": variants, "batch_shape": list(shape),
              "batching": batching(args.checkpoint, shape, sizes, args.repeats) if sizes else []}
    report["machine"]["load_average"] = [load_before, os.getloadavg()[0]]
    save_results(args.out, "service_precision", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
