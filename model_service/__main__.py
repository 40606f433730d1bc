"""Flask's threaded server: ``python -m model_service [--host 127.0.0.1] [--port 8001]`` (tests, debugging;
``make run`` and production use gunicorn.conf.py)."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_service", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8001")),
                        help="port (default: $PORT or 8001)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from model_service.config import openmp_environment

    os.environ.update(openmp_environment())  # before torch is imported (create_app imports it)

    from model_service import create_app
    from model_service.config import ConfigError
    from model_service.predictor import ModelLoadError

    try:
        app = create_app()
    except (ConfigError, ModelLoadError) as exc:
        print(f"model_service: cannot start: {exc}", file=sys.stderr)
        return 2
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
