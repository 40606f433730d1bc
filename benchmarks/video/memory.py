"""Peak memory against a clip's length: each length coloured (stabilised, at 854 x 480) in a child process of
its own, whose peak resident set (ru_maxrss: torch, the model and all) is read after the model is loaded
and again after the colouring. The clip is made beforehand, in the parent, frame by frame.

    python -m benchmarks.video.memory CLIP.mp4   (the child: prints one JSON line)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.video.clips import SIZE_480P, long_clip

ROOT = Path(__file__).resolve().parents[2]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(source: str) -> dict:
    from colorize.engine import load_colorizer
    from colorize.video import colorize_video

    model = load_colorizer(ROOT / "models" / "colorizer.safetensors", precision="auto", runtime="auto")
    loaded = _peak_mib()
    report = colorize_video(source, Path(source).with_name("out.mp4"), model)
    return {"frames": report.frames, "fps": report.fps, "peak_rss_loaded_mib": loaded,
            "peak_rss_mib": _peak_mib()}


def run(photos: list, lengths_s: list[float], size=SIZE_480P, log=print) -> list[dict]:
    """One row per length: the child's figures and the time the clip took to make."""
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for seconds in lengths_s:
            start = time.perf_counter()
            source = long_clip(photos, int(seconds * 25), size, seed=5).write(Path(workdir) / "input.mp4")
            made = time.perf_counter() - start
            done = subprocess.run([sys.executable, "-m", "benchmarks.video.memory", str(source)], cwd=ROOT,
                                  capture_output=True, text=True, check=True)
            rows.append({"seconds": seconds, "size": list(size), "making_s": made,
                         **json.loads(done.stdout.strip().splitlines()[-1])})
            log(f"{seconds} s: {rows[-1]}")
    return rows


def table(rows: list[dict]) -> list[str]:
    lines = ["| clip | frames | peak RSS after loading (MiB) | peak RSS after colouring (MiB) | frames/s |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['seconds']:g} s at {r['size'][0]} x {r['size'][1]} | {r['frames']} | "
                     f"{r['peak_rss_loaded_mib']:.0f} | {r['peak_rss_mib']:.0f} | {r['fps']:.1f} |")
    return lines


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1])))
