"""Prometheus metrics: requests by endpoint and status, latency, requests in flight, queue rejections, video jobs.

Under gunicorn with several workers, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before the workers
import this module; each worker then writes its values to files there and ``GET /metrics`` (answered by
any one worker) sums all workers. Without it (``python -m model_service``, tests) the values live in
the process and each app has its own registry.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

bp = Blueprint("metrics", __name__)

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServiceMetrics:
    """The service's metrics, in their own registry (so several apps in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("model_service_requests", "HTTP requests answered",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("model_service_request_duration_seconds", "HTTP request latency",
                                 ["endpoint"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.inference = Histogram("model_service_inference_duration_seconds",
                                   "time in colorize (decode, queue and encode excluded)",
                                   buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("model_service_requests_in_flight", "HTTP requests being handled",
                               registry=self.registry, multiprocess_mode="livesum")
        self.rejections = Counter("model_service_queue_rejections", "colorize requests refused as busy",
                                  ["reason"], registry=self.registry)
        for reason in ("queue_full", "timeout", "body_budget"):  # export zeros, so rate() works from the start
            self.rejections.labels(reason)
        self.video_jobs = Counter("model_service_video_jobs", "video jobs ended, by how they ended", ["state"],
                                  registry=self.registry)
        for state in ("done", "failed", "cancelled"):
            self.video_jobs.labels(state)
        # Every worker counts the same shared folder: the latest count stands for the service.
        self.videos_queued = Gauge("model_service_videos_queued", "video jobs waiting for a runner",
                                   registry=self.registry, multiprocess_mode="livemostrecent")

    def exposition(self) -> bytes:
        """The Prometheus text format: of all workers in multiprocess mode, else of this app."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def _metrics() -> ServiceMetrics:
    return current_app.extensions["model_service.metrics"]


def _endpoint() -> str:
    # The route pattern, never the raw path: unknown paths must not create new label values.
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def _before() -> None:
    g.metrics_start = time.perf_counter()
    _metrics().in_flight.inc()


def _after(response: Response) -> Response:
    metrics = _metrics()
    endpoint = _endpoint()
    method = request.method if request.method in _METHODS else "other"
    metrics.requests.labels(endpoint, method, str(response.status_code)).inc()
    metrics.latency.labels(endpoint).observe(time.perf_counter() - g.metrics_start)
    return response


def _teardown(_exc: BaseException | None) -> None:
    if "metrics_start" in g:
        _metrics().in_flight.dec()


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    return Response(_metrics().exposition(), content_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> ServiceMetrics:
    """Create the metrics, hook them into every request and add ``GET /metrics``."""
    metrics = ServiceMetrics()
    app.extensions["model_service.metrics"] = metrics
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
    app.register_blueprint(bp)
    return metrics
