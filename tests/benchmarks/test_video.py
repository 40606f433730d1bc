"""benchmarks.video: the clip maker's known motion is the motion of its frames, and the warping error tells a
steady colour from one that changes every frame."""

import numpy as np
import pytest

from benchmarks.video import clips, measure

SIZE = (128, 72)


def _truth_frames(clip):
    return [clip.truth_ab(t) for t in range(clip.frames)]


@pytest.mark.parametrize("make", [lambda p: clips.pan(p, 8, SIZE, speed=2.7, angle=30.0),
                                  lambda p: clips.zoom(p, 8, SIZE, factor=1.3)], ids=["pan", "zoom"])
def test_known_motion_carries_the_truth_of_one_frame_onto_the_next(make):
    clip = clips.Clip([make(clips.textured_photo(0))], SIZE)
    for t in range(1, clip.frames):
        before, now = clip.truth_ab(t - 1), clip.truth_ab(t)
        warped, inside = measure.warp_back(before, measure.motion(clip, t))
        assert inside.mean() > 0.7
        carried = np.abs(warped - now)[:, inside].mean()
        unmoved = np.abs(before - now)[:, inside].mean()
        assert carried < 0.1 * unmoved  # the camera moved; the known map follows it


def test_warping_error_of_a_still_clip_is_zero_and_of_random_colours_large():
    clip = clips.Clip([clips.still(clips.textured_photo(1), 6, SIZE)], SIZE)
    assert measure.warping_error(_truth_frames(clip), clip) < 1e-4
    rng = np.random.default_rng(0)
    noise = [rng.uniform(-40, 40, (2, SIZE[1], SIZE[0])).astype(np.float32) for _ in range(clip.frames)]
    assert measure.warping_error(noise, clip) > 20


def test_the_frame_after_a_cut_is_not_counted():
    first, second = clips.textured_photo(2), clips.textured_photo(3)
    cut = clips.Clip([clips.pan(first, 4, SIZE), clips.pan(second, 4, SIZE, angle=180.0)], SIZE)
    assert cut.cuts == [4]
    one_shot = clips.Clip([clips.Shot(first, cut.shots[0].maps + cut.shots[1].maps)], SIZE)  # no cut known
    frames = _truth_frames(cut)
    assert measure.warping_error(frames, cut) < 0.5
    assert measure.warping_error(frames, one_shot) > 5  # the change of photo, counted as flicker


def test_the_written_input_is_grey_film_with_the_clips_lightness(tmp_path):
    clip = clips.Clip([clips.pan(clips.textured_photo(4), 5, SIZE)], SIZE, grain=0.0, flicker=0.05)
    path = clip.write(tmp_path / "input.mp4", crf=0)  # lossless: the writer's own loss is its 8 bits
    lightness = list(measure.input_lightness(path))
    assert len(lightness) == clip.frames
    for t, light in enumerate(lightness):
        assert np.abs(light - clip.lightness(t)).mean() < 0.3
    for ab in measure.output_ab(path):
        assert np.abs(ab).mean() < 1.0  # grey: no colour to measure
    assert np.ptp([light.mean() for light in lightness]) > 1.0  # the exposure flickers


def test_a_grey_answer_scores_the_grey_baseline(tmp_path):
    clip = clips.Clip([clips.pan(clips.textured_photo(5), 5, SIZE)], SIZE)
    path = clip.write(tmp_path / "input.mp4")
    scores = measure.score_clip(clip, path, {"grey input": path})
    assert scores["psnr"]["grey input"] == pytest.approx(scores["psnr"]["grey"], abs=0.3)
    assert scores["flicker"]["truth"] < 1.0 < scores["psnr"]["grey"]


def test_resized_clip_sees_the_same_view():
    clip = clips.Clip([clips.pan(clips.textured_photo(6), 4, (256, 144), speed=4.0)], (256, 144))
    small = clips.resized(clip, SIZE)
    for t in range(clip.frames):
        big = clip.truth_ab(t, SIZE)
        assert np.abs(small.truth_ab(t) - big).mean() < 0.05 * np.abs(big).mean()
