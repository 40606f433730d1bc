"""Faults between real processes: the model service killed mid-request or stalling, a gunicorn worker
killed under traffic, more requests than the queue holds. Each ends in a prompt, clear answer and recovery."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import requests

from benchmarks.processes import child_pids
from tests.middleware.fakes import raw_server
from tests.model_service.images import encode
from tests.reliability.conftest import (
    TIMEOUT,
    answers,
    middleware_env,
    model_service_env,
    start_gunicorn,
    start_middleware,
    start_model_service,
    wait_until,
)
from tests.reliability.inputs import grey_jpeg, natural_image, post_file


def timed_post(url: str, body: bytes) -> tuple[float, requests.Response]:
    """POST the image; return when the answer came (monotonic clock) and the answer."""
    response = requests.post(url, files={"image": ("bw.jpg", body)}, timeout=TIMEOUT)
    return time.monotonic(), response


def in_flight(model_url: str) -> float:
    """Requests the model service is handling, this /metrics request included."""
    for line in requests.get(f"{model_url}/metrics", timeout=5).text.splitlines():
        if line.startswith("model_service_requests_in_flight "):
            return float(line.split()[1])
    return 0.0


def error_of(response) -> dict:
    return response.json()["error"]


def test_killed_model_service_is_503_and_the_middleware_recovers_by_itself(tiny_checkpoint, tmp_path):
    model = start_model_service(tiny_checkpoint, tmp_path / "model.log")
    # A read timeout that ends before this test's own requests give up: waiting on the dead service would
    # show as its 504, not as a request of the test timing out.
    web = start_middleware(model.url, tmp_path / "web.log", MODEL_SERVICE_READ_TIMEOUT=TIMEOUT / 2)
    try:
        url = f"{web.url}/api/colorize?render_size=512"  # slow enough to be caught in flight
        body = grey_jpeg(768, 1024)
        with ThreadPoolExecutor(4) as pool:
            pending = [pool.submit(timed_post, url, body) for _ in range(4)]
            wait_until(lambda: in_flight(model.url) >= 3, 30, "requests in flight at the model service")
            model.stop(signal.SIGKILL)
            killed = time.monotonic()
            answered = [future.result() for future in pending]
            responses = [response for _, response in answered]
        for response in responses:
            if response.status_code == 200:  # finished before the kill
                continue
            # A 503 that says when to come back, not the read timeout's 504: the middleware does not wait on a
            # service that is gone.
            assert response.status_code == 503
            assert error_of(response)["code"] == "model_service_unavailable"
            assert int(response.headers["Retry-After"]) > 0
        # A request the service held when it died is sent once more; nothing listens any more, so it is
        # answered within MODEL_SERVICE_UNREACHABLE_BUDGET (2 s), not left to the 30 s read timeout.
        late = [when - killed for when, r in answered if r.status_code == 503 and when - killed > 5]
        assert not late, f"503s {late} s after the kill"
        assert any(r.status_code == 503 for r in responses), "no request was caught in flight by the kill"
        # Nothing listens now: the connection is refused, tried again only within MODEL_SERVICE_UNREACHABLE_BUDGET
        # (counted on a fake clock in tests/middleware/test_client.py and test_errors.py), then a 503.
        after = post_file(url, grey_jpeg())
        assert after.status == 503 and after.headers["Retry-After"]
        assert after.json()["error"]["code"] == "model_service_unavailable"
        assert "not reachable" in after.json()["error"]["message"]
        assert requests.get(f"{web.url}/readyz", timeout=5).status_code == 503
        # The service comes back on the same port; the middleware, never restarted, uses it again.
        model = start_model_service(tiny_checkpoint, tmp_path / "model.log", port=model.port)
        wait_until(lambda: answers(f"{web.url}/readyz"), 30, "the middleware to see the service again")
        again = post_file(url, grey_jpeg())
        assert again.status == 200 and again.image().size == (64, 48)
        assert web.alive()
    finally:
        web.stop()
        model.stop()


def test_stalled_model_service_is_504_and_leaves_the_middleware_free(tmp_path):
    threads, stalled, stall_s = 8, 6, 30
    with raw_server("stall", stall_s=stall_s) as (stall_url, seen):
        env = middleware_env(stall_url, MODEL_SERVICE_READ_TIMEOUT=2) | {"WEB_CONCURRENCY": "1",
                                                                          "GUNICORN_THREADS": str(threads)}
        web = start_gunicorn("middleware", env, tmp_path / "web.log", ready="/healthz")
        try:
            with ThreadPoolExecutor(stalled) as pool:
                start = time.monotonic()
                pending = [pool.submit(timed_post, f"{web.url}/api/colorize", grey_jpeg())
                           for _ in range(stalled)]
                wait_until(lambda: len(seen) == stalled, 10, "every request to reach the stalled service")
                health = requests.get(f"{web.url}/healthz", timeout=1.5)
                assert health.status_code == 200
                assert not any(f.done() for f in pending)  # answered while every stalled request waited
                results = [future.result() for future in pending]
            for answered_at, response in results:
                assert response.status_code == 504
                assert response.json()["error"]["code"] == "model_service_timeout"
                # no sooner than the read timeout (2 s), and before the stalled service would have answered:
                # bounds set by the behaviour, not by how fast this machine is
                assert 2.0 <= answered_at - start < stall_s
            assert len(seen) == stalled  # a timed-out request is not sent again
            assert web.alive() and answers(f"{web.url}/healthz")
        finally:
            web.stop()


def worker_pid(model_url: str) -> int:
    """The pid of the worker that answered (a new connection each time, so any worker may)."""
    return requests.get(f"{model_url}/v1/models", timeout=TIMEOUT).json()["models"][0]["serving"]["worker_pid"]


def test_a_killed_gunicorn_worker_is_replaced_and_traffic_goes_on(tiny_checkpoint, tmp_path):
    env = model_service_env(tiny_checkpoint, WEB_CONCURRENCY=2, THREADS=4)
    model = start_gunicorn("model_service", env, tmp_path / "model.log")
    master, url, body = model.process.pid, f"{model.url}/v1/colorize", grey_jpeg()
    outcomes: list[int | str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():  # a new connection each time, so both workers get some
            try:
                outcomes.append(post_file(url, body).status)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                # The killed worker may die before or while it sends an answer: either way it is lost.
                outcomes.append("connection error")

    clients = [threading.Thread(target=client) for _ in range(2)]
    try:
        wait_until(lambda: len(child_pids(master)) == 2, 60, "two workers")
        victim = child_pids(master)[0]
        for thread in clients:
            thread.start()
        wait_until(lambda: len(outcomes) >= 4, 30, "traffic")
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(set(child_pids(master)) - {victim}) == 2, 90, "gunicorn to start a new worker")
        workers, served_by = set(child_pids(master)), set()

        def both_workers_answered() -> bool:
            served_by.add(worker_pid(model.url))
            return served_by == workers

        wait_until(both_workers_answered, 60, "the new worker to answer too", step=0.05)
        count = len(outcomes)
        wait_until(lambda: len(outcomes) >= count + 6, 60, "traffic after the restart")
    finally:
        stop.set()
        for thread in clients:
            if thread.is_alive():
                thread.join(TIMEOUT)
        model.stop()
    # Only the requests the killed worker held (one per client at most) are lost; the service sent no 5xx:
    # the new worker took connections only once its model was warm (gunicorn.conf.py's post_worker_init).
    assert outcomes.count("connection error") <= len(clients)
    assert set(outcomes) - {"connection error"} == {200}
    assert outcomes[-4:] == [200] * 4


def test_overload_is_shed_with_503_and_retry_after_through_the_middleware(tiny_checkpoint, tmp_path):
    model = start_model_service(tiny_checkpoint, tmp_path / "model.log", MAX_QUEUE=0, QUEUE_TIMEOUT=0.1,
                                RETRY_AFTER=3)
    web = start_middleware(model.url, tmp_path / "web.log")
    try:
        url, body = f"{web.url}/api/colorize?render_size=384", encode(natural_image(384, 384), "PNG")
        barrier = Barrier(8)

        def post(_: int) -> tuple[float, requests.Response]:
            barrier.wait(10)
            return timed_post(url, body)

        with ThreadPoolExecutor(8) as pool:
            results = [response for _, response in pool.map(post, range(8))]
        assert {r.status_code for r in results} == {200, 503}  # shed at once, not left to time out
        for response in results:
            if response.status_code == 503:
                assert response.json()["error"]["code"] == "busy"
                assert response.headers["Retry-After"] == "3"  # the model service's, passed on
        assert model.alive() and web.alive()
    finally:
        web.stop()
        model.stop()


def test_a_stalled_upload_holds_one_thread_not_the_service(target):
    """A client that sends half its body and stops does not hold up anyone else (bounded: 1 s of stall)."""
    _, server, path = target
    body = grey_jpeg(96, 128)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stalled:
        stalled.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
        time.sleep(0.5)
        answer = post_file(f"{server.url}{path}?render_size=64", body)
        assert answer.status == 200 and answer.image().size == (128, 96)
        time.sleep(0.5)
    assert server.alive() and answers(f"{server.url}/healthz")
