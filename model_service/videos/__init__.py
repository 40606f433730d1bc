"""Video jobs: uploads streamed to a jobs folder on disk (store.py, upload.py), the HTTP API (routes.py) and one
runner thread per worker that colours them with colorize.video (runner.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from colorize.video import VideoLimits
from model_service.metrics import ServiceMetrics
from model_service.registry import ModelRegistry
from model_service.videos.runner import VideoRunner
from model_service.videos.store import JobStore

PREFIX = "/v1/videos"


@dataclass
class VideoService:
    store: JobStore
    limits: VideoLimits
    runner: VideoRunner


def limits_of(config: dict[str, Any]) -> VideoLimits:
    return VideoLimits(max_bytes=config["VIDEO_MAX_BYTES"], max_pixels=config["VIDEO_MAX_PIXELS"],
                       max_duration_s=config["VIDEO_MAX_DURATION_S"], max_frames=config["VIDEO_MAX_FRAMES"])


def init_app(app: Flask, models: ModelRegistry, metrics: ServiceMetrics) -> VideoService:
    """The routes, the store and the runner (started unless VIDEO_RUNNER is false)."""
    from model_service.videos import routes

    config = app.config
    store = JobStore(config["VIDEO_JOBS_DIR"], max_queued=config["VIDEO_MAX_QUEUED"],
                     stale_s=config["VIDEO_STALE_S"], max_attempts=config["VIDEO_MAX_ATTEMPTS"],
                     ttl_s=config["VIDEO_RESULT_TTL_S"], on_end=lambda state: metrics.video_jobs.labels(state).inc())
    limits = limits_of(config)
    runner = VideoRunner(store, models, limits, poll_s=config["VIDEO_POLL_S"], threads=config["MODEL_THREADS"])
    runner.on_poll = lambda: metrics.videos_queued.set(store.queued())
    service = VideoService(store, limits, runner)
    app.extensions["model_service.videos"] = service
    app.register_blueprint(routes.bp)
    if config["VIDEO_RUNNER"]:
        runner.start()
    return service

