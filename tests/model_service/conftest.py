"""Apps built by create_app around the tiny random-weight checkpoint (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from model_service import create_app


@pytest.fixture(scope="session")
def make_app(tiny_checkpoint) -> Callable[..., Flask]:
    """``make_app(warm=True, **config)``: an app on the tiny checkpoint, warmed up in the foreground."""

    def make(warm: bool = True, **config) -> Flask:
        app = create_app({"MODEL_CHECKPOINT": tiny_checkpoint, "DEFAULT_RENDER_SIZE": 64, "WARMUP": False,
                          **config})
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
