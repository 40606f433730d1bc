"""Network forward latency against the machine's compute floor.

    python -m benchmarks.model [--checkpoint models/colorizer.safetensors] [--sizes 128 256 512] [--runs 20]

For each render size: the model's FLOPs (torch.utils.flop_counter), the machine's measured matmul rate
(fp32 and bf16, in the same run), and the median forward latency after warm-up for fp32 eager (the
baseline) and the faster variants; each latency is also shown as a multiple of the compute floor
(FLOPs / measured rate of the arithmetic it uses). For the service's variant the floor is also measured
round by round right beside the forward pass (this VM's speed swings over seconds), and that paired
ratio is the figure to hold against a target. The OpenVINO variants run in a child process with the
environment the model service gives itself (colorize.engine.openmp_environment), the PyTorch
variants in this one. Writes benchmarks/out/model.{md,json}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.machine import latency_ms, model_flops, print_machine, save_results
from colorize import DEFAULT_CHECKPOINT, runtime
from colorize.checkpoint import load_model
from colorize.engine import colorizer_for, openmp_environment, openvino_available
from colorize.models import create_model

SERVICE_VARIANT = "OpenVINO bf16 (the service's default here)"
VARIANTS = {  # name -> (runtime, precision, channels_last)
    "fp32 eager (baseline)": ("torch", "fp32", False),
    "fp32 channels_last": ("torch", "fp32", True),
    "bf16 autocast": ("torch", "bf16", False),
    "bf16 autocast + channels_last": ("torch", "bf16", True),
    "OpenVINO fp32": ("openvino", "fp32", False),
    SERVICE_VARIANT: ("openvino", "bf16", False),
}


def _torch_matmul(dtype: torch.dtype, n: int) -> tuple[Callable[[], object], float]:
    """One PyTorch n x n matmul of ``dtype`` and its FLOPs."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return (lambda: a @ b), 2.0 * n**3


def _openvino_matmul(precision: str, n: int) -> tuple[Callable[[], object], float]:
    """The same in OpenVINO's CPU plugin (fp32 inputs; ``precision`` is its inference precision hint)."""
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    a = ops.parameter([n, n], np.float32)
    b = ops.constant(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    compiled = ov.Core().compile_model(ov.Model([ops.matmul(a, b, False, False)], [a]), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"})
    request = compiled.create_infer_request()
    x = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    return (lambda: request.infer([x])), 2.0 * n**3


def _torch_conv(dtype: torch.dtype) -> tuple[Callable[[], object], float]:
    """PyTorch's dense 3x3 convolution (256 -> 256 channels, 64 x 64, channels_last): oneDNN runs it on
    AMX tiles in bf16, which plain matmul at 2048 did not reach here."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(dtype).to(memory_format=torch.channels_last)
    x = torch.randn(1, 256, 64, 64, dtype=dtype).contiguous(memory_format=torch.channels_last)

    def run():
        with torch.inference_mode():
            return conv(x)
    return run, 2.0 * 256 * 256 * 9 * 64 * 64


def floor_probes(precision: str) -> dict[str, tuple[Callable[[], object], float]]:
    """The dense kernels whose measured rate defines the compute floor, by name."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    probes = {f"torch conv3x3 {precision}": _torch_conv(dtype)}
    for n in (2048, 4096):
        probes[f"torch {precision} {n}"] = _torch_matmul(dtype, n)
        if openvino_available():
            probes[f"openvino {precision} {n}"] = _openvino_matmul(precision, n)
    return probes


def sustained_rate(probe: tuple[Callable[[], object], float], seconds: float = 1.5) -> float:
    """GFLOP/s of a probe run back to back for ``seconds`` after 3 warm-up calls."""
    run, flops = probe
    for _ in range(3):
        run()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += 1
    return flops * count / (time.perf_counter() - start) / 1e9


def machine_rates() -> tuple[dict, dict, dict]:
    """Per precision: the best sustained rate (GFLOP/s), every probe's rate, and the best probe itself."""
    measured, best_probe = {}, {}
    for precision in ("fp32", "bf16"):
        probes = floor_probes(precision)
        rates = {name: sustained_rate(probe) for name, probe in probes.items()}
        measured.update(rates)
        best = max(rates, key=rates.get)
        best_probe[precision] = best, probes[best]
    best = {p: measured[best_probe[p][0]] for p in best_probe}
    return best, measured, best_probe


def paired_floor_ratio(forward: Callable[[], object], flops: int, probe, rounds: int = 15) -> dict:
    """Forward latency over the compute floor measured *next to it*, round by round.

    This VM's speed swings by up to ~2.7x over seconds (the matmul rate itself ranged 550-1500
    GFLOP/s within one process), so a median forward and a floor from another moment do not compare.
    Each round alternates 5 calls of the floor probe with 5 forward passes (probe, forward, probe, ...)
    and takes the median of each, so both see the same moments and the same statistic; the result is
    the median over rounds of forward / floor."""
    run, probe_flops = probe
    for _ in range(3):
        forward()
    run()
    ratios, floors, forwards, all_times = [], [], [], []
    for _ in range(rounds):
        probe_s, times = [], []
        for _ in range(5):
            start = time.perf_counter()
            run()
            probe_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            forward()
            times.append((time.perf_counter() - start) * 1000)
        floor_ms = flops / (probe_flops / statistics.median(probe_s)) * 1000
        all_times += times
        forwards.append(statistics.median(times))
        floors.append(floor_ms)
        ratios.append(forwards[-1] / floor_ms)
    q = statistics.quantiles(ratios, n=10)
    return {"rounds": rounds, "x_floor_median": statistics.median(ratios), "x_floor_p10": q[0],
            "forward_ms_median": statistics.median(all_times), "floor_ms_median": statistics.median(floors),
            "x_floor_p90": q[-1], "forward_ms_min": min(forwards), "forward_ms_max": max(forwards),
            "floor_ms_min": min(floors), "floor_ms_max": max(floors)}


@contextlib.contextmanager
def forward_fn(model, size: int, precision: str, channels_last: bool):
    """A no-argument call of one forward pass at size x size in the variant's precision and layout."""
    x = torch.rand(1, 1, size, size) * 100
    if isinstance(model, runtime.OpenVinoColorizer):
        channels_last = False
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    auto = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    def run():
        with torch.inference_mode(), auto:
            return model(x)
    try:
        yield run
    finally:
        if channels_last:
            model.to(memory_format=torch.contiguous_format)


def measure_variants(model, sizes: list[int], names: list[str], runs: int, rounds: int, paired_for: str,
                     probe) -> tuple[list[dict], list[dict]]:
    """Median latency of each named variant at each size; the paired floor ratio for ``paired_for``."""
    compiled = {}
    if any(VARIANTS[n][0] == "openvino" for n in names):
        compiled = {p: colorizer_for(model, precision=p, runtime="openvino", threads=torch.get_num_threads())
                    for p in ("fp32", "bf16")}
    rows, paired = [], []
    for size in sizes:
        flops = model_flops(model, size)
        for name in names:
            engine, precision, cl = VARIANTS[name]
            net = compiled[precision] if engine == "openvino" else model
            with forward_fn(net, size, precision, cl) as forward:
                ms = latency_ms(forward, runs)
                if name == paired_for:
                    paired.append({"size": size, "variant": name, **paired_floor_ratio(forward, flops, probe, rounds)})
            rows.append({"size": size, "variant": name, "gflops": flops / 1e9, "median_ms": ms})
    return rows, paired


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--rounds", type=int, default=15, help="rounds of the paired floor measurement")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    p.add_argument("--child-probe", help=argparse.SUPPRESS)  # runs the OpenVINO variants, prints JSON
    args = p.parse_args()
    if args.rounds < 2:
        p.error("--rounds: at least 2 (the paired ratio is reported as quantiles over the rounds)")
    if args.checkpoint.exists():
        model, meta = load_model(args.checkpoint)
        source = str(args.checkpoint)
    else:  # latency does not depend on the weights' values
        model, source = create_model("unet_resnet34").eval(), "random-weight unet_resnet34"
    openvino_names = [n for n, v in VARIANTS.items() if v[0] == "openvino"]
    if args.child_probe:
        rows, paired = measure_variants(model, args.sizes, openvino_names, args.runs, args.rounds, SERVICE_VARIANT,
                                        floor_probes("bf16")[args.child_probe])
        print(json.dumps({"rows": rows, "paired": paired}))
        return
    info = print_machine()
    rates, measured, best_probe = machine_rates()
    print("dense rates (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in measured.items()))
    print(f"best: fp32 {rates['fp32']:.0f} GFLOP/s ({best_probe['fp32'][0]}), "
          f"bf16 {rates['bf16']:.0f} GFLOP/s ({best_probe['bf16'][0]})")
    service_variant = SERVICE_VARIANT if openvino_available() else "bf16 autocast + channels_last"
    torch_names = [n for n in VARIANTS if n not in openvino_names]
    rows, paired = measure_variants(model, args.sizes, torch_names, args.runs, args.rounds, service_variant,
                                    best_probe["bf16"][1])
    service_env = openmp_environment("auto", "cpu")  # the model service's, with its default MODEL_RUNTIME
    if openvino_available():
        # The OpenVINO variants run in a process of their own with the environment the model service
        # gives itself (OMP_WAIT_POLICY=PASSIVE, which slows PyTorch's own variants): each path as served.
        cmd = [sys.executable, "-m", "benchmarks.model", "--child-probe", best_probe["bf16"][0], "--checkpoint",
               str(args.checkpoint), "--runs", str(args.runs), "--rounds", str(args.rounds), "--sizes",
               *map(str, args.sizes)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ | service_env)
        child = json.loads(done.stdout.strip().splitlines()[-1])
        rows += child["rows"]
        paired += child["paired"]
    order = list(VARIANTS)
    rows.sort(key=lambda r: (r["size"], order.index(r["variant"])))
    for r in rows:
        r["floor_ms"] = r["gflops"] * 1e9 / (rates[VARIANTS[r["variant"]][1]] * 1e9) * 1000
        r["x_floor"] = r["median_ms"] / r["floor_ms"]
        print(f"{r['size']:4d}^2 {r['variant']:32s} {r['median_ms']:8.1f} ms  floor {r['floor_ms']:6.1f} ms  "
              f"({r['x_floor']:.2f}x floor)")
    for r in paired:
        print(f"{r['size']:4d}^2 {r['variant']}: paired with the floor, {r['x_floor_median']:.2f}x floor "
              f"(median of {r['rounds']} rounds; p10 {r['x_floor_p10']:.2f}, p90 {r['x_floor_p90']:.2f})")
    report = {"machine": info, "model": source, "matmul_gflops": rates, "matmul_measured": measured,
              "best_probe": {p: v[0] for p, v in best_probe.items()}, "openvino_environment": service_env,
              "results": rows, "paired": paired}
    base = {r["size"]: r["median_ms"] for r in rows if r["variant"].startswith("fp32 eager")}
    lines = [f"Model: {source}. Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}. "
             "Measured dense rate (the best of matmul in PyTorch and OpenVINO at 2048 and 4096, and a 3x3 "
             f"convolution in PyTorch): fp32 {rates['fp32']:.0f} "
             f"GFLOP/s, bf16 {rates['bf16']:.0f} GFLOP/s ("
             + ", ".join(f"{k}: {v:.0f}" for k, v in measured.items()) + "). "
             f"Median of {args.runs} runs after 3 warm-up runs (OpenVINO: after compiling the shape). "
             "The OpenVINO variants ran in a process with the model service's environment ("
             + (", ".join(f"{k}={v}" for k, v in service_env.items()) or "nothing added") + ").", "",
             "| render size | variant | GFLOPs | median ms | vs fp32 eager | compute floor ms | x floor |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['size']} | {r['variant']} | {r['gflops']:.1f} | {r['median_ms']:.1f} | "
              f"{base[r['size']] / r['median_ms']:.2f}x | {r['floor_ms']:.1f} | {r['x_floor']:.2f} |" for r in rows]
    lines += ["", f"Paired with the floor ({service_variant}): each of {args.rounds} rounds alternates 5 calls of "
              "the best floor probe with 5 forward passes and divides the forward's median by the floor "
              "from the probe's median; x floor is the median over rounds (p10-p90 in brackets), with the "
              "range of the forward and floor times over the rounds.", "",
              "| render size | x floor (paired) | forward ms, min-max | floor ms, min-max |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['size']} | {r['x_floor_median']:.2f} ({r['x_floor_p10']:.2f}-{r['x_floor_p90']:.2f}) | "
              f"{r['forward_ms_min']:.1f}-{r['forward_ms_max']:.1f} | {r['floor_ms_min']:.1f}-{r['floor_ms_max']:.1f} |"
              for r in paired]
    save_results(args.out, "model", report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
