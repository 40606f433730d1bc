"""``python -m middleware --host 127.0.0.1 --port 8000``: the web app on Flask's threaded server (tests, debugging).

``make run`` and production use gunicorn: ``gunicorn -c middleware/gunicorn.conf.py``.
"""

from __future__ import annotations

import argparse
import logging
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m middleware", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--model-service-url", default=None,
                        help="the model service's address (default: $MODEL_SERVICE_URL or http://127.0.0.1:8001)")
    parser.add_argument("--debug", action="store_true", help="Flask debug mode (never in production)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from middleware import create_app

    config = {"MODEL_SERVICE_URL": args.model_service_url} if args.model_service_url else {}
    app = create_app(config)
    app.run(host=args.host, port=args.port, debug=args.debug, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
