"""Video: the default model on clips made from the bench photos, per-frame and stabilised.

    python -m benchmarks.video [--parts quality speed memory] [--photos 4] [--frames 48] [--memory-seconds 10 60]

quality (benchmarks.video.quality): flicker as the warping error and colour PSNR over the grey baseline per
set, and whether scene cuts are found; speed (benchmarks.video.speed): frames/s end to end at 480p and
1080p and where the time goes; memory (benchmarks.video.memory): peak RSS against the clip's length.
The default model (models/colorizer.safetensors) as the service loads it (precision and runtime auto), at
its own render size. Writes benchmarks/out/video_<part>.{md,json}. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks.machine import print_machine, save_results
from benchmarks.video import memory, quality, speed

ROOT = Path(__file__).resolve().parents[2]


def _context(info: dict) -> dict:
    return {"machine": info, "date": time.strftime("%Y-%m-%d"), "load_before": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", choices=("quality", "speed", "memory"), default=["quality", "speed"])
    p.add_argument("--sets", nargs="+", default=list(quality.SETS))
    p.add_argument("--photos", type=int, default=4, help="photos per set (the first by file name)")
    p.add_argument("--frames", type=int, default=48, help="frames per quality clip (25 frames/s)")
    p.add_argument("--speed-seconds", type=float, default=10.0)
    p.add_argument("--runs", type=int, default=3, help="speed runs per size and mode")
    p.add_argument("--memory-seconds", type=float, nargs="+", default=[10.0, 60.0])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = p.parse_args(argv)

    from colorize.engine import load_colorizer, resolve_precision, resolve_runtime
    from colorize.pipeline import recommended_render_size

    info = print_machine()
    model = load_colorizer(ROOT / "models" / "colorizer.safetensors", precision="auto", runtime="auto")
    setting = (f"default model, render size {recommended_render_size(model.metadata)}, runtime "
               f"{resolve_runtime('auto', 'cpu')}, precision {resolve_precision('auto', 'cpu')}")
    head = f"{info['cpu']}, {info['cores']} cores; {setting}."
    photos = [photo for _, photo in quality.bench_photos("kodak24", 4)]
    if "quality" in args.parts:
        context = _context(info)
        groups = {name: quality.bench_photos(name, args.photos) for name in args.sets}
        result = {"photos_per_set": args.photos, **quality.run(model, groups, args.frames)}
        lines = [f"# Video: flicker and colour PSNR ({args.photos} photos a set, {args.frames}-frame clips)", "",
                 head, "", *quality.table(result)]
        save_results(args.out, "video_quality", {**context, "setting": setting, **result}, "\n".join(lines) + "\n")
    if "speed" in args.parts:
        context = _context(info)
        rows = speed.run(model, photos, args.speed_seconds, args.runs)
        lines = [f"# Video: frames/s end to end ({args.speed_seconds:g} s clips, {args.runs} runs)", "", head, "",
                 *speed.table(rows)]
        save_results(args.out, "video_speed", {**context, "setting": setting, "rows": rows}, "\n".join(lines) + "\n")
    if "memory" in args.parts:
        context = _context(info)
        rows = memory.run(photos, args.memory_seconds)
        lines = ["# Video: peak memory against length", "", head, "", *memory.table(rows)]
        save_results(args.out, "video_memory", {**context, "setting": setting, "rows": rows},
                     "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
