"""Network forward latency against the machine's compute floor.

    python -m benchmarks.model [--checkpoint models/colorizer.safetensors] [--sizes 128 256 512] [--runs 20]

For each render size: the model's FLOPs (torch.utils.flop_counter), the machine's measured matmul rate
(fp32 and bf16, in the same run), and the median forward latency after warm-up for fp32 eager (the
baseline) and the faster variants; each latency is also shown as a multiple of the compute floor
(FLOPs / measured rate of the arithmetic it uses). Writes benchmarks/out/model.{md,json}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.machine import print_machine
from colorize import DEFAULT_CHECKPOINT, runtime
from colorize.checkpoint import load_model
from colorize.models import create_model

VARIANTS = {  # name -> (runtime, precision, channels_last)
    "fp32 eager (baseline)": ("torch", "fp32", False),
    "fp32 channels_last": ("torch", "fp32", True),
    "bf16 autocast": ("torch", "bf16", False),
    "bf16 autocast + channels_last": ("torch", "bf16", True),
    "OpenVINO fp32": ("openvino", "fp32", False),
    "OpenVINO bf16 (the service's default here)": ("openvino", "bf16", False),
}


def matmul_rate(dtype: torch.dtype, n: int = 2048, seconds: float = 1.5) -> float:
    """Sustained dense matmul rate of PyTorch in GFLOP/s for n x n matrices of ``dtype``."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def matmul_rate_openvino(precision: str, n: int = 2048, seconds: float = 1.5) -> float:
    """The same for OpenVINO's CPU plugin (fp32 inputs; ``precision`` is its inference precision hint)."""
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    a = ops.parameter([n, n], np.float32)
    b = ops.constant(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    compiled = ov.Core().compile_model(ov.Model([ops.matmul(a, b, False, False)], [a]), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"})
    request = compiled.create_infer_request()
    x = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    for _ in range(3):
        request.infer([x])
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        request.infer([x])
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def conv_rate(dtype: torch.dtype, seconds: float = 1.5) -> float:
    """PyTorch's rate in GFLOP/s on a dense 3x3 convolution (256 -> 256 channels, 64 x 64, channels_last):
    oneDNN runs it on AMX tiles in bf16, which plain matmul did not reach here."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(dtype).to(memory_format=torch.channels_last)
    x = torch.randn(1, 256, 64, 64, dtype=dtype).contiguous(memory_format=torch.channels_last)
    flops = 2 * 256 * 256 * 9 * 64 * 64
    with torch.inference_mode():
        for _ in range(3):
            conv(x)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            conv(x)
            count += 1
    return flops * count / (time.perf_counter() - start) / 1e9


def machine_rates() -> tuple[dict, dict]:
    """The best measured dense rate per precision (GFLOP/s): matmul (PyTorch and OpenVINO, two sizes) and
    PyTorch's 3x3 convolution."""
    measured = {}
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        measured[f"torch conv3x3 {precision} "] = conv_rate(dtype)
        for n in (2048, 4096):
            measured[f"torch {precision} {n}"] = matmul_rate(dtype, n)
            if runtime.available():
                measured[f"openvino {precision} {n}"] = matmul_rate_openvino(precision, n)
    best = {p: max(v for k, v in measured.items() if f" {p} " in k) for p in ("fp32", "bf16")}
    return best, measured


def model_flops(model: torch.nn.Module, size: int) -> int:
    x = torch.rand(1, 1, size, size) * 100
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return counter.get_total_flops()


def latency_ms(model: torch.nn.Module, size: int, precision: str, channels_last: bool, runs: int) -> float:
    x = torch.rand(1, 1, size, size) * 100
    m = model
    if isinstance(model, runtime.OpenVinoColorizer):
        channels_last = False
    if channels_last:
        m = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    auto = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    times = []
    with torch.inference_mode(), auto:
        for i in range(runs + 3):
            start = time.perf_counter()
            m(x)
            if i >= 3:
                times.append((time.perf_counter() - start) * 1000)
    model.to(memory_format=torch.contiguous_format)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = p.parse_args()
    info = print_machine()
    if args.checkpoint.exists():
        model, meta = load_model(args.checkpoint)
        source = str(args.checkpoint)
    else:  # latency does not depend on the weights' values
        model, source = create_model("unet_resnet34").eval(), "random-weight unet_resnet34"
    rates, measured = machine_rates()
    print("matmul rates (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in measured.items()))
    print(f"best: fp32 {rates['fp32']:.0f} GFLOP/s, bf16 {rates['bf16']:.0f} GFLOP/s")
    compiled = {}
    if runtime.available():
        compiled = {p: runtime.OpenVinoColorizer(model, p, threads=torch.get_num_threads()) for p in ("fp32", "bf16")}
    rows = []
    for size in args.sizes:
        flops = model_flops(model, size)
        for name, (engine, precision, cl) in VARIANTS.items():
            if engine == "openvino" and not compiled:
                continue
            net = compiled[precision] if engine == "openvino" else model
            ms = latency_ms(net, size, precision, cl, args.runs)
            floor = flops / (rates[precision] * 1e9) * 1000
            rows.append({"size": size, "variant": name, "gflops": flops / 1e9, "median_ms": ms,
                         "floor_ms": floor, "x_floor": ms / floor})
            print(f"{size:4d}^2 {name:32s} {ms:8.1f} ms  floor {floor:6.1f} ms  ({ms / floor:.2f}x floor)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.json").write_text(json.dumps(
        {"machine": info, "model": source, "matmul_gflops": rates, "matmul_measured": measured,
         "results": rows}, indent=2))
    base = {r["size"]: r["median_ms"] for r in rows if r["variant"].startswith("fp32 eager")}
    lines = [f"Model: {source}. Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}. "
             "Measured dense rate (the best of matmul in PyTorch and OpenVINO at 2048 and 4096, and a 3x3 "
             f"convolution in PyTorch): fp32 {rates['fp32']:.0f} "
             f"GFLOP/s, bf16 {rates['bf16']:.0f} GFLOP/s ("
             + ", ".join(f"{k}: {v:.0f}" for k, v in measured.items()) + "). "
             f"Median of {args.runs} runs after 3 warm-up runs (OpenVINO: after compiling the shape).", "",
             "| render size | variant | GFLOPs | median ms | vs fp32 eager | compute floor ms | x floor |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['size']} | {r['variant']} | {r['gflops']:.1f} | {r['median_ms']:.1f} | "
              f"{base[r['size']] / r['median_ms']:.2f}x | {r['floor_ms']:.1f} | {r['x_floor']:.2f} |" for r in rows]
    (args.out / "model.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
