"""Frames per second end to end (decode, colour, encode: colorize.video.colorize_video's own clock, which
starts after the probe and leaves the model's loading out) at 854 x 480 and 1920 x 1080, stabilised and
per-frame, and where the time goes (VideoReport.timings_ms, per frame). Medians of ``runs``."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks.video.clips import SIZE_480P, SIZE_1080P, long_clip

STAGES = ("decode", "network", "stabilize", "chroma", "encode")


def run(model, photos: list, seconds: float = 10.0, runs: int = 3, sizes=(SIZE_480P, SIZE_1080P),
        log=print) -> list[dict]:
    """One row per size and mode: the frames/s of each run and the median run's stage times (ms a frame)."""
    from colorize.video import colorize_video

    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for size in sizes:
            clip = long_clip(photos, int(seconds * 25), size, seed=3)
            source = clip.write(Path(workdir) / "input.mp4")
            colorize_video(source, Path(workdir) / "warm.mp4", model)  # compiles the render shape
            for stabilize in (True, False):
                reports = [colorize_video(source, Path(workdir) / "out.mp4", model, stabilize=stabilize)
                           for _ in range(runs)]
                reports.sort(key=lambda r: r.fps)
                median = reports[len(reports) // 2]
                rows.append({"size": list(size), "stabilize": stabilize, "frames": median.frames,
                             "fps": [r.fps for r in reports], "fps_median": statistics.median(r.fps for r in reports),
                             "ms_per_frame": {k: median.timings_ms[k] / median.frames for k in STAGES}})
                log(f"{size} stabilize={stabilize}: {rows[-1]['fps']} fps")
    return rows


def table(rows: list[dict]) -> list[str]:
    lines = ["| size | mode | frames/s (median, min .. max) | " + " | ".join(STAGES) + " (ms a frame) |",
             "|---|---|---:|" + "---:|" * len(STAGES)]
    for r in rows:
        mode = "stabilised" if r["stabilize"] else "per-frame"
        stages = " | ".join(f"{r['ms_per_frame'][k]:.1f}" for k in STAGES)
        lines.append(f"| {r['size'][0]} x {r['size'][1]} | {mode} | {r['fps_median']:.1f} ({min(r['fps']):.1f} .. "
                     f"{max(r['fps']):.1f}) | {stages} |")
    return lines
