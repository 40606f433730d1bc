"""The web app: pages and a small API that forward images to the model service (never torch)."""

from __future__ import annotations

import logging
import os
import secrets
from importlib import metadata
from pathlib import Path

import requests
from flask import Flask

from colorize.bodies import BodyBudget
from middleware import errors, security
from middleware.client import RETRY_AFTER
from middleware.video_client import VideoJobsClient

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "MODEL_SERVICE_URL": "http://127.0.0.1:8001",
    "MODEL_SERVICE_CONNECT_TIMEOUT": 0.5,  # seconds per connect attempt
    "MODEL_SERVICE_READ_TIMEOUT": 60.0,  # seconds to wait for a colorized image
    "MODEL_SERVICE_UNREACHABLE_BUDGET": 2.0,  # all connect attempts together, retries included
    "MODEL_SERVICE_POOL_SIZE": 32,
    "MAX_CONTENT_LENGTH": 160 * 1000 * 1000,  # under the model service's 160 MiB: refused at the edge first
    # Request bodies one worker holds at once (colorize/bodies.py); past it 503 busy. One upload of the
    # largest size, or many photos: two workers fit the web container's 1 GiB (docs/limits.md).
    "MAX_BODY_BYTES": 160 * 1000 * 1000,
    # Non-file form fields. Werkzeug (3.1) also compares its parser's buffer plus each chunk it reads
    # (file data included) with this limit: at 64 KiB, photos over about 200 kB were refused with 413.
    "MAX_FORM_MEMORY_SIZE": 500_000,
    "MAX_FORM_PARTS": 64,
    "MAX_FILES_PER_FORM": 8,
    # A video upload is spooled to a temporary file (in VIDEO_SPOOL_DIR; empty: the system's), not held, and
    # bounded by its own limit: the model service's VIDEO_MAX_BYTES. Each upload in flight takes that much disk.
    "MAX_VIDEO_BYTES": 2 << 30,
    "VIDEO_SPOOL_DIR": "",
    "MODEL_SERVICE_UPLOAD_TIMEOUT": 30.0,  # seconds the service may take to take in the next block of a video
    "CSRF_ENABLED": True,
    "CSRF_TIME_LIMIT": 3600 * 6,
    "CSRF_EXEMPT_BLUEPRINTS": ("api", "videos"),
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}
log = logging.getLogger(__name__)


def _version(root: Path = ROOT) -> str:
    """pyproject.toml's version, found as colorize.__version__ finds it (the web image has no colorize package
    to import it from): the pyproject.toml at ``root`` when it is this project's (a source tree, or the web
    image, which copies the file but installs nothing), else the installed distribution's metadata."""
    try:
        import tomllib  # Python 3.11+

        project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
        if project["name"] == "colorize":
            return project["version"]
    except (ImportError, OSError, KeyError, ValueError):
        pass
    try:
        return metadata.version("colorize")
    except metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = _version()


def create_app(config: dict | None = None) -> Flask:
    """Build the app: defaults < ``FLASK_*`` env < ``MODEL_SERVICE_URL``/``SECRET_KEY`` env < ``config``."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env()
    for name in ("MODEL_SERVICE_URL", "SECRET_KEY"):
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    app.config.from_mapping(config or {})
    if not app.config.get("SECRET_KEY"):
        log.warning("SECRET_KEY is not set: using a random key for this process only "
                    "(form tokens will not survive a restart; set SECRET_KEY in production)")
        app.config["SECRET_KEY"] = secrets.token_hex(32)

    app.extensions["model_service"] = _make_client(app)
    app.jinja_env.globals["version"] = __version__  # the page footer
    security.init_app(app)
    errors.init_app(app)

    from middleware import api, videos, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(videos.bp)
    limit, largest = int(app.config["MAX_BODY_BYTES"]), int(app.config["MAX_CONTENT_LENGTH"])
    if limit < largest:
        raise ValueError(f"FLASK_MAX_BODY_BYTES={limit} is below FLASK_MAX_CONTENT_LENGTH={largest}: an upload "
                         "of the largest size would never be admitted")
    # video uploads are spooled to disk, bounded by FLASK_MAX_VIDEO_BYTES: outside the budget
    app.wsgi_app = BodyBudget(app.wsgi_app, limit, largest, RETRY_AFTER, setting="FLASK_MAX_BODY_BYTES",
                              streamed=[("POST", videos.UPLOAD_PATH)])
    return app


def _make_client(app: Flask) -> VideoJobsClient:
    session = requests.Session()
    pool = int(app.config["MODEL_SERVICE_POOL_SIZE"])
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool))
    session.mount("https://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool))
    return VideoJobsClient(
        app.config["MODEL_SERVICE_URL"],
        connect_timeout=float(app.config["MODEL_SERVICE_CONNECT_TIMEOUT"]),
        read_timeout=float(app.config["MODEL_SERVICE_READ_TIMEOUT"]),
        unreachable_budget=float(app.config["MODEL_SERVICE_UNREACHABLE_BUDGET"]),
        session=session,
        upload_timeout=float(app.config["MODEL_SERVICE_UPLOAD_TIMEOUT"]),
    )
