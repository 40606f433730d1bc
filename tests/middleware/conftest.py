"""The middleware against a real model service (``python -m model_service``) on a free port."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from middleware import create_app
from tests.conftest import SECOND_MODEL, natural_image, stop_process_group
from tests.middleware.fakes import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def wait_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = 300.0) -> None:
    # Generous: the service loads and warms two models, and CI machines may be busy with other work.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the model service exited with {proc.returncode} before it was ready")
        try:
            if requests.get(f"{url}/readyz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready after {timeout:.0f} s")


@contextmanager
def running_model_service(tmp_path_factory, **env: str) -> Iterator[str]:
    """The real model service (``python -m model_service``, one worker) on a free port with ``env`` added to
    the environment; its URL. A service that never gets ready fails the test with the end of its log."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("model_service") / "model_service.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "model_service", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env={**os.environ, "WEB_CONCURRENCY": "1", **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
    except RuntimeError as exc:
        stop_process_group(proc, signal.SIGKILL)
        pytest.fail(f"{exc}\n--- model service log ---\n{log_path.read_text(errors='replace')[-3000:]}")
    try:
        yield url
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="session")
def model_service_url(tiny_checkpoint, second_checkpoint, tmp_path_factory):
    """The real model service serving two tiny models as the product does: unet_resnet18 and tiny-b, the
    default (the second, so a page cannot pass by taking the first)."""
    with running_model_service(tmp_path_factory, MODEL_CHECKPOINTS=f"{tiny_checkpoint},{second_checkpoint}",
                               MODEL_DEFAULT=SECOND_MODEL) as url:
        yield url


def make_app(url: str, **config):
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret", "MODEL_SERVICE_URL": url,
                       "MODEL_SERVICE_READ_TIMEOUT": 60.0, **config})


@pytest.fixture
def app(model_service_url):
    return make_app(model_service_url)


@pytest.fixture
def client(app):
    return app.test_client()


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (96, 72), grey: bool = True) -> bytes:
    image = natural_image(size[1], size[0])
    buf = io.BytesIO()
    (image.convert("L") if grey else image).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def jpeg() -> bytes:
    return image_bytes()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, driven by Playwright (the browser tests skip where either is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.problems = []  # console errors (CSP violations are reported there) and uncaught exceptions
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(msg.text))
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    yield page
    context.close()
