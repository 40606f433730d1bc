"""colorize.video end to end on small clips: what a person colouring a film would check first — the picture's
lightness, its timing, its rotation and its sound come through; the colour is the model's; nothing half
written is left behind."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from colorize import lab
from colorize.video import Cancelled, NotAVideo, UnreadableVideo, colorize_video, probe
from tests.videos import make_clip, text_file


class ConstantColour(torch.nn.Module):
    """A 'model' that answers the same ab everywhere: what comes out is the video code's doing, not a net's."""

    def __init__(self, a: float = 30.0, b: float = -20.0):
        super().__init__()
        self.ab = torch.nn.Parameter(torch.tensor([a, b]), requires_grad=False)
        self.calls: list[tuple[int, ...]] = []

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(lightness.shape))
        return self.ab[None, :, None, None].expand(lightness.shape[0], 2, *lightness.shape[-2:]).clone()


def _frames(path):
    with av.open(str(path)) as container:
        return [(frame.pts, frame.time_base, frame.to_ndarray(format="rgb24"), _luma(frame), frame.rotation)
                for frame in container.decode(video=0)]


def _luma(frame) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width].astype(float)


def _audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(audio=0) if packet.size]


def test_a_grey_clip_keeps_its_lightness_timing_and_sound_and_takes_the_colour(tmp_path):
    source = make_clip(tmp_path / "film.mp4", width=96, height=64, frames=20)
    report = colorize_video(source, tmp_path / "out.mp4", ConstantColour(), render_size=32)
    before, after = _frames(source), _frames(tmp_path / "out.mp4")
    assert report.frames == len(after) == len(before) == 20
    assert [pts for pts, *_ in after] == [pts for pts, *_ in before]
    assert after[0][2].shape == (64, 96, 3)
    gap = np.mean([np.abs(b[3] - a[3]).mean() for a, b in zip(before, after, strict=True)])
    assert gap < 1.0  # the Y plane is the input's, re-encoded: only the codec's rounding moves it
    colour = lab.rgb_to_lab(torch.from_numpy(after[10][2]).permute(2, 0, 1)[None].float() / 255)[0]
    assert colour[1].mean() == pytest.approx(30, abs=6) and colour[2].mean() == pytest.approx(-20, abs=6)
    assert report.audio == "copied" and _audio_packets(tmp_path / "out.mp4") == _audio_packets(source)


def test_frames_go_through_the_network_in_batches_at_the_render_size(tmp_path):
    model = ConstantColour()
    colorize_video(make_clip(tmp_path / "film.mp4", width=96, height=64, frames=20, audio=False),
                   tmp_path / "out.mp4", model, render_size=32, batch_size=8)
    assert model.calls == [(8, 1, 32, 48), (8, 1, 32, 48), (4, 1, 32, 48)]


def test_a_variable_frame_rate_keeps_each_frames_time(tmp_path):
    source = make_clip(tmp_path / "vfr.mp4", frames=10, vfr=True, audio=False)
    before = _frames(source)
    colorize_video(source, tmp_path / "out.mp4", ConstantColour(), render_size=32)
    after = _frames(tmp_path / "out.mp4")
    times = [float(pts * tb) for pts, tb, *_ in after]
    assert times == pytest.approx([float(pts * tb) for pts, tb, *_ in before], abs=1e-3)
    assert len(set(np.round(np.diff(times), 3))) == 2  # two intervals, as the input had


def test_a_phone_clips_rotation_is_kept(tmp_path):
    source = make_clip(tmp_path / "phone.mp4", frames=6, rotation=90, audio=False)
    assert probe(source).rotation == 90
    colorize_video(source, tmp_path / "out.mp4", ConstantColour(), render_size=32)
    frames = _frames(tmp_path / "out.mp4")
    assert abs(frames[0][4]) == 90 and frames[0][2].shape == (64, 96, 3)


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv444p", "yuvj420p"])
def test_other_pixel_formats_come_out_as_8_bit_4_2_0(tmp_path, pix_fmt):
    source = make_clip(tmp_path / "deep.mkv", frames=6, pix_fmt=pix_fmt, audio=False, container="mkv")
    colorize_video(source, tmp_path / "out.mp4", ConstantColour(), render_size=32)
    with av.open(str(tmp_path / "out.mp4")) as container:
        # 8-bit 4:2:0 in the input's range: FFmpeg names a full-range stream yuvj420p
        assert container.streams.video[0].codec_context.pix_fmt == ("yuvj420p" if "j" in pix_fmt else "yuv420p")
        assert len(list(container.decode(video=0))) == 6


def test_pcm_sound_which_mp4_does_not_hold_is_encoded_to_aac(tmp_path):
    source = tmp_path / "scan.mov"
    output = av.open(str(source), "w", format="mov")
    video = output.add_stream("mjpeg", rate=25)
    video.width, video.height, video.pix_fmt = 64, 48, "yuvj420p"
    sound = output.add_stream("pcm_s16le", rate=8000)
    for index in range(5):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * index, np.uint8), format="rgb24")
        output.mux(video.encode(frame.reformat(format="yuvj420p")))
    samples = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.int16), format="s16", layout="mono")
    samples.sample_rate, samples.pts = 8000, 0
    output.mux(sound.encode(samples))
    for stream in (video, sound):
        output.mux(stream.encode(None))
    output.close()
    report = colorize_video(source, tmp_path / "out.mp4", ConstantColour(), render_size=32)
    assert report.audio == "encoded"
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.streams.video[0].codec_context.color_range == 2  # MJPEG's full range, kept


def test_an_odd_frame_size_is_cut_to_even_sides_for_4_2_0(tmp_path):
    source = make_clip(tmp_path / "odd.mkv", width=95, height=63, frames=4, pix_fmt="yuv444p", audio=False,
                       container="mkv")
    colorize_video(source, tmp_path / "out.mp4", ConstantColour(), render_size=32)
    assert _frames(tmp_path / "out.mp4")[0][2].shape == (62, 94, 3)


def test_a_cancel_leaves_no_file(tmp_path):
    source = make_clip(tmp_path / "film.mp4", frames=20, audio=False)
    with pytest.raises(Cancelled):
        colorize_video(source, tmp_path / "out.mp4", ConstantColour(), render_size=32,
                       should_stop=lambda: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def test_progress_counts_frames_up_to_the_total(tmp_path):
    seen = []
    colorize_video(make_clip(tmp_path / "film.mp4", frames=20, audio=False), tmp_path / "out.mp4",
                   ConstantColour(), render_size=32, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(8, 20), (16, 20), (20, 20)]


def test_a_text_file_is_not_a_video_and_writes_nothing(tmp_path):
    with pytest.raises(NotAVideo):
        colorize_video(text_file(tmp_path / "notes.mp4"), tmp_path / "out.mp4", ConstantColour())
    assert not (tmp_path / "out.mp4").exists()


def test_the_frame_rate_is_the_inputs(tmp_path):
    colorize_video(make_clip(tmp_path / "film.mp4", frames=6, rate=24, audio=False), tmp_path / "out.mp4",
                   ConstantColour(), render_size=32)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].average_rate == Fraction(24)


def test_a_film_cut_short_after_its_index_fails_rather_than_ending_early(tmp_path):
    whole = tmp_path / "whole.mp4"  # this project's own output: its index (moov) comes first
    colorize_video(make_clip(tmp_path / "film.mp4", frames=40, audio=False), whole, ConstantColour(), render_size=32)
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(UnreadableVideo, match="breaks off after"):
        colorize_video(tmp_path / "cut.mp4", tmp_path / "out.mp4", ConstantColour(), render_size=32)
    assert not (tmp_path / "out.mp4").exists()
