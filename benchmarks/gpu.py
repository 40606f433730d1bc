"""GPU figures on a CUDA machine: the model's forward pass with batching, and colorize() end to end.

    python -m benchmarks.gpu [--checkpoint models/colorizer.safetensors] [--sizes 128 256 512] [--batches 1 8 32]

Prints the machine first. For each render size and batch size: the median time of one batched forward
pass (CUDA events, after warm-up), images/s, and its multiple of the compute floor (FLOPs x batch / the
GPU's matmul rate measured in the same run in the variant's arithmetic). Variants: fp32 eager with TF32
off (the baseline), bf16 autocast + channels_last, fp16 autocast + channels_last. Then colorize() on
1 MP and 12 MP photos at the checkpoint's render size: pre-processing, network, post-processing (decode
and encode excluded). Writes benchmarks/out/gpu.{md,json}. Needs CUDA; imports nothing of the services.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.machine import latency_ms, model_flops, print_machine, save_results
from colorize import DEFAULT_CHECKPOINT
from colorize.checkpoint import load_model
from colorize.engine import colorizer_for
from colorize.pipeline import colorize, recommended_render_size

VARIANTS = {  # name -> (autocast dtype or None, channels_last)
    "fp32 eager (baseline)": (None, False),
    "bf16 autocast + channels_last": (torch.bfloat16, True),
    "fp16 autocast + channels_last": (torch.float16, True),
}


def timed_ms(fn, runs: int, device: str = "cuda") -> float:
    """Median time of ``fn`` in ms over ``runs`` calls after 3 warm-up calls: CUDA events on a GPU (the
    device's own time), elsewhere the wall clock (benchmarks.machine.latency_ms; the CPU, for the tests)."""
    if not device.startswith("cuda"):
        return latency_ms(fn, runs)
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def matmul_rate(dtype: torch.dtype, n: int = 8192, device: str = "cuda") -> float:
    """Measured FLOP/s of an n x n x n matrix product (fp32 with TF32 off)."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    return 2 * n**3 / (timed_ms(lambda: a @ b, 10, device) / 1e3)


def forward_rows(model, sizes: list[int], batches: list[int], rates: dict, runs: int,
                 device: str = "cuda") -> list[dict]:
    rows = []
    for size in sizes:
        flops = model_flops(model, size)
        for name, (dtype, channels_last) in VARIANTS.items():
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            model.to(memory_format=fmt)
            for batch in batches:
                x = (torch.rand(batch, 1, size, size, device=device) * 100).contiguous(memory_format=fmt)

                def run(x=x, dtype=dtype):
                    auto = torch.autocast(x.device.type, dtype=dtype) if dtype else contextlib.nullcontext()
                    with torch.inference_mode(), auto:
                        return model(x)
                ms = timed_ms(run, runs, device)
                floor_ms = flops * batch / rates[str(dtype or torch.float32)] * 1e3
                rows.append({"size": size, "variant": name, "batch": batch, "gflops_per_image": flops / 1e9,
                             "median_ms": ms, "images_per_s": batch / ms * 1e3, "floor_ms": floor_ms,
                             "x_floor": ms / floor_ms})
            model.to(memory_format=torch.contiguous_format)
    return rows


def photo(megapixels: float) -> Image.Image:
    """A smooth synthetic colour photo of about ``megapixels`` (4:3); timing does not depend on content."""
    h = int((megapixels * 1e6 * 3 / 4) ** 0.5)
    w = int(h * 4 / 3)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([128 + 100 * np.sin(x / 97), 128 + 100 * np.cos(y / 61), 128 + 60 * np.sin((x + y) / 43)], -1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def pipeline_rows(model, render_size: int, runs: int, megapixels=(1, 12)) -> list[dict]:
    """Median stage times of colorize() (bf16) per photo size, after two warm-up calls. Each stage ends
    with the ab maps back on the CPU, so the GPU's work is inside the network figure."""
    colorizer = colorizer_for(model, precision="bf16")
    rows = []
    for mp in megapixels:
        image = photo(mp)
        samples = []
        for i in range(runs + 2):
            timings: dict = {}
            start = time.perf_counter()
            colorize(image, colorizer, render_size, timings)
            total = (time.perf_counter() - start) * 1000
            if i >= 2:
                samples.append({**timings, "total_ms": total})
        rows.append({"megapixels": mp, "size": f"{image.width}x{image.height}", "render_size": render_size,
                     **{k: statistics.median(s[k] for s in samples) for k in samples[0]}})
    return rows


def render(info: dict, rates: dict, rows: list[dict], pipe: list[dict]) -> str:
    lines = ["# GPU benchmark", "", "machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), "",
             "Measured matmul rate (8192^3): " + ", ".join(f"{k} {v / 1e12:.0f} TFLOP/s" for k, v in rates.items()),
             "", "## Forward pass, batched", "",
             "| size | variant | batch | median ms | images/s | × floor |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['size']} | {r['variant']} | {r['batch']} | {r['median_ms']:.2f} | {r['images_per_s']:.0f} "
              f"| {r['x_floor']:.1f} |" for r in rows]
    lines += ["", "## colorize() with the model on the GPU (bf16), decode and encode excluded", "",
              "| photo | render | pre-processing ms | network ms | post-processing ms | total ms |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {p['megapixels']} MP ({p['size']}) | {p['render_size']} | {p['preprocess_ms']:.1f} "
              f"| {p['network_ms']:.1f} | {p['postprocess_ms']:.1f} | {p['total_ms']:.1f} |" for p in pipe]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks.gpu needs a CUDA GPU (none is visible)")
    info = print_machine()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32
    model, meta = load_model(args.checkpoint, device="cuda")
    model.eval()
    rates = {str(dt): matmul_rate(dt) for dt in (torch.float32, torch.bfloat16, torch.float16)}
    rows = forward_rows(model, args.sizes, args.batches, rates, args.runs)
    pipe = pipeline_rows(model, recommended_render_size(meta), 5)
    report = {"machine": info, "checkpoint": str(args.checkpoint), "matmul_flops_per_s": rates,
              "forward": rows, "pipeline": pipe}
    save_results(args.out, "gpu", report, render(info, rates, rows, pipe))


if __name__ == "__main__":
    main()
