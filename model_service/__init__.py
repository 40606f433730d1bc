"""The model service: a Flask app that colorizes photos over HTTP (``create_app`` is its factory)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app and load its models (once per process: gunicorn calls this in each worker).

    Settings: model_service.config.DEFAULTS, overridden by environment variables of the same names,
    overridden by ``config`` (tests pass tiny checkpoints and small limits here). Raises
    ``ModelLoadError`` or ``ConfigError`` with a message that says what to fix.
    """
    from PIL import Image

    from colorize.bodies import BodyBudget
    from model_service import api, errors, metrics, videos
    from model_service.config import load_config
    from model_service.registry import ModelRegistry

    app = Flask(__name__)
    app.request_class = api.InMemoryRequest
    app.config.from_prefixed_env()  # FLASK_* variables, as in any Flask app
    app.config.update(load_config(overrides=config))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"]
    app.json.sort_keys = False
    # Pillow refuses images over 2 x MAX_IMAGE_PIXELS on its own; never below our own limit.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, app.config["MAX_PIXELS"])

    service_metrics = metrics.init_app(app)
    # video uploads stream to disk, bounded on their own (VIDEO_MAX_BYTES): outside the budget
    app.wsgi_app = BodyBudget(app.wsgi_app, app.config["MAX_BODY_BYTES"], app.config["MAX_UPLOAD_BYTES"],
                              app.config["RETRY_AFTER"], service_metrics.rejections.labels("body_budget").inc,
                              streamed=[("POST", videos.PREFIX)])
    models = ModelRegistry.from_config(app.config)
    app.extensions["model_service"] = models
    errors.init_app(app)
    app.register_blueprint(api.bp)
    videos.init_app(app, models, service_metrics)
    if app.config["WARMUP"]:
        models.start_warm_up()
    return app
