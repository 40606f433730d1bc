"""The app factory: configuration sources, the client in app.extensions, and no torch."""

from __future__ import annotations

import logging
import subprocess
import sys

from middleware import create_app
from middleware.client import ModelServiceClient


def test_importing_and_building_the_middleware_never_imports_torch():
    code = ("import sys, middleware, middleware.api, middleware.views, middleware.__main__; "
            "middleware.create_app({'SECRET_KEY': 'x'}); "
            "bad = [m for m in ('torch', 'torchvision', 'colorize.models') if m in sys.modules]; "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_config_from_the_environment_then_the_test_dict(monkeypatch):
    monkeypatch.setenv("MODEL_SERVICE_URL", "http://model:9000/")
    monkeypatch.setenv("FLASK_MODEL_SERVICE_READ_TIMEOUT", "12.5")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    app = create_app()
    client = app.extensions["model_service"]
    assert isinstance(client, ModelServiceClient)
    assert client.base_url == "http://model:9000" and client.read_timeout == 12.5
    assert app.secret_key == "from-env"
    assert create_app({"MODEL_SERVICE_URL": "http://other"}).extensions["model_service"].base_url == "http://other"


def test_defaults(monkeypatch):
    monkeypatch.delenv("MODEL_SERVICE_URL", raising=False)
    app = create_app({"SECRET_KEY": "x"})
    assert app.config["MODEL_SERVICE_URL"] == "http://127.0.0.1:8001"
    assert app.config["MAX_CONTENT_LENGTH"] == 160_000_000
    assert not app.debug


def test_a_missing_secret_key_is_generated_with_a_warning(monkeypatch, caplog):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="middleware"):
        first, second = create_app(), create_app()
    assert "SECRET_KEY is not set" in caplog.text
    assert len(first.secret_key) >= 32 and first.secret_key != second.secret_key
