"""The overload curve: the stack under 1, 2, 4 ... 64 clients in turn, a step of --duration seconds each.

    python -m benchmarks.overload --start-services --checkpoint models/colorizer.safetensors --workers 2 \
        --steps 1 2 4 8 16 32 64 --duration 20 --plot docs/overload.png

A row per step: the 200 answers per second, latency (p50/p99 of the 200s and of every answer, 503s
included) and the shares of 503 and 504 answers. Past saturation a service that sheds keeps its latency
bounded and answers 503 with Retry-After at once; one that queues lets latency grow into 504s. The other
options are benchmarks/load.py's (--url, --image, --render-size, --model-env ...). Results:
benchmarks/out/overload.{json,md}. Nothing is asserted. Only 127.0.0.1 / localhost is loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load import (  # noqa: E402
    LOCAL_HOSTS,
    MAX_REQUESTS,
    Load,
    default_image,
    fmt,
    get_args_parser,
    percentiles,
    start_services,
)
from benchmarks.machine import cpu_model, save_results  # noqa: E402


def curve(url: str, body: bytes, args: argparse.Namespace) -> list[dict]:
    """One step of ``args.duration`` seconds per client count in ``args.curve``, on the running services."""
    rows = []
    for clients in args.curve:
        load = Load(url, body, args.raw, args.timeout, MAX_REQUESTS, time.monotonic() + (args.duration or 20),
                    honour_retry_after=args.honour_retry_after)
        wall = load.run(clients)
        answers = max(load.answered(), 1)
        ok, every = percentiles(load.latencies), percentiles(load.every)
        rows.append({"clients": clients, "answers": load.answered(), "ok_per_s": load.outcomes.get("200", 0) / wall,
                     "p50_ok_ms": ok["p50"], "p99_ok_ms": ok["p99"], "p50_ms": every["p50"], "p99_ms": every["p99"],
                     "share_503": load.outcomes.get("503", 0) / answers,
                     "share_504": load.outcomes.get("504", 0) / answers, "outcomes": dict(load.outcomes)})
        print(f"{clients:3d} clients: {rows[-1]['ok_per_s']:.1f} images/s, p99 {fmt(every['p99'])} ms, "
              f"503 {rows[-1]['share_503']:.0%}, outcomes {dict(load.outcomes)}")
    return rows


def curve_markdown(rows: list[dict]) -> str:
    lines = ["| clients | answers | 200/s | p50 / p99 ms (200s) | p50 / p99 ms (all answers) | 503 | 504 | other |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        other = {k: v for k, v in r["outcomes"].items() if k not in ("200", "503", "504")}
        lines.append(f"| {r['clients']} | {r['answers']} | {r['ok_per_s']:.1f} | {fmt(r['p50_ok_ms'])} / "
                     f"{fmt(r['p99_ok_ms'])} | {fmt(r['p50_ms'])} / {fmt(r['p99_ms'])} | {r['share_503']:.0%} | "
                     f"{r['share_504']:.0%} | {', '.join(f'{k}: {v}' for k, v in other.items()) or '-'} |")
    return "\n".join(lines) + "\n"


def plot_curve(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clients = [r["clients"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    left.plot(clients, [r["ok_per_s"] for r in rows], marker="o", label="200 answers/s")
    left.plot(clients, [100 * r["share_503"] for r in rows], marker="s", ls="--", label="503 share, %")
    right.plot(clients, [r["p50_ms"] or 0 for r in rows], marker="o", label="p50, every answer")
    right.plot(clients, [r["p99_ms"] or 0 for r in rows], marker="o", label="p99, every answer")
    right.plot(clients, [r["p99_ok_ms"] or 0 for r in rows], marker=".", ls=":", label="p99 of the 200s")
    for ax, ylabel in ((left, "images/s · %"), (right, "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(clients, [str(c) for c in clients])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = get_args_parser()
    p.description = __doc__
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64], help="client counts")
    p.add_argument("--plot", type=Path, help="a PNG of the curve")
    p.add_argument("--honour-retry-after", action="store_true",
                   help="clients wait what a 503's Retry-After says before they send again (default: at once)")
    args = p.parse_args(argv)
    args.curve, args.name = args.steps, "overload" if args.name == "load" else args.name
    with ExitStack() as stack:
        url, _ = (start_services(args, stack) if args.start_services else (args.url, []))
        if not url or urlsplit(url).hostname not in LOCAL_HOSTS:
            raise SystemExit(f"--url must be a 127.0.0.1 / localhost URL (or use --start-services), got {url!r}")
        if args.render_size:
            url += ("&" if "?" in url else "?") + f"render_size={args.render_size}"
        body = args.image.read_bytes() if args.image else default_image()
        warmup = max(args.steps) if args.warmup is None else args.warmup
        Load(url, body, args.raw, args.timeout, warmup, time.monotonic() + args.timeout).run(min(warmup, 8))
        rows = curve(url, body, args)
    info = (f"{cpu_model()}, {os.cpu_count()} cores; {urlsplit(url).path}; {len(body)} bytes; "
            f"{args.workers} model worker(s); {' '.join(args.model_env) or 'default settings'}; clients "
            + ("wait Retry-After after a 503" if args.honour_retry_after else "send again at once after a 503"))
    save_results(args.out, args.name, {"machine": cpu_model(), "url": url, "workers": args.workers,
                                       "model_env": args.model_env, "curve": rows},
                 f"# Overload curve\n\n{info}\n\n" + curve_markdown(rows))
    if args.plot:
        plot_curve(rows, args.plot, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
