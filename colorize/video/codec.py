"""Frames in and out through PyAV (FFmpeg): the lightness (Y) plane of each decoded frame, and an H.264 MP4
whose Y plane is the input's own and whose chroma is the colour, with the input's timestamps, rotation and
audio (copied, not re-encoded, where MP4 holds its codec)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from colorize.video.probe import UnreadableVideo, VideoTooLarge

# x264's constant-quality setting: 18 is near transparent for film scans (grain survives), at about twice
# the bytes of FFmpeg's default 23; "veryfast" keeps x264 within a 480p frame's share of two cores.
DEFAULT_CRF = 18
DEFAULT_PRESET = "veryfast"
# Audio codecs an MP4 holds (copied as they are); any other (PCM from a scanner's MOV or AVI) is encoded to AAC.
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
_EIGHT_BIT_Y = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv440p",
                "nv12", "nv21", "gray"}
_FULL_RANGE_FORMATS = {"yuvj420p", "yuvj422p", "yuvj444p", "gray"}


@dataclass
class Frame:
    y: np.ndarray  # (H, W) uint8, the luma plane, cropped to even sides
    pts: int | None
    full_range: bool


def _luma(frame) -> tuple[np.ndarray, bool]:
    if frame.format.name not in _EIGHT_BIT_Y:  # 10-bit, RGB, palettes: the scaler's 8-bit 4:2:0 luma
        frame = frame.reformat(format="yuv420p")
    full = frame.format.name in _FULL_RANGE_FORMATS or int(frame.color_range or 0) == 2
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[: plane.height & ~1, : plane.width & ~1].copy(), full


def read_frames(container, on_audio: Callable[[object], None] | None = None,
                max_frames: int | None = None) -> Iterator[Frame]:
    """The first video stream's frames in presentation order; the first audio stream's packets go to
    ``on_audio`` as they are demuxed. UnreadableVideo when the stream breaks off; VideoTooLarge past
    ``max_frames`` (a header can understate the count)."""
    import av

    video = container.streams.video[0]
    video.thread_type = "AUTO"
    streams = [video] + ([container.streams.audio[0]] if on_audio and container.streams.audio else [])
    count = 0
    try:
        for packet in container.demux(*streams):
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    on_audio(packet)
                continue
            for decoded in packet.decode():
                count += 1
                if max_frames is not None and count > max_frames:
                    raise VideoTooLarge(f"the video has more than {max_frames:,} frames")
                y, full = _luma(decoded)
                yield Frame(y, decoded.pts, full)
    except av.FFmpegError as error:
        raise UnreadableVideo(f"the video stream breaks off after {count} frames: {error}") from None
    if count == 0:
        raise UnreadableVideo("the video stream has no frames")


class VideoWriter:
    """An H.264 (yuv420p) MP4 at ``path``; ``template``: the input's video stream (time base, rate, colour
    tags), ``audio``: its audio stream, copied or encoded to AAC."""

    def __init__(self, path: str | Path, width: int, height: int, template, *, rotation: int = 0,
                 full_range: bool = False, audio=None, crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET,
                 threads: int = 0):
        import av

        self.width, self.height, self.full_range = width & ~1, height & ~1, full_range
        self.output = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        rate = template.average_rate or template.guessed_rate or Fraction(25)
        self.stream = self.output.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": preset})
        context = self.stream.codec_context
        context.width, context.height, context.pix_fmt = self.width, self.height, "yuv420p"
        context.time_base = self.time_base = template.time_base or Fraction(1, 90000)
        self.stream.time_base = self.time_base
        context.thread_count = threads
        self.bt601 = template.codec_context.colorspace in (5, 6)  # BT.470BG, SMPTE 170M: SD's matrix
        context.colorspace = 6 if self.bt601 else 1
        context.color_primaries = 6 if self.bt601 else 1
        context.color_trc = 6 if self.bt601 else 1
        context.color_range = 2 if full_range else 1
        if rotation:
            self.stream.set_display_rotation(rotation)
        self.audio_in, self.audio_out, self.resampler = audio, None, None
        if audio is not None:
            if audio.codec_context.name in _MP4_AUDIO:
                self.audio_out = self.output.add_stream_from_template(audio)
            else:
                self.audio_out = self.output.add_stream("aac", rate=audio.codec_context.sample_rate or 48000)
                self.audio_out.bit_rate = 192_000
                self.resampler = av.AudioResampler(format="fltp", layout=audio.codec_context.layout,
                                                   rate=self.audio_out.codec_context.sample_rate)
        self._last_pts = None

    @property
    def audio_copied(self) -> bool:
        return self.audio_out is not None and self.resampler is None

    def write_audio(self, packet) -> None:
        if self.audio_out is None:
            return
        if self.resampler is None:
            packet.stream = self.audio_out
            self.output.mux(packet)
            return
        for frame in packet.decode():
            for resampled in self.resampler.resample(frame):
                resampled.pts = None
                self.output.mux(self.audio_out.encode(resampled))

    def write(self, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, pts: int | None) -> None:
        """One frame: luma (H, W) and chroma (H/2, W/2), uint8; ``pts`` in the template's time base."""
        import av

        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, data in zip(frame.planes, (y, cb, cr), strict=True):
            np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width] = data
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = 0 if self._last_pts is None else self._last_pts + 1  # a stream with no or repeated stamps
        frame.pts = self._last_pts = pts
        frame.time_base = self.time_base
        frame.color_range = 2 if self.full_range else 1
        self.output.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.output.mux(self.stream.encode(None))
        if self.resampler is not None:
            for resampled in self.resampler.resample(None):
                self.output.mux(self.audio_out.encode(resampled))
            self.output.mux(self.audio_out.encode(None))
        self.output.close()

    def abort(self) -> None:
        try:
            self.output.close()
        except Exception:  # noqa: BLE001 - the partial file is removed by the caller
            pass
