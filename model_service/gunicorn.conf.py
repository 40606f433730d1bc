"""Gunicorn settings: ``gunicorn -c model_service/gunicorn.conf.py "model_service:create_app()"``.

Environment: PORT (8001), HOST (0.0.0.0), WEB_CONCURRENCY (workers, 1), THREADS (per worker, 8),
TIMEOUT (120 s), LOG_LEVEL (info). Each worker loads its own model after the fork (preload_app=False):
no torch state crosses a fork, and MODEL_THREADS defaults to the cores divided by WEB_CONCURRENCY.
Keep THREADS above MAX_CONCURRENT_INFERENCES + MAX_QUEUE, so that a full queue is answered with a
quick 503 and /healthz, /readyz and /metrics still answer while every inference slot is taken.
"""

import os
import shutil
import tempfile

wsgi_app = "model_service:create_app()"
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8001')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "8"))
preload_app = False
timeout = int(os.environ.get("TIMEOUT", "120"))  # also bounds a worker's start (model load)
graceful_timeout = 30
keepalive = 5
control_socket_disable = True  # gunicorn >= 27: one shared default path would clash between instances
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")

# Prometheus across workers: every worker writes its metrics to files in one folder, and /metrics
# (answered by any worker) adds them up. The folder must be set before a worker imports
# prometheus_client and must start empty.
_metrics_dir_is_ours = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _metrics_dir_is_ours:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="model-service-metrics-")


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # values left by an earlier run
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir_is_ours:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
