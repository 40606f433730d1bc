"""A video coloured as a stream: frames decoded, their lightness through the network in batches, the ab
stabilised over time (colorize.video.stabilize) and joined with the frame's own luma, encoded as they come.
Memory holds one batch of frames whatever the length; the output's Y plane is the input's."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from colorize import lab
from colorize.hints import Hint, check_inside, hint_map, spread_hints
from colorize.pipeline import lightness_at_render_size, predict_ab, recommended_render_size
from colorize.video.codec import DEFAULT_CRF, DEFAULT_PRESET, VideoWriter, read_frames
from colorize.video.probe import UnreadableVideo, VideoInfo, VideoLimits, probe
from colorize.video.stabilize import Stabilizer
from colorize.video.stream import Sink, prefetch

DEFAULT_BATCH = 8
_WHOLE = 0.98  # of the frames an index counts, decoded: a decoder may drop a broken frame or two, not more
# Y'CbCr from R'G'B' (Kr, Kb): the output's matrix is tagged in the stream (codec.VideoWriter).
_KR_KB = {True: (0.299, 0.114), False: (0.2126, 0.0722)}


class Cancelled(Exception):
    """``should_stop`` said to stop; the partial output is removed."""


@dataclass
class VideoReport:
    frames: int = 0
    seconds: float = 0.0
    cuts: int = 0
    audio: str = "none"  # none | copied | encoded (to AAC: a codec MP4 does not hold)
    timings_ms: dict = field(default_factory=dict)  # decode, network, stabilize, chroma, encode: totals

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def _lightness(y: np.ndarray, full_range: bool) -> torch.Tensor:
    codes = torch.from_numpy(y)
    if not full_range:  # studio range 16..235 -> 0..255
        codes = ((codes.float() - 16.0) * (255.0 / 219.0)).round_().clamp_(0, 255).to(torch.uint8)
    return lab.uint8_to_lightness(codes[None, None])


def _chroma(lightness: torch.Tensor, ab_small: torch.Tensor, bt601: bool, full_range: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """Cb, Cr planes (H/2, W/2) uint8 of the colour L + ab, at the chroma's own resolution."""
    h, w = lightness.shape[-2] // 2, lightness.shape[-1] // 2
    lightness_half = F.interpolate(lightness, size=(h, w), mode="area")[0, 0]
    ab = F.interpolate(ab_small[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    rgb = lab.lab_to_srgb8(lightness_half, ab[0], ab[1]).float()
    kr, kb = _KR_KB[bt601]
    luma = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    scale = 1.0 if full_range else 224.0 / 255.0
    cb = 128.0 + scale * (rgb[..., 2] - luma) / (2 * (1 - kb))
    cr = 128.0 + scale * (rgb[..., 0] - luma) / (2 * (1 - kr))
    return (cb.round_().clamp_(0, 255).to(torch.uint8).numpy(), cr.round_().clamp_(0, 255).to(torch.uint8).numpy())


def _first_frame_hints(model, small: torch.Tensor, hints: list[Hint], size: tuple[int, int]) -> torch.Tensor:
    check_inside(hints, *size)
    ab = predict_ab(model, small, hint_map(hints, size, tuple(small.shape[-2:])))
    return spread_hints(ab, small, hints, size)


def colorize_video(source: str | Path, destination: str | Path, model: torch.nn.Module, *,
                   render_size: int | None = None, stabilize: bool = True, vividness: float | None = None,
                   hints: list[Hint] | None = None, batch_size: int = DEFAULT_BATCH, crf: int = DEFAULT_CRF,
                   preset: str = DEFAULT_PRESET, limits: VideoLimits | None = None, info: VideoInfo | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, threads: int = 0) -> VideoReport:
    """Colour ``source`` into an H.264 MP4 at ``destination`` (written beside it under a temporary name and
    renamed when whole). ``model``: as for colorize.pipeline.predict_ab; ``render_size``: None for the
    model's own; ``hints``: colour hints for the first frame (in its upright pixels), carried on by the
    stabilisation; ``stabilize`` False: each frame's own answer. ``progress(frames_done, frames_total)``
    after each batch (total 0 when unknown); ``should_stop()`` True: Cancelled; ``threads``: the encoder's
    (0: one per core; a service with several workers gives each its share). VideoError (colorize.video) for a
    file that is not a video the limits take, or whose stream breaks off (UnreadableVideo)."""
    import av

    info = info or probe(source, limits)
    render_size = render_size or recommended_render_size(getattr(model, "metadata", None))
    destination = Path(destination)
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.partial")  # unique per writer
    report = VideoReport()
    timings = dict.fromkeys(("decode", "network", "stabilize", "chroma", "encode"), 0.0)
    stabilizer = Stabilizer() if stabilize else None
    start = time.perf_counter()
    container = av.open(str(source), metadata_errors="ignore")
    stop = threading.Event()
    writer = sink = batches = None
    try:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        full_range = video.codec_context.pix_fmt in ("yuvj420p", "yuvj422p", "yuvj444p") or \
            int(video.codec_context.color_range or 0) == 2
        writer = VideoWriter(partial, info.width, info.height, video, rotation=info.rotation, full_range=full_range,
                             audio=audio, crf=crf, preset=preset, threads=threads)
        report.audio = "none" if audio is None else "copied" if writer.audio_copied else "encoded"
        sink = Sink(depth=2 * batch_size)
        frames = read_frames(container, on_audio=(lambda packet: sink.call(writer.write_audio, packet))
                             if audio is not None else None, max_frames=(limits or VideoLimits()).max_frames)
        batches = prefetch(_batches(frames, batch_size, render_size, timings), 2, stop)
        for batch, full, small in batches:
            if should_stop is not None and should_stop():
                raise Cancelled("the job was cancelled")
            if batch[0].y.shape != (writer.height, writer.width):
                raise UnreadableVideo(f"a frame is {batch[0].y.shape[1]} x {batch[0].y.shape[0]}, not the "
                                      f"{writer.width} x {writer.height} the stream declares")
            tick = time.perf_counter()
            if hints and report.frames == 0:
                size = (batch[0].y.shape[1], batch[0].y.shape[0])
                first = _first_frame_hints(model, small[:1], hints, size)
                ab = torch.cat([first, predict_ab(model, small[1:], vividness=vividness)]) if len(batch) > 1 \
                    else first
            else:
                ab = predict_ab(model, small, vividness=vividness)
            timings["network"] += time.perf_counter() - tick
            for index, frame in enumerate(batch):
                tick = time.perf_counter()
                ab_frame = ab[index]
                if stabilizer is not None:
                    ab_frame = torch.from_numpy(stabilizer.step(small[index, 0].numpy(), ab_frame.numpy()))
                timings["stabilize"] += time.perf_counter() - tick
                tick = time.perf_counter()
                cb, cr = _chroma(full[index], ab_frame, writer.bt601, writer.full_range)
                timings["chroma"] += time.perf_counter() - tick
                sink.call(_timed_write, writer, timings, frame.y, cb, cr, frame.pts)
            report.frames += len(batch)
            if progress is not None:
                progress(report.frames, max(info.frames, report.frames))
        if video.frames and report.frames < video.frames * _WHOLE - 1:
            # MP4 and MOV count their frames in the index; FFmpeg ends quietly where the data does
            raise UnreadableVideo(f"the video breaks off after {report.frames:,} of its {video.frames:,} frames "
                                  "(the file is cut short or damaged)")
        sink.call(_timed_write, writer, timings, None, None, None, None)
        sink.close()
        os.replace(partial, destination)
    except BaseException:
        stop.set()
        if sink is not None:
            sink.abandon()
        if writer is not None:
            writer.abort()
        partial.unlink(missing_ok=True)
        raise
    finally:
        if batches is not None:
            batches.close()  # the decoding thread ends before its container is closed
        container.close()
    report.seconds = time.perf_counter() - start
    report.cuts = stabilizer.cuts if stabilizer is not None else 0
    report.timings_ms = {key: round(value * 1000.0, 1) for key, value in timings.items()}
    return report


def _batches(frames, batch_size: int, render_size: int, timings: dict):
    """Frames in batches with their full-resolution and render-size lightness (on the decoding thread)."""
    batch = []
    tick = time.perf_counter()
    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield _prepared(batch, render_size, timings, tick)
            batch, tick = [], time.perf_counter()
    if batch:
        yield _prepared(batch, render_size, timings, tick)


def _prepared(batch, render_size: int, timings: dict, tick: float):
    full = [_lightness(frame.y, frame.full_range) for frame in batch]
    small = torch.cat([lightness_at_render_size(lightness, render_size) for lightness in full])
    timings["decode"] += time.perf_counter() - tick
    return batch, full, small


def _timed_write(writer: VideoWriter, timings: dict, y, cb, cr, pts) -> None:
    tick = time.perf_counter()
    if y is None:
        writer.close()
    else:
        writer.write(y, cb, cr, pts)
    timings["encode"] += time.perf_counter() - tick
