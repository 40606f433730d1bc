"""End-to-end HTTP latency and throughput through both services (web app -> model service), on 127.0.0.1.

    python -m benchmarks.service [--checkpoint models/colorizer.safetensors] [--sizes 0.25 1 12]
        [--layouts 1x2 2x1] [--clients 1 2 4 8] [--duration 20]

Starts the model service and the web app under gunicorn on free 127.0.0.1 ports, as in production
(`gunicorn -c <service>/gunicorn.conf.py`), once per layout of the model service: WORKERSxTHREADS, e.g.
1x2 = one worker with two torch threads, 2x1 = two workers with one each. For each layout:

* latency: grey JPEGs of 0.25, 1 and 12 MP (made by benchmarks.pipeline.make_photo) posted one at a time
  as `curl -F image=@photo.jpg` would, default options (the model's own render size, output format auto = JPEG);
  p50/p95 of --latency-requests answers after two warm-up requests, and each model worker's peak resident
  memory (VmHWM) after the 12 MP requests;
* throughput: 1, 2, 4 and 8 concurrent clients posting the 0.25 MP photo again and again for --duration
  seconds (and at most --max-requests answers), as images/s answered 200, with p50/p95.

Writes benchmarks/out/service.{md,json}. Nothing is asserted; only 127.0.0.1 is loaded.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from benchmarks.load import Load, percentiles
from benchmarks.machine import print_machine, save_results
from benchmarks.pipeline import make_photo
from benchmarks.processes import child_pids, gunicorn
from colorize.checkpoint import read_metadata
from colorize.pipeline import recommended_render_size

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib(pid: int) -> float | None:
    """A process's peak resident set (VmHWM) in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def latency(url: str, photo: bytes, requests_n: int) -> dict:
    with requests.Session() as session:
        seconds, sizes = [], set()
        for i in range(requests_n + 2):
            start = time.perf_counter()
            response = session.post(url, files={"image": ("photo.jpg", photo, "image/jpeg")}, timeout=120)
            elapsed = time.perf_counter() - start
            response.raise_for_status()
            sizes.add((response.headers.get("Content-Type"), len(response.content)))
            if i >= 2:
                seconds.append(elapsed)
    out = percentiles(seconds)
    out["answers"] = len(seconds)
    out["content_type"] = sorted(sizes)[0][0]
    out["answer_bytes"] = statistics.median(size for _, size in sizes)
    return out


def run_layout(args: argparse.Namespace, layout: str, photos: dict[float, bytes]) -> dict:
    workers, threads = (int(x) for x in layout.split("x"))
    logs = Path(tempfile.mkdtemp(prefix="colorize-bench-"))
    model_env = {"MODEL_CHECKPOINT": str(args.checkpoint.resolve()), "WEB_CONCURRENCY": str(workers),
                 "MODEL_THREADS": str(threads)}
    result: dict = {"layout": layout, "model_workers": workers, "torch_threads_per_worker": threads,
                    "latency": {}, "throughput": {}}
    with ExitStack() as stack:
        model_url, model = stack.enter_context(gunicorn("model_service", model_env, logs))
        web_env = {"MODEL_SERVICE_URL": model_url, "WEB_CONCURRENCY": str(args.web_workers),
                   "SECRET_KEY": secrets.token_hex(16)}
        web_url, _ = stack.enter_context(gunicorn("middleware", web_env, logs))
        url = f"{web_url}/api/colorize"
        for size, photo in photos.items():
            n = args.latency_requests if size <= 2 else max(3, args.latency_requests // 3)
            result["latency"][f"{size:g}"] = row = latency(url, photo, n)
            print(f"[{layout}] {size:g} MP: p50 {row['p50']:.0f} ms, p95 {row['p95']:.0f} ms "
                  f"({row['answers']} answers, {row['content_type']}, {row['answer_bytes'] / 1e6:.2f} MB)")
        result["model_worker_peak_rss_mib"] = [peak_rss_mib(pid) for pid in child_pids(model.pid)]
        print(f"[{layout}] model workers' peak RSS: {result['model_worker_peak_rss_mib']} MiB")
        small = photos[min(photos)]
        for clients in args.clients:
            Load(url, small, False, 120, clients, time.monotonic() + 60).run(clients)  # warm the connections
            load = Load(url, small, False, 120, args.max_requests, time.monotonic() + args.duration)
            wall = load.run(clients)
            ok = load.outcomes.get("200", 0)
            lat = percentiles(load.latencies)
            result["throughput"][str(clients)] = row = {
                "answers": load.answered(), "ok": ok, "wall_s": wall, "images_per_s": ok / wall,
                "outcomes": dict(load.outcomes), "p50": lat["p50"], "p95": lat["p95"]}
            print(f"[{layout}] {clients} clients: {row['images_per_s']:.2f} images/s, p50 {lat['p50']:.0f} ms, "
                  f"p95 {lat['p95']:.0f} ms, outcomes {row['outcomes']}")
    return result


def markdown(report: dict) -> str:
    m = report["machine"]
    sizes = report["sizes"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}. Model: {report['model']}. "
             f"Both services under gunicorn on 127.0.0.1 (web app: {report['web_workers']} worker); "
             f"requests as `curl -F image=@photo.jpg`, default options (render size {report['render_size']} from the "
             "checkpoint, format auto, so a "
             "JPEG answer). Layout = model-service workers x torch threads per worker.", "",
             "End-to-end latency, one request at a time (ms):", "",
             "| layout | " + " | ".join(f"{s} MP p50 | {s} MP p95" for s in sizes) + " | model worker peak RSS MiB |",
             "|---|" + "---:|---:|" * len(sizes) + "---:|"]
    for r in report["layouts"]:
        cells = " | ".join(f"{r['latency'][s]['p50']:.0f} | {r['latency'][s]['p95']:.0f}" for s in sizes)
        rss = ", ".join(f"{x:.0f}" for x in r["model_worker_peak_rss_mib"] if x)
        lines.append(f"| {r['layout']} | {cells} | {rss} |")
    clients = list(report["layouts"][0]["throughput"])
    lines += ["", f"Throughput with concurrent clients posting the {min(map(float, sizes)):g} MP photo for up to "
              f"{report['duration_s']:g} s each (images/s answered 200; p50/p95 ms):", "",
              "| layout | " + " | ".join(f"{c} client{'s' if c != '1' else ''}" for c in clients) + " |",
              "|---|" + "---:|" * len(clients)]
    for r in report["layouts"]:
        cells = " | ".join(f"{t['images_per_s']:.2f} ({t['p50']:.0f}/{t['p95']:.0f})"
                           + ("" if t["ok"] == t["answers"] else f" {t['outcomes']}")
                           for t in r["throughput"].values())
        lines.append(f"| {r['layout']} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from colorize import DEFAULT_CHECKPOINT

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--sizes", type=float, nargs="+", default=[0.25, 1, 12], help="megapixels")
    p.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "bench" / "kodak24" / "kodim23.jpg")
    p.add_argument("--layouts", nargs="+", default=["1x2", "2x1"], help="model-service WORKERSxTHREADS")
    p.add_argument("--web-workers", type=int, default=1)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--latency-requests", type=int, default=20, help="per size (a third of it for > 2 MP)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per throughput run (at most 120)")
    p.add_argument("--max-requests", type=int, default=500, help="answers per throughput run (at most 2000)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = p.parse_args(argv)
    args.duration, args.max_requests = min(args.duration, 120.0), min(args.max_requests, 2000)
    if not args.checkpoint.exists():
        raise SystemExit(f"no checkpoint at {args.checkpoint}")
    info = print_machine()
    info["load_average_before"] = os.getloadavg()[0]
    photos = {size: make_photo(size, args.source) for size in sorted(args.sizes)}
    layouts = [run_layout(args, layout, photos) for layout in args.layouts]
    info["load_average_after"] = os.getloadavg()[0]
    report = {"machine": info, "model": str(args.checkpoint), "web_workers": args.web_workers,
              "render_size": recommended_render_size(read_metadata(args.checkpoint)),
              "sizes": [f"{s:g}" for s in sorted(args.sizes)], "duration_s": args.duration, "layouts": layouts}
    save_results(args.out, "service", report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
