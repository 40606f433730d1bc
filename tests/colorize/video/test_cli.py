"""`colorize predict` with videos beside photos: found by their content, coloured into MP4s with their frames,
size and sound, skipped when done, reported when bad, one at a time whatever --jobs, one film per shard."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize import cli
from colorize.batch import plan, select_shard
from tests.conftest import natural_image
from tests.videos import make_clip, text_file


def predict(*args: object) -> int:
    return cli.main(["predict", *map(str, args), "--render-size", "32", "--device", "cpu"])


def clip(path: Path, frames: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, width=64, height=48, frames=frames, audio=True, grey=True)


def decoded(path: Path) -> dict:
    """What a player sees: the frame count and size, whether there is sound, and how colourful it is."""
    import av

    with av.open(str(path)) as container:
        audio = len(container.streams.audio)
        pictures = [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(video=0)]
    spread = max(float(np.abs(p - p.mean(axis=2, keepdims=True)).mean()) for p in pictures)
    return {"frames": len(pictures), "size": pictures[0].shape[1::-1], "audio": audio, "colour": spread}


def test_videos_are_coloured_beside_photos_found_by_their_content(tmp_path, tiny_checkpoint, capsys):
    films = tmp_path / "films"
    clip(films / "clip.mp4")
    natural_image(40, 30, seed=1).convert("L").save(films / "a.jpg")
    clip(films / "sub" / "film.bin")  # an MP4 whatever its name says
    loose = clip(tmp_path / "loose.mov")
    (films / "notes.txt").write_text("reel 3 is missing")
    out = tmp_path / "coloured"
    assert predict(loose, films, "--out", out, "--checkpoint", tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert "colorized 1 of 1 images" in err and "colorized 3 of 3 videos" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.png", "clip.mp4", "loose.mp4", "sub/film.mp4"]
    assert Image.open(out / "a.png").size == (30, 40)
    for name in ("clip.mp4", "loose.mp4", "sub/film.mp4"):
        seen = decoded(out / name)
        assert seen["frames"] == 12 and seen["size"] == (64, 48) and seen["audio"] == 1, name
        assert seen["colour"] > 1.0, name  # grey in, colour out
    assert decoded(films / "clip.mp4")["colour"] < 1.0


def test_a_second_run_skips_the_videos_done_and_overwrite_redoes_them(tmp_path, tiny_checkpoint, capsys):
    films, out = tmp_path / "films", tmp_path / "out"
    clip(films / "one.mp4")
    clip(films / "two.mkv")
    assert predict(films, "--out", out, "--checkpoint", tiny_checkpoint) == 0
    capsys.readouterr()
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    assert len(mtimes) == 2
    assert predict(films, "--out", out, "--checkpoint", tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert "colorized 0 of 2 videos" in err and "skipped 2" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")} == mtimes
    assert predict(films, "--out", out, "--checkpoint", tiny_checkpoint, "--overwrite") == 0
    assert "colorized 2 of 2 videos" in capsys.readouterr().err


def test_a_bad_video_is_reported_and_the_run_goes_on(tmp_path, tiny_checkpoint, capsys):
    films, out = tmp_path / "films", tmp_path / "out"
    clip(films / "good.mp4")
    text_file(films / "x.mp4")
    assert predict(films, "--out", out, "--checkpoint", tiny_checkpoint) == 1
    err = capsys.readouterr().err
    assert "colorized 1 of 2 videos" in err and "failed 1" in err
    assert f"failed {films / 'x.mp4'}: not a video" in err
    assert decoded(out / "good.mp4")["frames"] == 12 and not (out / "x.mp4").exists()


def test_a_video_broken_off_leaves_nothing_at_its_output_and_a_run_again_does_it(tmp_path, tiny_checkpoint,
                                                                                monkeypatch, capsys):
    from colorize.video.codec import VideoWriter

    films, out = tmp_path / "films", tmp_path / "out"
    clip(films / "reel.mp4", frames=20)
    real_write, written = VideoWriter.write, []

    def failing_write(self, *args):
        written.append(1)
        if len(written) > 10:
            raise OSError(28, "No space left on device")
        real_write(self, *args)

    monkeypatch.setattr(VideoWriter, "write", failing_write)
    assert predict(films, "--out", out, "--checkpoint", tiny_checkpoint) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())  # neither the output nor a temporary file
    monkeypatch.setattr(VideoWriter, "write", real_write)
    assert predict(films, "--out", out, "--checkpoint", tiny_checkpoint) == 0
    assert decoded(out / "reel.mp4")["frames"] == 20


def test_two_jobs_colour_videos_one_at_a_time_and_never_two_into_one_output(tmp_path, tiny_checkpoint,
                                                                            monkeypatch, capsys):
    import colorize.video.batch as video_batch

    films, out = tmp_path / "films", tmp_path / "out"
    clip(films / "one.mp4")
    clip(films / "two.mp4")
    clip(films / "two.mov")  # the same output name as two.mp4
    natural_image(20, 20).convert("L").save(films / "p.png")
    real, running, most = video_batch.colorize_video, [], [0]
    lock = threading.Lock()

    def counted(*args, **kwargs):
        with lock:
            running.append(1)
            most[0] = max(most[0], len(running))
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running.pop()

    monkeypatch.setattr(video_batch, "colorize_video", counted)
    assert predict(films, "--out", out, "--checkpoint", tiny_checkpoint, "--jobs", "2") == 1
    err = capsys.readouterr().err
    assert most[0] == 1
    assert "colorized 2 of 3 videos" in err and f"failed {films / 'two.mp4'}: same output as {films / 'two.mov'}" \
        in err
    assert decoded(out / "one.mp4")["frames"] == decoded(out / "two.mp4")["frames"] == 12
    assert (out / "p.png").exists()


def test_the_video_options_reach_the_video(tmp_path, tiny_checkpoint, monkeypatch):
    import colorize.video.batch as video_batch

    calls = []
    real = video_batch.colorize_video
    monkeypatch.setattr(video_batch, "colorize_video", lambda *a, **k: calls.append(k) or real(*a, **k))
    clip(tmp_path / "v.mp4")
    assert cli.main(["predict", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "o"), "--checkpoint",
                     tiny_checkpoint, "--device", "cpu", "--render-size", "48", "--no-stabilize"]) == 0
    (kwargs,) = calls
    assert kwargs["render_size"] == 48 and kwargs["stabilize"] is False and kwargs["vividness"] is None


def test_as_many_shards_as_films_take_one_film_each(tmp_path, tiny_checkpoint, monkeypatch, capsys):
    films = tmp_path / "films"
    for name in ("a.mp4", "b.mp4", "c/d.mp4"):
        clip(films / name, frames=4)
    natural_image(12, 12).convert("L").save(films / "cover.png")
    items = plan([films], tmp_path / "out", "png")
    shards = [[i.key for i in select_shard(items, index, 3) if i.video] for index in range(3)]
    assert sorted(len(s) for s in shards) == [1, 1, 1] and sorted(sum(shards, [])) == ["a.mp4", "b.mp4", "c/d.mp4"]
    done = []
    for index in range(3):
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
        out = tmp_path / f"o{index}"
        assert predict(films, "--out", out, "--checkpoint", tiny_checkpoint, "--shard-count", 3) == 0
        done.append(sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")))
    assert done == [[key] for (key,) in shards]
    assert ", 1 of 3 videos" in capsys.readouterr().err


@pytest.mark.parametrize("frames", [0, 30])
def test_progress_in_a_log_is_lines_with_the_frames_and_the_time_left(capsys, frames):
    from colorize.video.batch import FrameProgress

    progress = FrameProgress("reel.mp4", frames, interval_s=0)
    progress.start -= 10.0  # ten seconds in
    progress(10, frames)
    progress(20, frames)
    progress.close("done")
    lines = capsys.readouterr().err.splitlines()
    assert not any("\r" in line for line in lines) and len(lines) == 3
    if frames:
        assert lines[0].startswith("reel.mp4: 10 of 30 frames") and "left" in lines[0]
    else:  # a header without a frame count: no time left to promise
        assert lines[0].startswith("reel.mp4: 10 frames") and "left" not in lines[0]
    assert lines[-1].endswith(": done")
