"""Load test: N clients post one image again and again to the web app or the model service, on this machine.

    python benchmarks/load.py --url http://127.0.0.1:8000/api/colorize --clients 8 --requests 1000
    python benchmarks/load.py --start-services --checkpoint models/colorizer.safetensors --workers 1 \
        --clients 8 --duration 60 [--target web|model] [--render-size 64] [--model-env MAX_QUEUE=0]

Each client keeps one connection (a requests.Session) and sends its next request when the last is answered.
The run stops after --requests answers or --duration seconds, whichever comes first. It reports throughput,
latency percentiles (p50/p95/p99), the answers by status (503s with and without Retry-After) and errors by
kind; with --pid (or --start-services: both gunicorn masters) also the resident memory (VmRSS) of those
processes and their children (the workers), sampled through the run. A leak grows in the second half of the
run as in the first; the allocator settling in grows in the first half only. Results:
benchmarks/out/<name>.{json,md}. Nothing is asserted. Only 127.0.0.1 / localhost is loaded.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # also run as `python benchmarks/load.py`

from benchmarks.machine import cpu_model, save_results  # noqa: E402
from benchmarks.processes import RssMonitor, gunicorn  # noqa: E402 - after the path above

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_REQUESTS, MAX_DURATION = 100_000, 3600.0  # hard bounds on one run


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="the colorize endpoint, e.g. http://127.0.0.1:8000/api/colorize")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default: %(default)s)")
    p.add_argument("--requests", type=int, default=None, help="stop after this many answers (default: 200 "
                                                                "without --duration)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--image", type=Path, help="the image to send (default: a generated 512x384 grey JPEG)")
    p.add_argument("--render-size", type=int, help="render_size query parameter (default: the service's)")
    p.add_argument("--raw", action="store_true", help="send the image as the body, not as multipart 'image'")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one answer")
    p.add_argument("--warmup", type=int, default=None, help="requests before measuring (default: --clients)")
    p.add_argument("--pid", type=int, action="append", default=[],
                   help="sample the RSS of this process and its children (repeatable)")
    p.add_argument("--rss-interval", type=float, default=2.0, help="seconds between RSS samples")
    p.add_argument("--start-services", action="store_true",
                   help="start the model service and the web app under gunicorn on free ports, then load them")
    p.add_argument("--checkpoint", type=Path, help="with --start-services: MODEL_CHECKPOINT")
    p.add_argument("--workers", type=int, default=1, help="with --start-services: model service workers")
    p.add_argument("--web-workers", type=int, default=1, help="with --start-services: web app workers")
    p.add_argument("--target", choices=("web", "model"), default="web",
                   help="with --start-services: which one to load (default: %(default)s)")
    p.add_argument("--model-env", action="append", default=[], metavar="NAME=VALUE",
                   help="with --start-services: a model service setting, e.g. MAX_QUEUE=0 (repeatable)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    p.add_argument("--name", default="load", help="file name of the results, without suffix")
    return p


def default_image() -> bytes:
    """A 512x384 grey JPEG: gradients and a disc, like a small scanned photo."""
    from PIL import Image, ImageDraw

    image = Image.linear_gradient("L").resize((512, 384))
    ImageDraw.Draw(image).ellipse((160, 96, 352, 288), fill=200)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class Load:
    """Clients that share a budget of requests and a deadline, and the answers they got."""

    def __init__(self, url: str, body: bytes, raw: bool, timeout: float, total: int, deadline: float,
                 honour_retry_after: bool = False):
        self.url, self.body, self.raw, self.timeout = url, body, raw, timeout
        self.honour_retry_after = honour_retry_after  # after a 503, wait what its Retry-After says
        self.total, self.deadline = total, deadline
        self.lock = threading.Lock()
        self.started = 0
        self.latencies: list[float] = []  # seconds, of 200 answers
        self.every: list[float] = []  # seconds, of every answer (503s too), not of errors
        self.outcomes: Counter[str] = Counter()  # "200", "503", "ReadTimeout", ...
        self.retry_after: Counter[str] = Counter()  # 503s: "with" / "without" Retry-After

    def _ticket(self) -> bool:
        with self.lock:
            if self.started >= self.total or time.monotonic() >= self.deadline:
                return False
            self.started += 1
            return True

    def _send(self, session: requests.Session) -> requests.Response:
        if self.raw:
            return session.post(self.url, data=self.body, headers={"Content-Type": "application/octet-stream"},
                                timeout=self.timeout)
        return session.post(self.url, files={"image": ("load.jpg", self.body, "image/jpeg")}, timeout=self.timeout)

    def client(self) -> None:
        with requests.Session() as session:
            while self._ticket():
                start = time.perf_counter()
                try:
                    response = self._send(session)
                    outcome = str(response.status_code)
                except requests.RequestException as exc:
                    response, outcome = None, type(exc).__name__
                elapsed = time.perf_counter() - start
                with self.lock:
                    self.outcomes[outcome] += 1
                    if response is not None:
                        self.every.append(elapsed)
                    if outcome == "200":
                        self.latencies.append(elapsed)
                    elif outcome == "503":
                        self.retry_after["with" if response.headers.get("Retry-After") else "without"] += 1
                wait = response.headers.get("Retry-After", "") if outcome == "503" else ""
                if self.honour_retry_after and wait.isdigit():
                    time.sleep(min(float(wait), max(0.0, self.deadline - time.monotonic())))

    def answered(self) -> int:
        with self.lock:
            return sum(self.outcomes.values())

    def run(self, clients: int) -> float:
        start = time.perf_counter()
        threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    if len(seconds) < 2:
        value = seconds[0] * 1000 if seconds else None
        return {"p50": value, "p95": value, "p99": value, "mean": value}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50": cuts[49] * 1000, "p95": cuts[94] * 1000, "p99": cuts[98] * 1000,
            "mean": statistics.fmean(seconds) * 1000}


def start_services(args: argparse.Namespace, stack: ExitStack) -> tuple[str, list[int]]:
    """Both services under gunicorn; returns the URL to load and the gunicorn masters' pids."""
    if not args.checkpoint:
        raise SystemExit("--start-services needs --checkpoint")
    logs = Path(tempfile.mkdtemp(prefix="colorize-load-"))
    print(f"service logs: {logs}")
    model_env = {"MODEL_CHECKPOINT": str(args.checkpoint.resolve()), "WEB_CONCURRENCY": str(args.workers)}
    model_env |= dict(setting.split("=", 1) for setting in args.model_env)
    model_url, model = stack.enter_context(gunicorn("model_service", model_env, logs))
    if args.target == "model":
        return f"{model_url}/v1/colorize", [model.pid]
    web_env = {"MODEL_SERVICE_URL": model_url, "WEB_CONCURRENCY": str(args.web_workers),
               "SECRET_KEY": secrets.token_hex(16)}
    web_url, web = stack.enter_context(gunicorn("middleware", web_env, logs))
    return f"{web_url}/api/colorize", [model.pid, web.pid]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def markdown(report: dict) -> str:
    s, r = report["settings"], report["results"]
    lat = r["latency_ms_of_200"]
    lines = [
        "# Load test", "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; 1-minute load average "
        f"{report['machine']['load_before']:.1f} before, {report['machine']['load_after']:.1f} after.",
        f"Target: `{s['url']}`; {s['clients']} clients; image {s['image']} ({s['image_bytes']} bytes); "
        f"render size {s['render_size'] or 'default'}; {s['warmup']} warm-up requests not counted.", "",
        "| answers | wall s | answers/s | 200/s | p50 ms | p95 ms | p99 ms | mean ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {r['answers']} | {r['wall_s']:.1f} | {r['throughput_per_s']:.2f} | {r['ok_per_s']:.2f} | "
        f"{fmt(lat['p50'])} | {fmt(lat['p95'])} | {fmt(lat['p99'])} | {fmt(lat['mean'])} |", "",
        "Answers by status or error: " + ", ".join(f"{k}: {v}" for k, v in sorted(r["outcomes"].items())) + ".",
    ]
    if r["outcomes"].get("503"):
        lines.append(f"503 answers with Retry-After: {r['retry_after'].get('with', 0)}, "
                     f"without: {r['retry_after'].get('without', 0)}.")
    if report.get("rss_kib"):
        rss = report["rss_kib"]
        roots = ", ".join(map(str, rss["root_pids"]))
        lines += ["", f"Resident memory (VmRSS) of pids {roots} and their children, KiB:", "",
                  "| pid | after warm-up | after the run | growth |", "| ---: | ---: | ---: | ---: |"]
        for pid, row in rss["by_pid"].items():
            lines.append(f"| {pid} | {fmt(row['before'])} | {fmt(row['after'])} | {fmt(row['growth'])} |")
        lines += [f"| total | {rss['total_before']} | {rss['total_after']} | {rss['total_growth']} |", "",
                  f"Growth of the total in the first half of the answers: {rss['growth_first_half']} KiB; "
                  f"in the second half: {rss['growth_second_half']} KiB ({len(rss['samples'])} samples)."]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    total = min(args.requests or (MAX_REQUESTS if args.duration else 200), MAX_REQUESTS)
    duration = min(args.duration or MAX_DURATION, MAX_DURATION)
    with ExitStack() as stack:
        url, pids = (start_services(args, stack) if args.start_services else (args.url, args.pid))
        if not url or urlsplit(url).hostname not in LOCAL_HOSTS:
            raise SystemExit(f"--url must be a 127.0.0.1 / localhost URL (or use --start-services), got {url!r}")
        if args.render_size:
            url += ("&" if "?" in url else "?") + f"render_size={args.render_size}"
        body = args.image.read_bytes() if args.image else default_image()
        warmup = args.clients if args.warmup is None else args.warmup
        if warmup:
            Load(url, body, args.raw, args.timeout, warmup, time.monotonic() + args.timeout).run(args.clients)
        load_before = os.getloadavg()[0]
        load = Load(url, body, args.raw, args.timeout, total, time.monotonic() + duration)
        monitor = RssMonitor(pids, args.rss_interval, load.answered) if pids else None
        if monitor:
            monitor.start()
        print(f"loading {url} with {args.clients} clients: up to {total} requests, up to {duration:g} s ...")
        wall = load.run(args.clients)
        answers = load.answered()
        report = {
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "load_before": load_before,
                        "load_after": os.getloadavg()[0]},
            "settings": {"url": url, "clients": args.clients, "requests": total, "duration_s": duration,
                         "image": str(args.image or "generated 512x384 grey JPEG"), "image_bytes": len(body),
                         "render_size": args.render_size, "raw": args.raw, "warmup": warmup,
                         "start_services": args.start_services, "workers": args.workers,
                         "model_env": args.model_env},
            "results": {"answers": answers, "wall_s": wall, "throughput_per_s": answers / wall,
                        "ok_per_s": load.outcomes.get("200", 0) / wall, "outcomes": dict(load.outcomes),
                        "retry_after": dict(load.retry_after), "latency_ms_of_200": percentiles(load.latencies)},
        }
        if monitor:
            report["rss_kib"] = monitor.stop()
    save_results(args.out, args.name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
