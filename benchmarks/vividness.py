"""The cost of a colour distribution: a 1 MP request coloured by the default model and by a distribution model,
in turn (A B A B ...), on the service's path (colorize.engine.load_colorizer with MODEL_RUNTIME and
MODEL_PRECISION auto: OpenVINO in bf16 where the CPU has bf16 units), at each model's own render size.

    python -m benchmarks.vividness --checkpoints models/colorizer.safetensors models/colorizer_vivid.safetensors

Times colorize_upright (pre-processing, network, decoding the distribution, post-processing) per request;
decode and encode of the photo are the same for both and left out. Medians of --runs pairs after a warm-up,
and the ratio of the medians. Writes benchmarks/out/vividness.{md,json}. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from PIL import Image

from benchmarks.machine import print_machine, save_results

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoints", type=Path, nargs=2, required=True, help="A (the baseline) and B")
    p.add_argument("--source", type=Path, default=ROOT.parent / "shared/data/bench/kodak24/kodim04.jpg")
    p.add_argument("--megapixels", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--vividness", type=float, nargs="*", default=[],
                   help="B also at these vividness values (one more timing each)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = p.parse_args(argv)

    from colorize.engine import load_colorizer, resolve_precision, resolve_runtime
    from colorize.pipeline import colorize_upright, recommended_render_size

    info = print_machine()
    runtime, precision = resolve_runtime("auto", "cpu"), resolve_precision("auto", "cpu")
    grey = Image.open(args.source).convert("L")
    scale = (args.megapixels * 1e6 / (grey.width * grey.height)) ** 0.5
    grey = grey.resize((round(grey.width * scale), round(grey.height * scale)), Image.LANCZOS)
    models = [load_colorizer(c, precision=precision, runtime=runtime) for c in args.checkpoints]
    variants = [(c.stem, m, None) for c, m in zip(args.checkpoints, models, strict=True)]
    variants += [(f"{args.checkpoints[1].stem} at vividness {v:g}", models[1], v) for v in args.vividness]
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for run in range(args.runs + 1):
        for name, model, vividness in variants:
            start = time.perf_counter()
            colorize_upright(grey, model, recommended_render_size(model.metadata), vividness=vividness)
            if run:  # the first round warms up (OpenVINO compiles the shape)
                times[name].append((time.perf_counter() - start) * 1000)
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians[variants[0][0]]
    lines = [f"# A {args.megapixels:g} MP request: the default model against a distribution model", "",
             f"{info['cpu']}, {info['cores']} cores, runtime {runtime}, precision {precision}; "
             f"{grey.width} x {grey.height} from {args.source.name}; medians of {args.runs} runs in turn.", "",
             "| model | ms (median) | min .. max | against A |", "|---|---:|---:|---:|"]
    for name, t in times.items():
        lines.append(f"| {name} | {medians[name]:.1f} | {min(t):.1f} .. {max(t):.1f} | {medians[name] / base:.2f}x |")
    text = "\n".join(lines) + "\n"
    save_results(args.out, "vividness", {"machine": info, "runtime": runtime, "precision": precision,
                                         "size": [grey.width, grey.height], "ms": times, "medians": medians},
                 text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
