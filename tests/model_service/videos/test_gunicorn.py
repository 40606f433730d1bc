"""Video jobs under gunicorn, as the containers run the service: an upload far over the photo bounds is streamed to
disk (the worker's memory does not grow with it), and a worker killed in the middle of a job costs the job one
attempt, not the job."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import requests

from benchmarks.processes import child_pids
from tests.model_service.videos.jobs import decode
from tests.reliability.conftest import model_service_env, start_gunicorn, wait_until
from tests.videos import make_clip


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture
def service(tiny_checkpoint, tmp_path):
    """One gunicorn worker on the tiny checkpoint, video jobs in ``tmp_path / "jobs"``."""
    env = model_service_env(tiny_checkpoint, WEB_CONCURRENCY=1, MODEL_RUNTIME="torch",
                            VIDEO_JOBS_DIR=tmp_path / "jobs", VIDEO_POLL_S=0.1)
    server = start_gunicorn("model_service", env, tmp_path / "model.log")
    yield server
    server.stop()


def test_a_video_upload_is_streamed_to_disk_not_held_in_the_worker_s_memory(service, tmp_path):
    upload = 150 * 2 ** 20  # 50 x MAX_UPLOAD_BYTES (model_service_env's), over MAX_BODY_BYTES too
    film = make_clip(tmp_path / "film.mp4", faststart=True, audio=False)
    body = film.read_bytes() + b"\0" * (upload - film.stat().st_size)  # FFmpeg reads the index and stops there
    worker = child_pids(service.process.pid)[0]
    before = rss_mib(worker)
    peak, done = [before], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak.append(rss_mib(worker))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        answer = requests.post(f"{service.url}/v1/videos", data=body, timeout=120,
                               headers={"Content-Type": "application/octet-stream"})
    finally:
        done.set()
        sampler.join()
    assert answer.status_code == 202, answer.text
    assert (tmp_path / "jobs" / answer.json()["id"]).is_dir()
    assert max(peak) - before < 50, f"RSS {before:.0f} MiB before, {max(peak):.0f} MiB at most during the upload"


def test_a_killed_worker_s_job_is_run_again_by_its_replacement_and_finishes(service, tmp_path):
    film = make_clip(tmp_path / "long.mp4", width=160, height=96, frames=400, audio=True)
    answer = requests.post(f"{service.url}/v1/videos", data=film.read_bytes(), timeout=60,
                           headers={"Content-Type": "video/mp4"})
    assert answer.status_code == 202, answer.text
    url = f"{service.url}{answer.json()['url']}"

    def status() -> dict:
        return requests.get(url, timeout=10).json()

    wait_until(lambda: status()["frames_done"] > 0, 120, "the job to be under way")
    worker = child_pids(service.process.pid)[0]
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: set(child_pids(service.process.pid)) - {worker}, 60, "a new worker")
    wait_until(lambda: status()["state"] in ("done", "failed"), 240, "the job to finish")
    final = status()
    assert final["state"] == "done" and final["attempts"] == 2, final
    frames, _, audio_streams = decode(requests.get(f"{service.url}{final['result_url']}", timeout=60).content)
    assert len(frames) == 400 and audio_streams == 1
    assert not list((tmp_path / "jobs").glob("*/.result.mp4.*.partial"))  # the dead worker's half-written file
