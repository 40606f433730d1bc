"""Gunicorn settings: ``gunicorn -c model_service/gunicorn.conf.py "model_service:create_app()"``.

Environment: PORT (8001), HOST (0.0.0.0), WEB_CONCURRENCY (workers, 2), THREADS (per worker; default
MAX_CONCURRENT_INFERENCES + MAX_QUEUE + 4, i.e. 13), TIMEOUT (120 s), LOG_LEVEL (info). Each worker loads
its own model after the fork (preload_app=False): no torch state crosses a fork, and MODEL_THREADS
defaults to the cores divided by WEB_CONCURRENCY. Keep THREADS above MAX_CONCURRENT_INFERENCES +
MAX_QUEUE, so that a full queue is answered with a quick 503 and /healthz, /readyz and /metrics still
answer while every inference slot is taken. A worker takes connections only once its model is warm
(post_worker_init), so a worker respawned beside busy peers never answers 503 not_ready.
"""

import os
import shutil
import tempfile

from model_service.config import load_config, openmp_environment  # no torch: the settings only

_service = load_config()
# Set here, in the master, so that every worker has it before it imports torch (see openmp_environment).
os.environ.update(openmp_environment())
wsgi_app = "model_service:create_app()"
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8001')}"
# Two by default: a worker that dies (killed, out of memory) leaves one answering while it is replaced,
# and the web app sends what the dead one held once more (middleware/client.py).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
# One thread per request the gate admits (running or queued) plus 4 for the probes and /metrics.
threads = int(os.environ.get("THREADS") or _service["MAX_CONCURRENT_INFERENCES"] + _service["MAX_QUEUE"] + 4)
preload_app = False
timeout = int(os.environ.get("TIMEOUT", "120"))  # also bounds a worker's start (model load)
graceful_timeout = 30
keepalive = 5
# colour hints travel in the query string: 64 of them, URL-encoded, take about 4.5 kB (gunicorn's default
# request-line limit is 4,094 bytes; 8,190 is its most)
limit_request_line = 8190
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


def post_worker_init(worker):
    # create_app() started the models' warm-up inferences in a thread; accept connections once it is done.
    models = getattr(worker.wsgi, "extensions", {}).get("model_service")
    thread = getattr(models, "warm_up_thread", None)
    if thread is not None:
        thread.join()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir_is_ours:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
