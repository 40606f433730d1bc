"""Flicker and colour PSNR of the default model's answers, per-frame and stabilised, on clips made from the
bench photos (benchmarks.video.clips), each clip coloured both ways by colorize.video.colorize_video.

Two readings of the flicker: in the file (the output MP4 decoded, as a player shows it), and of the colour
as coloured (the ab at the network's render size that colorize.video hands to the encoder, before it is
written as 8-bit chroma: the network's answers are kept during the per-frame run and the stabiliser is run
over them as colorize.video runs it). PSNR is read from the file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.video.clips import Clip, read_photo, resized, standard_clips
from benchmarks.video.measure import Flicker, score_clip

BENCH = Path(__file__).resolve().parents[3] / "shared" / "data" / "bench"
SETS = ("kodak24", "mcmaster18", "bsds100", "urban100", "sunhays80", "set14")


class Recorder(torch.nn.Module):
    """The colorizer, keeping each frame's input lightness and answer at the render size."""

    def __init__(self, model):
        super().__init__()
        self.model, self.metadata = model, getattr(model, "metadata", None)
        self.lightness: list[np.ndarray] = []
        self.ab: list[np.ndarray] = []

    def forward(self, lightness: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        ab = self.model(lightness, *args, **kwargs)
        self.lightness += list(lightness[:, 0].float().cpu().numpy())
        self.ab += list(ab.float().cpu().numpy())
        return ab


def bench_photos(name: str, count: int) -> list[tuple[str, np.ndarray]]:
    """The first ``count`` photos of a bench set, by file name (chosen before any result was seen)."""
    files = sorted(p for p in (BENCH / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [(p.stem, read_photo(p)) for p in files[:count]]


def render_flicker(clip: Clip, recorder: Recorder) -> dict:
    """The flicker of the colour as coloured: the truth at the render size, the network's answers and the
    stabiliser's (run over the same answers, as colorize.video runs it)."""
    from colorize.video.stabilize import Stabilizer

    height, width = recorder.ab[0].shape[1:]
    small = resized(clip, (width, height))
    stabilizer = Stabilizer()
    flicker = {name: Flicker(small) for name in ("truth", "per_frame", "stabilised")}
    for t, (lightness, ab) in enumerate(zip(recorder.lightness, recorder.ab, strict=True)):
        flicker["truth"].add(t, clip.truth_ab(t, (width, height)))
        flicker["per_frame"].add(t, ab)
        flicker["stabilised"].add(t, stabilizer.step(lightness, ab))
    return {name: f.value for name, f in flicker.items()}


def measure_clip(clip: Clip, model, workdir: Path) -> dict:
    """One clip coloured per-frame and stabilised, and measured."""
    from colorize.video import colorize_video

    source = clip.write(workdir / "input.mp4")
    outputs = {"per_frame": workdir / "per_frame.mp4", "stabilised": workdir / "stabilised.mp4"}
    recorder = Recorder(model)
    per_frame = colorize_video(source, outputs["per_frame"], recorder, stabilize=False)
    stabilised = colorize_video(source, outputs["stabilised"], model, stabilize=True)
    scores = score_clip(clip, source, outputs)
    return {"clip": clip.name, "kind": clip.kind, "frames": clip.frames, "cuts": len(clip.cuts),
            "cuts_found": stabilised.cuts, "file": scores, "render": {"flicker": render_flicker(clip, recorder)},
            "fps": {"per_frame": per_frame.fps, "stabilised": stabilised.fps}}


def summary(rows: list[dict]) -> dict:
    """Means over clips; flicker ratios of the means; cut counts right and cuts reported in clips without."""
    def mean(get) -> float:
        return float(np.mean([get(r) for r in rows]))

    out = {"clips": len(rows),
           "cuts_right": sum(r["cuts_found"] == r["cuts"] for r in rows if r["cuts"]),
           "cut_clips": sum(1 for r in rows if r["cuts"]),
           "false_cuts": sum(r["cuts_found"] for r in rows if not r["cuts"])}
    for reading in ("file", "render"):
        flicker = {k: mean(lambda r, k=k, reading=reading: r[reading]["flicker"][k])
                   for k in ("truth", "per_frame", "stabilised")}
        flicker["ratio"] = flicker["stabilised"] / flicker["per_frame"]
        out[f"flicker_{reading}"] = flicker
    out["psnr"] = {k: mean(lambda r, k=k: r["file"]["psnr"][k]) for k in ("grey", "per_frame", "stabilised")}
    return out


def run(model, groups: dict[str, list[tuple[str, np.ndarray]]], frames: int, log=print, **film) -> dict:
    """Per group of photos (a bench set): every clip's row and the group's summary; and the summary over
    all clips. ``film``: grain and flicker, if not the clip maker's."""
    results, everything = {}, []
    with tempfile.TemporaryDirectory() as workdir:
        for name, photos in groups.items():
            rows = []
            for clip in standard_clips(photos, frames, seed=1, **film):
                rows.append(measure_clip(clip, model, Path(workdir)))
                log(f"{name}: {clip.name}: {rows[-1]['file']}, render {rows[-1]['render']}")
            results[name] = {"summary": summary(rows), "rows": rows}
            everything += rows
    return {"sets": results, "all": summary(everything), "frames": frames}


def table(quality: dict) -> list[str]:
    """The Markdown table: one row per set and one for all clips."""
    lines = ["| set | clips | flicker in the file: truth · per-frame · stabilised (ratio) | flicker of the colour "
             "as coloured: truth · per-frame · stabilised (ratio) | PSNR (dB): grey · per-frame · stabilised | "
             "cuts right · cuts in clips without |", "|---|---:|---:|---:|---:|---:|"]
    for name, s in [*((n, r["summary"]) for n, r in quality["sets"].items()), ("**all**", quality["all"])]:
        f, g, p = s["flicker_file"], s["flicker_render"], s["psnr"]
        lines.append(f"| {name} | {s['clips']} | {f['truth']:.2f} · {f['per_frame']:.2f} · {f['stabilised']:.2f} "
                     f"({f['ratio']:.2f}) | {g['truth']:.2f} · {g['per_frame']:.2f} · {g['stabilised']:.2f} "
                     f"({g['ratio']:.2f}) | {p['grey']:.2f} · {p['per_frame']:.2f} · {p['stabilised']:.2f} | "
                     f"{s['cuts_right']} of {s['cut_clips']} · {s['false_cuts']} |")
    return lines
