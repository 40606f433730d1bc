"""The video job API end to end on the tiny checkpoint: submit, poll, download (with ranges), cancel, the queue's
bound, unknown ids and expiry."""

from __future__ import annotations

import io
import re
import secrets
import time

import pytest

from model_service.videos import runner as runner_module
from tests.model_service.videos.jobs import decode, job_folders, submit, wait_for
from tests.videos import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "film.mp4", width=96, height=64, frames=12)


def test_a_video_is_queued_coloured_and_downloaded_with_its_frames_size_and_audio(video_app, clip):
    app = video_app(MODEL_RUNTIME="auto")  # as shipped: OpenVINO where it is installed
    client = app.test_client()
    answer = client.post("/v1/videos", data=clip.read_bytes(), content_type="video/mp4")
    assert answer.status_code == 202, answer.get_json()
    job = answer.get_json()
    assert re.fullmatch(r"[0-9a-f]{32}", job["id"])
    assert job["state"] == "queued" and answer.headers["Location"] == job["url"] == f"/v1/videos/{job['id']}"
    assert job["frames_total"] == 12
    assert job["video"] == {"width": 96, "height": 64, "duration_s": 0.48, "fps": 25.0, "audio": "aac"}

    status = wait_for(client, job["id"])
    assert status["state"] == "done", status
    assert status["frames_done"] == status["frames_total"] == 12
    assert status["audio"] == "copied" and status["attempts"] == 1 and status["cuts"] == 0
    assert status["result_url"] == job["result_url"] and status["expires_at"] > status["created_at"]
    assert "error" not in status

    result = client.get(job["result_url"])
    assert result.status_code == 200 and result.mimetype == "video/mp4"
    assert 'filename=video-' in result.headers["Content-Disposition"]
    assert result.headers["Accept-Ranges"] == "bytes"
    frames, pix_fmt, audio_streams = decode(result.data)
    assert len(frames) == 12 and (frames[0].width, frames[0].height) == (96, 64)
    assert pix_fmt == "yuv420p" and audio_streams == 1
    colour = frames[6].to_ndarray(format="rgb24").astype(int)
    assert abs(colour[..., 0] - colour[..., 2]).mean() > 1  # grey in, colour out


def test_a_range_request_gets_the_bytes_asked_for_and_one_past_the_end_a_416(video_app, clip):
    app = video_app()
    client = app.test_client()
    _, job = submit(client, clip)
    wait_for(client, job["id"])
    whole = client.get(job["result_url"]).data
    part = client.get(job["result_url"], headers={"Range": "bytes=100-299"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-299/{len(whole)}"
    assert part.data == whole[100:300]
    outside = client.get(job["result_url"], headers={"Range": f"bytes={len(whole) + 10}-"})
    assert outside.status_code == 416


def test_a_multipart_upload_with_options_is_coloured_and_named_after_the_file(video_app, clip):
    app = video_app()
    client = app.test_client()
    form = {"video": (io.BytesIO(clip.read_bytes()), "Grandpa's wedding.mp4"), "stabilize": "false",
            "render_size": "64"}
    answer = client.post("/v1/videos", data=form, content_type="multipart/form-data")
    assert answer.status_code == 202, answer.get_json()
    job_id = answer.get_json()["id"]
    assert wait_for(client, job_id)["state"] == "done"
    result = client.get(f"/v1/videos/{job_id}/result")
    assert "Grandpas_wedding-colorized.mp4" in result.headers["Content-Disposition"]
    assert len(decode(result.data)[0]) == 12


@pytest.mark.parametrize("query, code", [
    ({"render_size": "5"}, "invalid_render_size"),
    ({"stabilize": "sometimes"}, "invalid_stabilize"),
    ({"model": "no-such-model"}, "unknown_model"),
    ({"vividness": "0.5"}, "vividness_unsupported"),
])
def test_a_bad_option_is_a_400_that_names_it_and_leaves_nothing_on_disk(video_app, clip, query, code):
    app = video_app(runner=False)
    status, answer = submit(app.test_client(), clip, **query)
    assert status == 400 and answer["error"]["code"] == code, answer
    assert job_folders(app) == []


def test_a_multipart_form_without_the_video_field_is_a_400(video_app, clip):
    app = video_app(runner=False)
    answer = app.test_client().post("/v1/videos", data={"file": (io.BytesIO(clip.read_bytes()), "a.mp4")},
                                    content_type="multipart/form-data")
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "missing_video"
    assert job_folders(app) == []


def test_an_empty_body_is_a_400(video_app):
    app = video_app(runner=False)
    answer = app.test_client().post("/v1/videos", data=b"", content_type="video/mp4")
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "missing_video"


def test_past_the_queue_bound_a_job_is_refused_503_with_retry_after_and_leaves_nothing(video_app, clip):
    app = video_app(runner=False, VIDEO_MAX_QUEUED=2)
    client = app.test_client()
    assert [submit(client, clip)[0] for _ in range(2)] == [202, 202]
    answer = client.post("/v1/videos", data=clip.read_bytes(), content_type="video/mp4")
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "busy"
    assert answer.headers["Retry-After"] == str(app.config["RETRY_AFTER"])
    assert len(job_folders(app)) == 2


def test_a_job_deleted_while_queued_is_gone_and_its_result_never_made(video_app, clip):
    app = video_app(runner=False)
    client = app.test_client()
    _, job = submit(client, clip)
    assert client.get(job["result_url"]).status_code == 409
    assert client.delete(job["url"]).status_code == 204
    assert client.get(job["url"]).status_code == 404
    assert client.delete(job["url"]).status_code == 404
    assert job_folders(app) == []


def test_a_job_deleted_while_running_stops_and_its_files_are_removed(video_app, tmp_path):
    app = video_app()
    client = app.test_client()
    long_clip = make_clip(tmp_path / "long.mp4", frames=40, audio=False)
    gate = app.extensions["model_service"].gate
    with gate.slot():  # the runner claims the job, then waits for the model behind this "photo"
        _, job = submit(client, long_clip)
        running = wait_for(client, job["id"], states=("running",))
        assert running["frames_done"] == 0 and running["attempts"] == 1
        assert client.delete(job["url"]).status_code == 204
        assert client.get(job["url"]).status_code == 404
    deadline = time.monotonic() + 30
    while job_folders(app) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job_folders(app) == []  # the runner saw the DELETE between batches and removed the job
    _, later = submit(client, long_clip)  # and it goes on with the next one
    assert wait_for(client, later["id"])["state"] == "done"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'model_service_video_jobs_total{state="cancelled"} 1.0' in metrics
    assert 'model_service_video_jobs_total{state="done"} 1.0' in metrics


def test_the_result_of_a_job_not_done_is_a_409_that_says_its_state(video_app, clip):
    app = video_app(runner=False)
    client = app.test_client()
    _, job = submit(client, clip)
    answer = client.get(job["result_url"])
    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "not_done" and answer.get_json()["error"]["state"] == "queued"


@pytest.mark.parametrize("job_id", [secrets.token_hex(16), "0" * 31, "G" * 32, "..", ".lock", "%2e%2e%2f.lock",
                                    "0" * 32 + "%2f..%2f.lock"])
def test_an_unknown_or_malformed_id_is_a_404_everywhere(video_app, clip, job_id):
    app = video_app(runner=False)
    client = app.test_client()
    submit(client, clip)  # a jobs folder with something in it
    for method, path in (("get", f"/v1/videos/{job_id}"), ("get", f"/v1/videos/{job_id}/result"),
                         ("delete", f"/v1/videos/{job_id}")):
        answer = getattr(client, method)(path)
        assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found", (method, path)
    assert len(job_folders(app)) == 1


def test_a_finished_job_and_its_result_are_deleted_once_they_expire(video_app, clip, monkeypatch):
    monkeypatch.setattr(runner_module, "SWEEP_EVERY_S", 0.05)
    app = video_app(VIDEO_RESULT_TTL_S=1.0)
    client = app.test_client()
    _, job = submit(client, clip)
    assert wait_for(client, job["id"])["state"] == "done"
    assert client.get(job["result_url"]).status_code == 200
    deadline = time.monotonic() + 30
    while client.get(job["url"]).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get(job["url"]).status_code == 404
    assert client.get(job["result_url"]).status_code == 404
    assert job_folders(app) == []


def test_the_upload_bound_holds_with_and_without_content_length(video_app, clip):
    app = video_app(runner=False, VIDEO_MAX_BYTES=clip.stat().st_size - 1)
    client = app.test_client()
    declared = client.post("/v1/videos", data=clip.read_bytes(), content_type="video/mp4")
    assert declared.status_code == 413 and declared.get_json()["error"]["code"] == "video_too_large"
    chunked = client.post("/v1/videos", input_stream=io.BytesIO(clip.read_bytes()), content_type="video/mp4",
                          environ_overrides={"wsgi.input_terminated": True})
    assert chunked.status_code == 413 and chunked.get_json()["error"]["code"] == "video_too_large"
    assert "VIDEO_MAX_BYTES" in chunked.get_json()["error"]["message"]
    assert job_folders(app) == []


def test_a_video_larger_than_max_upload_bytes_is_taken_outside_the_photo_body_budget(video_app, clip):
    # The photo routes' bounds (MAX_UPLOAD_BYTES, MAX_BODY_BYTES) are far below this clip; video uploads are
    # streamed to disk and bounded by VIDEO_MAX_BYTES alone.
    app = video_app(runner=False, MAX_UPLOAD_BYTES=1024, MAX_BODY_BYTES=1024)
    status, answer = submit(app.test_client(), clip)
    assert status == 202, answer


def test_a_multipart_upload_of_many_megabytes_is_taken(video_app, clip, tmp_path):
    # Werkzeug bounds its multipart decoder's buffer by the form-field limit, and a file's data passes through
    # it: a form-field limit below a read chunk refused any film over a few hundred kB
    big = tmp_path / "big.mp4"
    big.write_bytes(clip.read_bytes() + secrets.token_bytes(6 << 20))  # FFmpeg ignores what follows the last atom
    app = video_app(runner=False)
    answer = app.test_client().post("/v1/videos", content_type="multipart/form-data",
                                    data={"video": (io.BytesIO(big.read_bytes()), "big.mp4")})
    assert answer.status_code == 202, answer.get_json()


def test_a_video_is_admitted_while_photos_hold_the_whole_body_budget(video_app, clip):
    # within the photo bounds, so only the budget's exemption of video uploads lets it through
    size = len(clip.read_bytes())
    app = video_app(runner=False, MAX_UPLOAD_BYTES=size, MAX_BODY_BYTES=size)
    app.wsgi_app.held = size  # photos in flight hold all of it
    status, answer = submit(app.test_client(), clip)
    assert status == 202, answer
    assert app.wsgi_app.held == size


@pytest.mark.parametrize("setting, value, words", [
    ("VIDEO_MAX_PIXELS", 96 * 64 - 1, "a frame is 96 x 64"),
    ("VIDEO_MAX_DURATION_S", 0.2, "lasts"),
    ("VIDEO_MAX_FRAMES", 5, "12 frames"),
])
def test_a_video_over_a_limit_is_a_413_that_says_which(video_app, clip, setting, value, words):
    app = video_app(runner=False, **{setting: value})
    status, answer = submit(app.test_client(), clip)
    assert status == 413 and answer["error"]["code"] == "video_too_large"
    assert words in answer["error"]["message"], answer
    assert job_folders(app) == []


def test_video_settings_are_read_from_the_environment_and_checked():
    from model_service.config import ConfigError, load_config

    config = load_config({"VIDEO_RUNNER": "false", "VIDEO_MAX_BYTES": "1000", "VIDEO_JOBS_DIR": "/srv/videos"})
    assert config["VIDEO_RUNNER"] is False and config["VIDEO_MAX_BYTES"] == 1000
    assert config["VIDEO_JOBS_DIR"] == "/srv/videos"
    with pytest.raises(ConfigError, match="VIDEO_MAX_QUEUED"):
        load_config({"VIDEO_MAX_QUEUED": "0"})
    with pytest.raises(ConfigError, match="VIDEO_STALE_S"):
        load_config({"VIDEO_STALE_S": "soon"})


def test_an_unexpected_error_while_colouring_fails_the_job_with_a_generic_reason_and_the_runner_goes_on(
        video_app, clip, monkeypatch):
    real = runner_module.colorize_video
    calls = []

    def breaks_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug deep inside")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner_module, "colorize_video", breaks_once)
    app = video_app()
    client = app.test_client()
    _, broken = submit(client, clip)
    failed = wait_for(client, broken["id"])
    assert failed["state"] == "failed" and failed["error"]["code"] == "internal_error"
    assert "a bug deep inside" not in failed["error"]["message"]  # the details go to the log, not to the client
    _, good = submit(client, clip)
    assert wait_for(client, good["id"])["state"] == "done"
