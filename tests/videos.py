"""Small video clips made with PyAV for the tests: ``make_clip`` (a good clip of any shape the core takes) and the
bad inputs users send (a photo or text posted as a video, a truncated MP4, audio only, no frames, an absurd
size or frame count in the header)."""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

AUDIO_RATE = 48000


def clip_frame(index: int, width: int, height: int, grey: bool = True) -> np.ndarray:
    """Frame ``index`` (H, W, 3) uint8 of a scene that moves: a gradient and a bright disc drifting right."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, radius = (width * 0.3 + index * 2.0) % width, height / 2, min(width, height) / 4
    disc = ((x - cx) ** 2 + (y - cy) ** 2 < radius ** 2).astype(np.float32)
    base = 40 + 120 * x / max(width - 1, 1) + 90 * disc
    if grey:
        rgb = np.stack([base] * 3, -1)
    else:
        rgb = np.stack([base, 200 - 100 * y / max(height - 1, 1), 60 + 150 * disc], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def add_audio(output, seconds: float):
    """A mono AAC stream on ``output`` and the frames of a 440 Hz tone ``seconds`` long, to encode into it."""
    import av

    stream = output.add_stream("aac", rate=AUDIO_RATE)
    stream.layout = "mono"
    samples = int(seconds * AUDIO_RATE)
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / AUDIO_RATE)).astype(np.float32)
    frames = []
    for start in range(0, samples, 1024):
        frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        frames.append(frame)
    return stream, frames


def make_clip(path: str | Path, width: int = 96, height: int = 64, frames: int = 12, rate: int = 25,
              audio: bool = True, grey: bool = True, pix_fmt: str = "yuv420p", codec: str = "libx264",
              rotation: int = 0, vfr: bool = False, container: str = "mp4", faststart: bool = False) -> Path:
    """A clip of ``frames`` frames at ``rate`` fps; ``audio``: a 440 Hz AAC tone as long as the video;
    ``rotation``: a display matrix (a phone held upright); ``vfr``: frames 1 and 3 intervals apart in turn
    (timestamps in ms), so the frame rate varies. ``container``: mp4, mov or mkv; ``faststart``: an MP4's index
    (moov) before its media data, as for streaming, instead of after."""
    import av

    path = Path(path)
    options = {"movflags": "+faststart"} if faststart else {}
    output = av.open(str(path), "w", format={"mkv": "matroska"}.get(container, container), options=options)
    stream = output.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    if vfr:
        stream.codec_context.time_base = Fraction(1, 1000)
    if rotation:
        stream.set_display_rotation(rotation)
    pts, step = 0, 1000 // rate
    stamps = []
    for index in range(frames):
        stamps.append(pts)
        pts += step * (1 if index % 2 == 0 else 3) if vfr else 1
    seconds = (stamps[-1] / 1000 + 0.1) if vfr else frames / rate
    audio_stream, audio_frames = add_audio(output, seconds) if audio else (None, [])
    for index, stamp in enumerate(stamps):
        frame = av.VideoFrame.from_ndarray(clip_frame(index, width, height, grey), format="rgb24")
        frame = frame.reformat(format=pix_fmt)
        frame.pts = stamp
        if vfr:
            frame.time_base = Fraction(1, 1000)
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))
    for frame in audio_frames:
        output.mux(audio_stream.encode(frame))
    if audio_stream is not None:
        output.mux(audio_stream.encode(None))
    output.close()
    return path


def text_file(path: str | Path) -> Path:
    path = Path(path)
    path.write_text("these are the minutes of the meeting, not a film\n" * 20)
    return path


def photo_file(path: str | Path, fmt: str = "JPEG") -> Path:
    """A grey photo (JPEG or PNG) posted as if it were a video."""
    path = Path(path)
    buffer = io.BytesIO()
    Image.fromarray(clip_frame(0, 96, 64)).convert("L").save(buffer, fmt)
    path.write_bytes(buffer.getvalue())
    return path


def truncated_mp4(path: str | Path, keep: float = 0.5) -> Path:
    """An MP4 cut short before its moov atom (the muxer writes it last), as an upload that broke off."""
    path = Path(path)
    make_clip(path, frames=24, audio=False)
    data = path.read_bytes()
    moov = data.find(b"moov")
    assert moov > 0 and data.find(b"mdat") < moov, "expected the moov atom after the media data"
    path.write_bytes(data[: int((moov - 4) * keep)])
    return path


def damaged_mp4(path: str | Path) -> Path:
    """An MP4 whose header is whole but whose media data is overwritten with noise part of the way in: it opens
    and probes as a good video, and its decoding breaks off."""
    path = Path(path)
    make_clip(path, frames=40, audio=False, faststart=True)
    data = bytearray(path.read_bytes())
    media = data.find(b"mdat")
    assert data.find(b"moov") < media, "expected the index first"
    start = media + (len(data) - media) // 2
    data[start:start + 2000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def audio_only(path: str | Path, seconds: float = 0.5) -> Path:
    """An M4A-like MP4 with one AAC stream and no video."""
    import av

    path = Path(path)
    output = av.open(str(path), "w", format="mp4")
    stream, frames = add_audio(output, seconds)
    for frame in frames:
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))
    output.close()
    return path


def zero_frames(path: str | Path) -> Path:
    """An AVI whose video stream (its size declared) holds no frame at all: MP4 and MOV drop an empty track
    and Matroska without a cluster does not open, so AVI is the container that keeps one."""
    import av

    path = Path(path)
    output = av.open(str(path), "w", format="avi")
    stream = output.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
    output.start_encoding()
    output.mux(stream.encode(None))
    output.close()
    return path


def _patch_box_fields(data: bytearray, box: bytes, offset: int, values: tuple[int, ...], fmt: str) -> int:
    """Write ``values`` (struct ``fmt``) ``offset`` bytes after every ``box`` fourcc; the number patched."""
    count, start = 0, 0
    while (at := data.find(box, start)) >= 0:
        struct.pack_into(fmt, data, at + offset, *values)
        count, start = count + 1, at + 4
    return count


def absurd_size(path: str | Path, side: int = 65535) -> Path:
    """A MOV of raw frames whose header says each is ``side`` x ``side`` (a 16-bit field's largest): the
    sample description and the track header patched, so a reader believes it before any frame."""
    import av

    path = Path(path)
    output = av.open(str(path), "w", format="mov")
    stream = output.add_stream("rawvideo", rate=25)
    stream.width, stream.height, stream.pix_fmt = 32, 16, "rgb24"  # MOV's "raw " entry holds RGB, not 4:2:0
    for index in range(3):
        frame = av.VideoFrame.from_ndarray(clip_frame(index, 32, 16), format="rgb24")
        frame.pts = index
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))
    output.close()
    data = bytearray(path.read_bytes())
    # VisualSampleEntry: fourcc, 6 reserved, data reference (2), 16 of version/vendor/quality, width, height.
    entry = data.find(b"stsd") + 12 + 4  # stsd: fourcc, version+flags, entry count; the entry's size
    assert data[entry:entry + 4] == b"raw ", bytes(data[entry:entry + 4])
    struct.pack_into(">HH", data, entry + 4 + 24, side, side)
    _patch_box_fields(data, b"tkhd", 4 + 76, (side << 16, side << 16), ">II")  # version 0: 16.16 fixed
    path.write_bytes(bytes(data))
    return path


def huge_frame_count(path: str | Path, frames: int = 50_000_000) -> Path:
    """An MP4 whose time-to-sample table claims ``frames`` frames of one tick each (the file holds 12)."""
    path = Path(path)
    make_clip(path, audio=False)
    data = bytearray(path.read_bytes())
    stts = data.find(b"stts")
    assert stts > 0 and struct.unpack_from(">I", data, stts + 8)[0] >= 1
    struct.pack_into(">II", data, stts + 12, frames, 1)  # the first entry: sample count, sample delta
    path.write_bytes(bytes(data))
    return path
