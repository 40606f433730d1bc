"""The stack of docker-compose.yml, built and started once for tests/integration, torn down afterwards.

Images are built by ``docker compose build`` (BuildKit in the engine: what users run), everything else
goes through the Docker SDK. Without a reachable registry the build uses the local base image and
wheelhouses of scripts/build-local-base.sh (made here if missing). Environment:
  COLORIZE_IMAGE_SOURCE   auto (default) | local | official
  COLORIZE_IT_WEB_PORT    host port for the web container (default 8000; a free one if 8000 is taken)
  COLORIZE_IT_KEEP=1      leave the stack running after the tests (for a look at it)
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "colorize-it"
IMAGE_TAG = "it"
OFFICIAL_BASE = "python:3.11-slim-bookworm"
LOCAL_BUILD_ENV = {"BASE_IMAGE": "colorize-base:bookworm",
                   "MODEL_WHEELHOUSE": ".whl/model", "WEB_WHEELHOUSE": ".whl/web"}
BUILD_TIMEOUT = 1800  # a cold build of the model image (CUDA wheels) takes minutes
START_TIMEOUT = 300

_timings: dict[str, str] = {}


@dataclass
class Stack:
    """The running stack: where to reach the web app, and the handles to poke at its containers."""

    client: object  # docker.DockerClient
    compose: list[str]
    env: dict[str, str]
    web_url: str
    timings: dict[str, float] = field(default_factory=dict)

    def container(self, service: str):
        labels = [f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={service}"]
        found = self.client.containers.list(all=True, filters={"label": labels})
        assert len(found) == 1, f"expected one {service} container, found {found}"
        return found[0]

    def wait_healthy(self, service: str, timeout: float) -> float:
        """Seconds until the service's container reports healthy (its HEALTHCHECK passed)."""
        start = time.monotonic()
        while True:
            container = self.container(service)
            container.reload()
            status = container.attrs["State"].get("Health", {}).get("Status")
            if status == "healthy":
                return time.monotonic() - start
            if container.status == "exited" or time.monotonic() - start > timeout:
                raise AssertionError(f"{service} not healthy after {timeout:.0f} s (status {status}, "
                                     f"{container.status}):\n{self.logs(service)}")
            time.sleep(0.5)

    def logs(self, service: str | None = None, tail: int = 80) -> str:
        args = ["logs", "--no-color", f"--tail={tail}"] + ([service] if service else [])
        result = _run(self.compose + args, self.env, timeout=60, check=False)
        return result.stdout + result.stderr


def _run(cmd: list[str], env: dict[str, str], timeout: float, check: bool = True
         ) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr)[-6000:]
        pytest.fail(f"{' '.join(cmd)} failed ({result.returncode}):\n{output}", pytrace=False)
    return result


def _compose_command() -> list[str]:
    """``docker compose`` (v2 plugin), else a standalone v2 ``docker-compose``."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        version = subprocess.run(cmd + ["version"], capture_output=True, text=True)
        if version.returncode == 0 and re.search(r"version v?2\.", version.stdout):
            return cmd
    pytest.fail("Docker Compose v2 is not installed (`docker compose version` failed): "
                "run scripts/ci-docker.sh, or install Docker's compose plugin", pytrace=False)


def _image_source(client) -> str:
    import docker

    source = os.environ.get("COLORIZE_IMAGE_SOURCE", "auto")
    if source not in ("auto", "local", "official"):
        pytest.fail(f"COLORIZE_IMAGE_SOURCE={source!r}: choose auto, local or official", pytrace=False)
    if source != "auto":
        return source
    try:
        client.images.get(OFFICIAL_BASE)
        return "official"
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(OFFICIAL_BASE)
        return "official"
    except docker.errors.APIError:
        return "local"  # no registry: build from the local base image and wheelhouses


def _web_port() -> int:
    wanted = int(os.environ.get("COLORIZE_IT_WEB_PORT", "8000"))
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
            return wanted
        except OSError:
            if "COLORIZE_IT_WEB_PORT" in os.environ:
                pytest.fail(f"port {wanted} is taken", pytrace=False)
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
    print(f"port {wanted} is taken: publishing the web container on {free}")
    return free


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env(version="auto", timeout=30)  # the engine's API version, old or new
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        pytest.skip(f"no Docker engine reachable ({exc.__class__.__name__}): start one, e.g. "
                    "`bash scripts/ci-docker.sh` on Debian as root")
    yield client
    client.close()


@pytest.fixture(scope="session")
def stack(docker_client) -> Iterator[Stack]:
    compose = _compose_command() + ["--project-name", PROJECT, "--project-directory", str(ROOT),
                                    "--file", str(ROOT / "docker-compose.yml")]
    source = _image_source(docker_client)
    env = {**os.environ, "IMAGE_TAG": IMAGE_TAG, "WEB_BIND": "127.0.0.1", "COMPOSE_PROGRESS": "plain"}
    _run(compose + ["down", "--remove-orphans", "--timeout", "5"], env, timeout=120, check=False)  # leftovers
    port = _web_port()
    env["WEB_PORT"] = str(port)
    if source == "local":
        env.update(LOCAL_BUILD_ENV)
        _run(["bash", "scripts/build-local-base.sh", "all"], env, timeout=BUILD_TIMEOUT)
    timings: dict[str, float] = {}

    start = time.monotonic()
    _run(compose + ["build"], env, timeout=BUILD_TIMEOUT)
    timings["build"] = time.monotonic() - start
    _timings["images"] = f"built in {timings['build']:.0f} s (base: {source})"
    for title in ("colorize-model", "colorize-web"):  # earlier builds of ours, now untagged
        docker_client.images.prune(filters={"dangling": True,
                                            "label": f"org.opencontainers.image.title={title}"})

    stack = Stack(docker_client, compose, env, f"http://127.0.0.1:{port}", timings)
    try:
        start = time.monotonic()
        up = _run(compose + ["up", "--detach", "--no-build", "--wait", "--wait-timeout", str(START_TIMEOUT)],
                  env, timeout=START_TIMEOUT + 60, check=False)
        if up.returncode != 0:
            pytest.fail(f"the stack did not become healthy:\n{up.stderr[-3000:]}\n{stack.logs()}",
                        pytrace=False)
        timings["start"] = time.monotonic() - start
        _timings["stack"] = f"healthy {timings['start']:.0f} s after `up`"
        yield stack
    finally:
        if os.environ.get("COLORIZE_IT_KEEP") != "1":
            _run(compose + ["down", "--remove-orphans", "--volumes", "--timeout", "10"], env,
                 timeout=180, check=False)


@pytest.fixture
def web(stack: Stack) -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.write_sep("-", "docker stack")
        for name, text in _timings.items():
            terminalreporter.write_line(f"{name}: {text}")
