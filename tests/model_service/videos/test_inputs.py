"""Bad video input (issue 35, item 8): each is a 4xx at POST or a failed job that says why, never a 5xx or a job
stuck; nothing of a refused upload stays on disk and the service goes on colouring. The inputs that are real
videos (10-bit, 4:4:4, variable frame rate, rotated, other containers) are coloured."""

from __future__ import annotations

import av
import pytest

from tests.model_service.videos.jobs import decode, job_folders, submit, wait_for
from tests.videos import (
    absurd_size,
    audio_only,
    damaged_mp4,
    huge_frame_count,
    make_clip,
    photo_file,
    text_file,
    truncated_mp4,
    zero_frames,
)

# name -> (make it at a path, file suffix, status, error code, words the message holds)
REFUSED = {
    "text": (text_file, "txt", 415, "not_a_video", "not a video"),
    "jpeg photo": (photo_file, "jpg", 415, "not_a_video", "not a video"),
    "png photo": (lambda p: photo_file(p, "PNG"), "png", 415, "not_a_video", "not a video"),
    "truncated mp4 (no moov)": (truncated_mp4, "mp4", 422, "unreadable_video", "truncated or damaged"),
    "audio only": (audio_only, "m4a", 422, "no_video_stream", "no video stream"),
    "65535 x 65535 in the header": (absurd_size, "mov", 422, "unreadable_video", "65,535 x 65,535"),
    "16000 x 16000 in the header": (lambda p: absurd_size(p, 16000), "mov", 413, "video_too_large",
                                    "16000 x 16000"),
    "50 million frames in the header": (huge_frame_count, "mp4", 413, "video_too_large", "50,000,000 frames"),
}
# name -> (make it, suffix, error code, words): taken at POST (the header is fine), failed when decoded
FAILED = {
    "zero frames": (zero_frames, "avi", "unreadable_video", "no frames"),
    "damaged half-way": (damaged_mp4, "mp4", "unreadable_video", "breaks off after"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_a_bad_input_is_refused_at_post_with_a_reason_and_leaves_nothing(video_app, tmp_path, name):
    make, suffix, status, code, words = REFUSED[name]
    path = make(tmp_path / f"input.{suffix}")
    app = video_app(runner=False)
    answer_status, answer = submit(app.test_client(), path)
    assert (answer_status, answer["error"]["code"]) == (status, code), answer
    assert words in answer["error"]["message"], answer
    assert job_folders(app) == []


def test_bad_inputs_one_after_another_never_break_the_service_and_a_good_video_follows(video_app, tmp_path):
    app = video_app()
    client = app.test_client()
    for name, (make, suffix, *_) in REFUSED.items():
        status, answer = submit(client, make(tmp_path / f"{len(name)}.{suffix}"))
        assert 400 <= status < 500, (name, status, answer)
    for name, (make, suffix, code, words) in FAILED.items():
        status, job = submit(client, make(tmp_path / f"failed-{len(name)}.{suffix}"))
        assert status == 202, (name, job)
        final = wait_for(client, job["id"])
        assert final["state"] == "failed", (name, final)
        assert final["error"]["code"] == code and words in final["error"]["message"], (name, final)
        assert client.get(job["result_url"]).status_code == 409
    status, job = submit(client, make_clip(tmp_path / "good.mp4"))
    assert status == 202 and wait_for(client, job["id"])["state"] == "done"
    assert client.get("/healthz").status_code == 200


def input_frames(path) -> list:
    with av.open(str(path)) as container:
        return list(container.decode(container.streams.video[0]))


# name -> make_clip's options: videos that are unusual, not bad
COLOURED = {
    "10-bit": {"pix_fmt": "yuv420p10le"},
    "4:4:4": {"pix_fmt": "yuv444p"},
    "variable frame rate": {"vfr": True},
    "rotated phone clip": {"rotation": 90},
    "colour input, MOV": {"grey": False, "container": "mov"},
    "Matroska": {"container": "mkv"},
}


@pytest.mark.parametrize("name", COLOURED)
def test_an_unusual_video_is_coloured_into_8_bit_4_2_0_with_its_frames_timing_and_rotation(video_app, tmp_path,
                                                                                           name):
    options = COLOURED[name]
    path = make_clip(tmp_path / f"input.{options.get('container', 'mp4')}", **options)
    app = video_app()
    client = app.test_client()
    status, job = submit(client, path)
    assert status == 202, job
    final = wait_for(client, job["id"])
    assert final["state"] == "done", final
    frames, pix_fmt, audio_streams = decode(client.get(job["result_url"]).data)
    source = input_frames(path)
    assert pix_fmt == "yuv420p" and audio_streams == 1
    assert len(frames) == len(source)
    assert (frames[0].width, frames[0].height) == (source[0].width, source[0].height)
    times = [round(float(f.time), 3) for f in source]
    assert [round(float(f.time), 3) for f in frames] == times
    assert frames[0].rotation == source[0].rotation
    # the input is what its name says
    assert source[0].format.name == options.get("pix_fmt", "yuv420p")
    intervals = {round(later - earlier, 3) for earlier, later in zip(times, times[1:], strict=False)}
    assert (len(intervals) > 1) == bool(options.get("vfr"))
    assert source[0].rotation == options.get("rotation", 0)
