"""colorize.video.stabilize: a scene cut starts afresh and is counted, a pan is not a cut, and the colour of
a grainy, flickering pan varies less over time than the per-frame answer."""

import numpy as np
import torch

from benchmarks.video import clips, measure
from colorize.video import colorize_video
from colorize.video.stabilize import Stabilizer

SIZE = (160, 96)


class NoisyColorizer(torch.nn.Module):
    """A stand-in for a network: a colour that follows the lightness, plus noise new every frame."""

    def __init__(self, noise: float = 6.0):
        super().__init__()
        self.noise, self.generator = noise, torch.Generator().manual_seed(0)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        a = (lightness - 50.0) * 0.6
        b = 20.0 - (lightness - 50.0) * 0.4
        ab = torch.cat([a, b], 1)
        return ab + self.noise * torch.randn(ab.shape, generator=self.generator)


def _film(shots):
    return clips.Clip(shots, SIZE, grain=3.0, flicker=0.06, seed=1)


def test_a_cut_is_found_and_a_grainy_pan_or_zoom_is_not_a_cut(tmp_path):
    first, second = clips.textured_photo(10), clips.textured_photo(11)
    cases = {"cut": (_film([clips.pan(first, 10, SIZE), clips.pan(second, 10, SIZE, angle=180.0)]), 1),
             "pan": (_film([clips.pan(first, 20, SIZE, speed=4.0, angle=30.0)]), 0),
             "zoom": (_film([clips.zoom(second, 20, SIZE, factor=1.4)]), 0)}
    for name, (clip, cuts) in cases.items():
        source = clip.write(tmp_path / f"{name}.mp4")
        report = colorize_video(source, tmp_path / f"{name}-out.mp4", NoisyColorizer(), render_size=96)
        assert (name, report.cuts) == (name, cuts)
        plain = colorize_video(source, tmp_path / f"{name}-plain.mp4", NoisyColorizer(), render_size=96,
                               stabilize=False)
        assert plain.cuts == 0  # per-frame: nothing carried, nothing to cut


def test_the_stabilised_colour_of_a_grainy_pan_varies_less_than_the_per_frame_answer():
    clip = _film([clips.pan(clips.textured_photo(12), 24, SIZE, speed=2.5, angle=20.0)])
    model, clean, stabilizer = NoisyColorizer(), NoisyColorizer(noise=0.0), Stabilizer()
    raw, steady, truth = [], [], []
    for t in range(clip.frames):
        lightness = clip.lightness(t)
        ab = model(torch.from_numpy(lightness)[None, None])[0].numpy()
        raw.append(ab)
        steady.append(stabilizer.step(lightness, ab))
        truth.append(clean(torch.from_numpy(lightness)[None, None])[0].numpy())
    assert stabilizer.cuts == 0
    assert measure.warping_error(steady, clip) < 0.5 * measure.warping_error(raw, clip)
    # Steadier, not washed out: as close to the noise-free answer as the per-frame answer is, or closer.
    error = [float(np.abs(s - c).mean()) for s, c in zip(steady, truth, strict=True)]
    raw_error = [float(np.abs(r - c).mean()) for r, c in zip(raw, truth, strict=True)]
    assert np.mean(error[4:]) < np.mean(raw_error[4:])
