"""What a video file is, checked before any frame is coloured: a container PyAV (FFmpeg) opens, a video
stream it decodes, and a frame size, duration and frame count within the limits (docs/limits.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

# Leading bytes of the containers FFmpeg reads that this project takes as video (colorize.video.sniff).
_MAGIC = (
    (4, b"ftyp"),  # MP4, MOV (QuickTime's newer files), 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
    (0, b"RIFF"),  # AVI (checked below: RIFF....AVI)
    (4, b"moov"), (4, b"mdat"), (4, b"wide"), (4, b"free"), (4, b"skip"), (4, b"pnot"),  # older QuickTime
)
_PHOTO_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")


class VideoError(ValueError):
    """A video that cannot be coloured; ``code`` names the reason for an API's answer."""

    code = "invalid_video"
    status = 422

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAVideo(VideoError):
    code, status = "not_a_video", 415


class NoVideoStream(VideoError):
    code = "no_video_stream"


class VideoTooLarge(VideoError):
    code, status = "video_too_large", 413


class UnreadableVideo(VideoError):
    code = "unreadable_video"


@dataclass(frozen=True)
class VideoLimits:
    """The largest video taken; None: no bound (the CLI's default for duration and frames)."""

    max_bytes: int | None = None
    max_pixels: int = 4096 * 2304  # a frame: 4K DCI and UHD, with room for a scan's margins
    max_side: int = 8192
    max_duration_s: float | None = None
    max_frames: int | None = None


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    frames: int  # from the header, or duration x rate when the header has none (0: unknown)
    duration_s: float
    rate: Fraction | None  # the stream's average frame rate (a variable-rate stream keeps its timestamps)
    codec: str
    pix_fmt: str | None
    rotation: int  # degrees, as the display matrix says (a phone clip); kept in the output
    audio_codec: str | None
    container: str


def looks_like_video(head: bytes) -> bool:
    """Whether the first bytes of a file are a container this project reads as video (not a photo: an AVIF or
    HEIC is an ISO file with a photo brand)."""
    if head[:4] == b"RIFF":
        return head[8:11] == b"AVI"
    for offset, magic in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            if magic == b"ftyp":
                return head[8:12] not in _PHOTO_BRANDS
            return True
    return False


def _rotation(stream) -> int:
    try:
        for frame in stream.container.decode(stream):
            return int(round(frame.rotation or 0)) % 360
    except Exception:  # noqa: BLE001 - an undecodable first frame is reported by the colouring, with its reason
        return 0
    return 0


def probe(path: str | Path, limits: VideoLimits | None = None) -> VideoInfo:
    """Open ``path`` and check it against ``limits``; VideoError (a subclass naming the reason) if not."""
    import av

    limits = limits or VideoLimits()
    size = os.path.getsize(path)
    if limits.max_bytes is not None and size > limits.max_bytes:
        raise VideoTooLarge(f"the video is {size:,} bytes; at most {limits.max_bytes:,} are taken")
    with open(path, "rb") as file:
        head = file.read(16)
    if not looks_like_video(head):
        raise NotAVideo("not a video: expected an MP4, MOV, MKV, WebM or AVI file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise UnreadableVideo(f"the video cannot be read (truncated or damaged?): {error}") from None
    with container:
        if not container.streams.video:
            raise NoVideoStream("the file has no video stream (audio only?)")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            # FFmpeg zeroes a size it refuses (over about 268 million pixels), so 65,535 x 65,535 arrives as 0 x 0
            raise UnreadableVideo("the video stream declares no frame size that can be decoded (a damaged header, "
                                  "or an absurd size such as 65,535 x 65,535)")
        if width * height > limits.max_pixels or max(width, height) > limits.max_side:
            raise VideoTooLarge(f"a frame is {width} x {height}; at most {limits.max_pixels:,} pixels and "
                                f"{limits.max_side} a side are taken")
        rate = stream.average_rate or stream.guessed_rate
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else \
            (container.duration or 0) / 1_000_000
        frames = int(stream.frames or 0) or (int(round(duration * float(rate))) if rate else 0)
        if limits.max_duration_s is not None and duration > limits.max_duration_s:
            raise VideoTooLarge(f"the video lasts {duration:,.0f} s; at most {limits.max_duration_s:,.0f} s are "
                                "taken")
        if limits.max_frames is not None and frames > limits.max_frames:
            raise VideoTooLarge(f"the video has {frames:,} frames; at most {limits.max_frames:,} are taken")
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        info = VideoInfo(width=width, height=height, frames=frames, duration_s=duration,
                         rate=Fraction(rate) if rate else None, codec=stream.codec_context.name,
                         pix_fmt=stream.codec_context.pix_fmt, rotation=_rotation(stream), audio_codec=audio,
                         container=container.format.name)
    return info
