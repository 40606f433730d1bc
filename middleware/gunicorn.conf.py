"""gunicorn settings: ``gunicorn -c middleware/gunicorn.conf.py`` (binds to $PORT, default 8000).

The middleware mostly waits on the model service, so each worker runs many threads (gthread).
"""

import logging
import os
import secrets

wsgi_app = "middleware:create_app()"
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# Longer than the model-service read timeout (60 s), so a slow inference ends as a 504, not a killed worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "90"))
graceful_timeout = 30
keepalive = 5
# colour hints travel in the query string: 64 of them, URL-encoded, take about 4.5 kB (gunicorn's default
# request-line limit is 4,094 bytes; 8,190 is its most)
limit_request_line = 8190
control_socket_disable = True  # gunicorn >= 27: one shared default path would clash between instances
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

if not os.environ.get("SECRET_KEY"):
    # One random key shared by all workers (they inherit the environment), so a form token made by
    # one worker is accepted by another. It still changes on every restart: set SECRET_KEY in production.
    logging.getLogger("gunicorn.error").warning("SECRET_KEY is not set: using a random key for this run")
    os.environ["SECRET_KEY"] = secrets.token_hex(32)
