"""``make run``: the model service on 127.0.0.1:8001, then the web app on 127.0.0.1:8000; Ctrl-C stops both.

Both run on gunicorn with the settings their images use (model_service/gunicorn.conf.py and
middleware/gunicorn.conf.py: workers, threads, timeouts), bound to 127.0.0.1 instead of every address.

The models are the shipped ones (colorize.SHIPPED_CHECKPOINTS, in models/), the service's own default; or
$MODEL_CHECKPOINTS (or $MODEL_CHECKPOINT) and $MODEL_DEFAULT, which pass through to the service untouched.
A shipped checkpoint missing from models/ is left out, with a warning (the service alone would refuse to
start without it). With none at all, a random-weight unet_resnet34 is made once in the cache folder so the
app can be tried; its colours mean nothing. Ports: $MODEL_SERVICE_PORT (8001) and $MIDDLEWARE_PORT (8000).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from colorize import SHIPPED_CHECKPOINTS

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_TIMEOUT_S = 300


def say(message: str) -> None:
    print(f"[run_local] {message}", flush=True)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "colorize"


def untrained_checkpoint() -> Path:
    """A random-weight unet_resnet34 checkpoint, made once and kept in the cache folder."""
    path = cache_dir() / "untrained-unet_resnet34.safetensors"
    if not path.is_file():
        say(f"making a random-weight unet_resnet34 checkpoint at {path} ...")
        import torch

        from colorize.checkpoint import save_model
        from colorize.models import create_model

        torch.manual_seed(0)
        meta = {"training": {"data": "none: random weights (UNTRAINED), made by scripts/run_local.py"}}
        save_model(create_model("unet_resnet34"), path, meta, dtype=torch.float16)
    return path


def choose_checkpoints() -> tuple[dict[str, str], str, bool]:
    """(settings to give the model service, what it serves in words, trained?)."""
    for name in ("MODEL_CHECKPOINTS", "MODEL_CHECKPOINT"):
        if os.environ.get(name):
            return {}, f"${name} ({os.environ[name]})", True  # the service reads it from the environment
    present = [p for p in SHIPPED_CHECKPOINTS if p.is_file()]
    if present == SHIPPED_CHECKPOINTS:
        return {}, ", ".join(p.name for p in present), True  # the service's default: every shipped model
    if present:
        missing = ", ".join(str(p.relative_to(ROOT)) for p in SHIPPED_CHECKPOINTS if p not in present)
        say(f"WARNING: {missing} not found: serving the other shipped models only")
        return {"MODEL_CHECKPOINTS": ",".join(map(str, present))}, ", ".join(p.name for p in present), True
    untrained = untrained_checkpoint()
    return {"MODEL_CHECKPOINTS": str(untrained)}, str(untrained), False


def warn_untrained() -> None:
    bar = "!" * 78
    shipped = ", ".join(str(p.relative_to(ROOT)) for p in SHIPPED_CHECKPOINTS)
    say(f"\n{bar}\n!! No trained model at {shipped}.\n"
        "!! Serving an UNTRAINED random-weight model: the pages and the API work, the colours mean nothing.\n"
        "!! Train one (make train / colorize-train) or put colorizer.safetensors in models/.\n"
        f"{bar}")


def port_from_env(name: str, default: int) -> int:
    port = int(os.environ.get(name, default))
    with socket.socket() as sock:
        if sock.connect_ex((HOST, port)) == 0:
            sys.exit(f"[run_local] port {port} on {HOST} is already in use; set {name} to another port")
    return port


@dataclass
class Service:
    name: str  # the package, whose gunicorn.conf.py runs it
    proc: subprocess.Popen


def wait_ready(url: str, service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited with status {service.proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} was not ready after {timeout:.0f} s")


def start(name: str, port: int, env: dict[str, str]) -> Service:
    """``gunicorn -c <name>/gunicorn.conf.py``, as the image's CMD runs it, on HOST:port. In a process group of
    its own: the terminal's Ctrl-C reaches this script alone, which then stops each service as a whole."""
    command = [sys.executable, "-m", "gunicorn", "-c", f"{name}/gunicorn.conf.py"]
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "HOST": HOST, "PORT": str(port)},
                            start_new_session=True)
    return Service(name, proc)


def stop(services: list[Service]) -> None:
    """SIGTERM to each gunicorn master (its workers finish what they are doing), then SIGKILL to whatever is
    left of its process group after 10 s, so that no worker outlives this script."""
    for service in services:
        if service.proc.poll() is None:
            service.proc.send_signal(signal.SIGTERM)
    for service in services:
        try:
            service.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            say(f"{service.name} did not stop within 10 s: killing it")
        try:
            os.killpg(service.proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # the group is gone: nothing left behind
            pass
        service.proc.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    model_port = port_from_env("MODEL_SERVICE_PORT", 8001)
    web_port = port_from_env("MIDDLEWARE_PORT", 8000)
    model_env, served, trained = choose_checkpoints()
    if not trained:
        warn_untrained()
    services: list[Service] = []
    # SIGTERM (docker stop, kill) and SIGHUP (the terminal closed; unless nohup ignores it) end this script
    # like Ctrl-C does: both services are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _interrupt)
    try:
        say(f"starting the model service on {HOST}:{model_port} with {served}")
        services.append(start("model_service", model_port, model_env))
        wait_ready(f"http://{HOST}:{model_port}/readyz", services[0], READY_TIMEOUT_S)
        say(f"starting the web app on {HOST}:{web_port}")
        services.append(start("middleware", web_port, {"MODEL_SERVICE_URL": f"http://{HOST}:{model_port}"}))
        wait_ready(f"http://{HOST}:{web_port}/healthz", services[1], 60)
        if not trained:
            warn_untrained()
        say(f"ready: open http://{HOST}:{web_port}/   (Ctrl-C stops both services)")
        while all(service.proc.poll() is None for service in services):
            time.sleep(0.5)
        dead = next(service for service in services if service.proc.poll() is not None)
        say(f"{dead.name} exited with status {dead.proc.returncode}; stopping the other service")
        return 1
    except KeyboardInterrupt:
        say("stopping ...")
        return 0
    except RuntimeError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # another Ctrl-C cannot cut the stop short
        stop(services)


if __name__ == "__main__":
    sys.exit(main())
