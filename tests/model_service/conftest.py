"""Apps built by create_app around the tiny random-weight checkpoint (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from model_service import create_app


@pytest.fixture(scope="session")
def make_app(tiny_checkpoint, tmp_path_factory) -> Callable[..., Flask]:
    """``make_app(warm=True, **config)``: an app on the tiny checkpoint, warmed up in the foreground; no video
    runner unless asked for (VIDEO_RUNNER), video jobs in a folder of the session's."""
    videos = str(tmp_path_factory.mktemp("video-jobs"))

    def make(warm: bool = True, **config) -> Flask:
        app = create_app({"MODEL_CHECKPOINT": tiny_checkpoint, "DEFAULT_RENDER_SIZE": 64, "WARMUP": False,
                          "VIDEO_RUNNER": False, "VIDEO_JOBS_DIR": videos, **config})
        if warm:
            app.extensions["model_service"].warm_up()
        return app

    return make


@pytest.fixture(scope="session")
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def video_app(make_app, tmp_path):
    """``video_app(runner=True, **config)``: an app whose jobs live in this test's folder, its runner polling
    quickly, on PyTorch unless asked (quicker to load than OpenVINO's conversion); every runner is stopped when
    the test ends."""
    made = []

    def make(runner: bool = True, **config):
        settings = {"VIDEO_JOBS_DIR": str(tmp_path / "jobs"), "VIDEO_POLL_S": 0.02, "MODEL_RUNTIME": "torch"}
        app = make_app(**{**settings, "VIDEO_RUNNER": runner, **config})
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["model_service.videos"].runner.stop()
