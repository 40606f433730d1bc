"""What colour hints cost: one photo coloured as the model service colours it (colorize.pipeline at the
model's render size), without hints and with 1 and 10, on the runtime the service picks on a CPU.

    python -m benchmarks.hints [--checkpoint models/colorizer.safetensors] [--megapixels 1] [--repeats 15]

Without hints the automatic decoder runs (OpenVINO bf16 where available); with hints the hint decoder runs in
PyTorch fp32 (colorize.runtime.OpenVinoColorizer). Prints the median and p90 of each, in ms, for the whole
pipeline, the network alone and the hints' spreading (the pipeline's own network_ms and spread_ms),
interleaved A B C A B C ... so a drift of this VM's speed falls on all three. Writes
benchmarks/out/hints.{md,json}. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from colorize import DEFAULT_CHECKPOINT
from colorize.engine import load_colorizer, openvino_available
from colorize.hints import Hint
from colorize.pipeline import colorize_upright, recommended_render_size
from tests.conftest import natural_image

OUT = Path(__file__).resolve().parent / "out"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--megapixels", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    runtime = "openvino" if openvino_available() else "torch"
    model = load_colorizer(args.checkpoint, precision="bf16" if runtime == "openvino" else "fp32", runtime=runtime)
    render = recommended_render_size(model.metadata)
    width = int(round((args.megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    photo = natural_image(height, width).convert("L")
    rng = np.random.default_rng(0)
    hints = [Hint(float(rng.integers(width)), float(rng.integers(height)), "#3355aa") for _ in range(10)]
    cases = {"no hints": None, "1 hint": hints[:1], "10 hints": hints}
    times = {name: {"total": [], "network": [], "spread": []} for name in cases}
    for given in cases.values():  # warm-up: compiles, caches
        colorize_upright(photo, model, render, hints=given)
    for _ in range(args.repeats):
        for name, given in cases.items():
            stages: dict[str, float] = {}
            start = time.perf_counter()
            colorize_upright(photo, model, render, timings=stages, hints=given)
            times[name]["total"].append((time.perf_counter() - start) * 1000)
            times[name]["network"].append(stages["network_ms"])
            times[name]["spread"].append(stages.get("spread_ms", 0.0))

    def stat(values: list[float]) -> dict:
        return {"p50": statistics.median(values), "p90": float(np.percentile(values, 90))}

    result = {"checkpoint": str(args.checkpoint), "runtime": runtime, "render_size": render,
              "photo": f"{width} x {height}", "repeats": args.repeats,
              "cases": {name: {k: stat(v) for k, v in t.items()} for name, t in times.items()}}
    lines = [f"{width} x {height} photo, render size {render}, automatic decoder on {runtime}, hint decoder on "
             f"PyTorch fp32; {args.repeats} runs each, interleaved.", "",
             "| | pipeline p50 (p90), ms | network p50 (p90), ms | spreading p50 (p90), ms |", "|---|---:|---:|---:|"]
    for name, r in result["cases"].items():
        lines.append(f"| {name} | {r['total']['p50']:.1f} ({r['total']['p90']:.1f}) | "
                     f"{r['network']['p50']:.1f} ({r['network']['p90']:.1f}) | "
                     f"{r['spread']['p50']:.1f} ({r['spread']['p90']:.1f}) |")
    table = "\n".join(lines) + "\n"
    OUT.mkdir(exist_ok=True)
    (OUT / "hints.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / "hints.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
