"""Video jobs outlive their worker: a job left "running" by a worker that died is run again from the start by
another (never lost, never "running" forever), up to VIDEO_MAX_ATTEMPTS; a live worker's job is left alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.model_service.videos.jobs import decode, submit, wait_for
from tests.videos import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "film.mp4", frames=12)


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def leave_running(app, job_id: str, **fields) -> None:
    """Rewrite a queued job's job.json as a worker that started it would have left it."""
    path = Path(app.config["VIDEO_JOBS_DIR"]) / job_id / "job.json"
    job = json.loads(path.read_text())
    job.update({"state": "running", "attempts": 1, "heartbeat": time.time(), "started_at": time.time(),
                "frames_done": 4, **fields})
    path.write_text(json.dumps(job))


def queued_job(video_app, clip) -> tuple[object, str]:
    """A job submitted to an app without a runner (a worker about to take it)."""
    app = video_app(runner=False)
    status, job = submit(app.test_client(), clip)
    assert status == 202
    return app, job["id"]


def test_a_job_whose_worker_died_on_this_host_is_run_again_and_finishes(video_app, clip):
    first, job_id = queued_job(video_app, clip)
    leave_running(first, job_id, owner={"host": socket.gethostname(), "pid": dead_pid(), "token": "gone"})
    client = video_app().test_client()  # a new worker
    status = wait_for(client, job_id)
    assert status["state"] == "done" and status["attempts"] == 2 and status["frames_done"] == 12
    assert len(decode(client.get(status["result_url"]).data)[0]) == 12


def test_a_job_whose_worker_went_silent_elsewhere_is_run_again(video_app, clip):
    first, job_id = queued_job(video_app, clip)
    leave_running(first, job_id, heartbeat=time.time() - 120,
                  owner={"host": "another-pod", "pid": os.getpid(), "token": "other"})
    status = wait_for(video_app().test_client(), job_id)
    assert status["state"] == "done" and status["attempts"] == 2


def test_a_job_that_lost_its_worker_at_every_attempt_fails_with_the_reason(video_app, clip):
    first, job_id = queued_job(video_app, clip)
    leave_running(first, job_id, attempts=3, owner={"host": socket.gethostname(), "pid": dead_pid(), "token": "x"})
    client = video_app(VIDEO_MAX_ATTEMPTS=3).test_client()
    status = wait_for(client, job_id)
    assert status["state"] == "failed" and status["attempts"] == 3
    assert status["error"]["code"] == "worker_lost"
    assert "stopped 3 times" in status["error"]["message"]
    assert client.get(f"/v1/videos/{job_id}/result").status_code == 409


def test_a_job_a_live_worker_elsewhere_is_running_is_left_to_it(video_app, clip):
    first, job_id = queued_job(video_app, clip)
    leave_running(first, job_id, owner={"host": "another-pod", "pid": 1, "token": "alive"})
    app = video_app(runner=False)
    runner = app.extensions["model_service.videos"].runner
    assert runner.run_once() is False  # nothing to take: the job is running elsewhere and its heartbeat is fresh
    status = app.test_client().get(f"/v1/videos/{job_id}").get_json()
    assert status["state"] == "running" and status["attempts"] == 1


def test_a_job_queued_again_restarts_from_the_first_frame(video_app, clip):
    first, job_id = queued_job(video_app, clip)
    leave_running(first, job_id, frames_done=8, heartbeat=time.time() - 120,
                  owner={"host": "another-pod", "pid": 1, "token": "x"})
    app = video_app(runner=False)
    store = app.extensions["model_service.videos"].store
    job = store.claim(app.extensions["model_service.videos"].runner.owner)
    assert job["id"] == job_id and job["frames_done"] == 0 and job["attempts"] == 2
