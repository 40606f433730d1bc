"""Both services as they run in production, each a subprocess on a free 127.0.0.1 port: the model service
(``python -m model_service`` or gunicorn, tiny random-weight checkpoint, render size 64) and the middleware
(``python -m middleware`` or gunicorn) in front of it. Subprocesses inherit this process's niceness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import stop_process_group
from tests.middleware.fakes import free_port

REPO = Path(__file__).resolve().parents[2]
MODEL_MAX_UPLOAD = 3_000_000  # bytes: small, so an oversized body is cheap to send
WEB_MAX_UPLOAD = 2_000_000
TIMEOUT = 60  # seconds for one HTTP request


@dataclass
class Server:
    """A service subprocess: its URL, its process, its log."""

    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process_group(self.process, sig)


def wait_until(condition: Callable[[], object], timeout: float, message: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s: {message}")
        time.sleep(step)


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def start_server(command: list[str], env: dict[str, str], port: int, log_path: Path,
                 ready: str = "/readyz", timeout: float = 120.0) -> Server:
    """Start ``command``; return once ``ready`` answers 200 (fail the test with the log if it never does)."""
    full_env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"} | env
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while not answers(server.url + ready):
        if not server.alive() or time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            pytest.fail(f"{' '.join(command)} did not get ready:\n{server.log()[-3000:]}")
        time.sleep(0.2)
    return server


def model_service_env(checkpoint: str, **settings) -> dict[str, str]:
    # One torch thread: the tests, the services and the machine's other work share its cores.
    env = {"MODEL_CHECKPOINT": checkpoint, "DEFAULT_RENDER_SIZE": "64", "MODEL_THREADS": "1",
           "MAX_UPLOAD_BYTES": str(MODEL_MAX_UPLOAD)}
    return env | {k: str(v) for k, v in settings.items()}


def start_model_service(checkpoint: str, log_path: Path, port: int | None = None, **settings) -> Server:
    """``python -m model_service`` (Werkzeug, threaded): quicker to start than gunicorn (start_gunicorn)."""
    port = port or free_port()
    command = [sys.executable, "-m", "model_service", "--host", "127.0.0.1", "--port", str(port)]
    return start_server(command, model_service_env(checkpoint, **settings), port, log_path)


def start_gunicorn(service: str, env: dict[str, str], log_path: Path, ready: str = "/readyz") -> Server:
    """``gunicorn -c <service>/gunicorn.conf.py``, as the containers run it, on 127.0.0.1."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", f"{service}/gunicorn.conf.py"]
    return start_server(command, {"HOST": "127.0.0.1", "PORT": str(port), **env}, port, log_path, ready)


def middleware_env(model_url: str, **settings) -> dict[str, str]:
    """Settings as FLASK_* variables (JSON-parsed by the app), the model service's URL and a secret."""
    env = {"MODEL_SERVICE_URL": model_url, "SECRET_KEY": "reliability-tests",
           "FLASK_MAX_CONTENT_LENGTH": str(WEB_MAX_UPLOAD)}
    return env | {f"FLASK_{k}": str(v) for k, v in settings.items()}


def start_middleware(model_url: str, log_path: Path, ready: str = "/readyz", **settings) -> Server:
    """``python -m middleware`` (Werkzeug, threaded) in front of ``model_url``."""
    port = free_port()
    command = [sys.executable, "-m", "middleware", "--host", "127.0.0.1", "--port", str(port)]
    return start_server(command, middleware_env(model_url, **settings), port, log_path, ready)


@pytest.fixture(scope="session")
def model_service(tiny_checkpoint, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("model")
    server = start_model_service(tiny_checkpoint, folder / "model_service.log", VIDEO_JOBS_DIR=folder / "videos")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def middleware(model_service, tmp_path_factory) -> Iterator[Server]:
    server = start_middleware(model_service.url, tmp_path_factory.mktemp("web") / "middleware.log")
    yield server
    server.stop()


@pytest.fixture(params=["model_service", "middleware"])
def target(request) -> tuple[str, Server, str]:
    """Each service in turn: (name, server, colorize path)."""
    path = {"model_service": "/v1/colorize", "middleware": "/api/colorize"}[request.param]
    return request.param, request.getfixturevalue(request.param), path
