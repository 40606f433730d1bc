"""The service as it is run: ``python -m model_service`` and gunicorn, in subprocesses on 127.0.0.1."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from threading import Barrier

import pytest
import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import natural_image, stop_process_group
from tests.model_service.images import bomb_png, encode, photo_bytes

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds for one HTTP request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(command: list[str], env: dict[str, str], log_path: Path, port: int) -> Iterator[str]:
    """Start the server, wait until /readyz answers 200, yield its base URL, stop it."""
    full_env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    full_env.update(env)
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or no worker has taken the connection
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in time:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        stop_process_group(process)


def service_env(checkpoint: str, **settings) -> dict[str, str]:
    # One torch thread per server: the test process and the servers share the machine's cores.
    env = {"MODEL_CHECKPOINT": checkpoint, "DEFAULT_RENDER_SIZE": "64", "MODEL_THREADS": "1"}
    return env | {k: str(v) for k, v in settings.items()}


def dev_server(checkpoint: str, tmp: Path, **settings) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "model_service", "--host", "127.0.0.1", "--port", str(port)]
    return running(command, service_env(checkpoint, **settings), tmp / "server.log", port)


def counters(base: str, name: str) -> dict[tuple, float]:
    text = requests.get(f"{base}/metrics", timeout=TIMEOUT).text
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name.endswith("_total")}
    return {}


def colorize_count(base: str, status: str) -> float:
    key = (("endpoint", "/v1/colorize"), ("method", "POST"), ("status", status))
    return counters(base, "model_service_requests").get(key, 0.0)


def post_in_parallel(url: str, body: bytes, n: int) -> list[requests.Response]:
    barrier = Barrier(n)

    def post(_):
        barrier.wait(10)
        return requests.post(url, data=body, headers={"Content-Type": "image/png"}, timeout=TIMEOUT)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(post, range(n)))


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory) -> Iterator[str]:
    with dev_server(tiny_checkpoint, tmp_path_factory.mktemp("server"), MAX_QUEUE=16, QUEUE_TIMEOUT=120,
                    MAX_UPLOAD_BYTES=500_000) as base:
        yield base


def test_photo_bad_input_and_the_other_endpoints(server):
    photo = natural_image(97, 131)
    response = requests.post(f"{server}/v1/colorize", data=encode(photo, "JPEG"),
                             headers={"Content-Type": "image/jpeg"}, timeout=TIMEOUT)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"  # format auto
    assert Image.open(io.BytesIO(response.content)).size == photo.size
    assert float(response.headers["X-Inference-Time-Ms"]) > 0
    bad = [(photo_bytes()[:300], "image/jpeg", 400, "corrupt_image"),
           (b"just some text\n" * 50, "text/plain", 415, "unsupported_media_type"),
           (b"just some text\n" * 50, "image/jpeg", 415, "unsupported_format"),
           (bomb_png(), "image/png", 422, "too_many_pixels")]
    for body, content_type, status, code in bad:
        response = requests.post(f"{server}/v1/colorize", data=body, headers={"Content-Type": content_type},
                                 timeout=TIMEOUT)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
    models = requests.get(f"{server}/v1/models", timeout=TIMEOUT).json()["models"]
    assert models[0]["architecture"]["name"] == "unet_resnet18"
    assert colorize_count(server, "415") >= 2
    assert requests.get(f"{server}/healthz", timeout=TIMEOUT).status_code == 200
    assert requests.post(f"{server}/v1/colorize", data=photo_bytes(), headers={"Content-Type": "image/jpeg"},
                         timeout=TIMEOUT).status_code == 200


def test_chunked_uploads_are_held_to_the_size_limit(server):
    def chunks(data: bytes):  # a generator body: requests sends it chunked, with no Content-Length
        yield from (data[i: i + 65536] for i in range(0, len(data), 65536))

    url, headers = f"{server}/v1/colorize", {"Content-Type": "image/png"}
    big = encode(natural_image(600, 600), "PNG") + bytes(500_000)  # a valid PNG, padded past the limit
    response = requests.post(url, data=chunks(big), headers=headers, timeout=TIMEOUT)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    small = requests.post(url, data=chunks(photo_bytes(fmt="PNG")), headers=headers, timeout=TIMEOUT)
    assert small.status_code == 200


def test_parallel_requests_all_succeed_and_are_counted(server):
    before = colorize_count(server, "200")
    responses = post_in_parallel(f"{server}/v1/colorize", photo_bytes(33, 45, "PNG"), 8)
    assert [r.status_code for r in responses] == [200] * 8
    assert all(Image.open(io.BytesIO(r.content)).size == (45, 33) for r in responses)
    assert colorize_count(server, "200") - before == 8


def test_parallel_requests_past_a_small_queue_get_a_clean_503(tiny_checkpoint, tmp_path):
    with dev_server(tiny_checkpoint, tmp_path, MAX_QUEUE=0, QUEUE_TIMEOUT=0.1, RETRY_AFTER=4) as base:
        # A larger render makes each inference long enough for the eight requests to overlap.
        body = encode(natural_image(384, 384), "PNG")
        responses = post_in_parallel(f"{base}/v1/colorize?render_size=384", body, 8)
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) == {200, 503}, statuses
        for r in responses:
            if r.status_code == 503:
                assert r.json()["error"]["code"] == "busy" and r.headers["Retry-After"] == "4"
        rejected = counters(base, "model_service_queue_rejections")
        assert sum(rejected.values()) == statuses.count(503)
        assert requests.get(f"{base}/readyz", timeout=TIMEOUT).status_code == 200


def test_gunicorn_workers_each_load_the_model_and_metrics_add_up(tiny_checkpoint, tmp_path):
    port = free_port()
    env = service_env(tiny_checkpoint, PORT=port, HOST="127.0.0.1", WEB_CONCURRENCY=2, THREADS=4)
    command = [sys.executable, "-m", "gunicorn", "-c", "model_service/gunicorn.conf.py", "model_service:create_app()"]
    with running(command, env, tmp_path / "gunicorn.log", port) as base:
        pids, calls = set(), 0
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:  # until both workers have answered
            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda _: requests.get(f"{base}/v1/models", timeout=TIMEOUT), range(4)))
            calls += len(answers)
            pids |= {a.json()["models"][0]["serving"]["worker_pid"] for a in answers}
        assert len(pids) == 2, "one worker answered every request"
        # Each worker counted only its own calls; /metrics, from either worker, must report them all.
        key = (("endpoint", "/v1/models"), ("method", "GET"), ("status", "200"))
        for _ in range(4):
            assert counters(base, "model_service_requests")[key] == calls
