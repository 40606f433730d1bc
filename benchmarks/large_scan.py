"""A 50-megapixel 16-bit greyscale TIFF scan through both services (web app -> model service), on 127.0.0.1.

    python -m benchmarks.large_scan [--checkpoint models/colorizer.safetensors] [--megapixels 50]
        [--compressions raw tiff_lzw] [--formats auto jpeg] [--requests 3]

Makes the scan from a photo of ../shared/data/oldphotos, enlarged to the size (bicubic, in 32-bit float, then
16 bits: a smooth 16-bit scan, not 256 levels), saves it as an uncompressed and an LZW TIFF with 1,200 dpi,
starts both services under gunicorn as in production (one model worker, `gunicorn -c <service>/gunicorn.conf.py`)
and posts the scan as the raw body (`curl --data-binary @scan.tif -H 'Content-Type: image/tiff'`) once to warm
up, then --requests times for each compression and output format: wall time from the first byte sent to the
last byte received, the answer's size and bit depth, and the peak resident memory (VmHWM) of the model worker
and of the web app's workers after all of them. Writes benchmarks/out/large_scan.{md,json}. Nothing is
asserted; only 127.0.0.1 is loaded. The issue's targets: <= 5 s end to end, <= 2 GB per model worker.
"""

from __future__ import annotations

import argparse
import io
import secrets
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from benchmarks.machine import print_machine, save_results
from benchmarks.processes import child_pids, gunicorn
from benchmarks.service import peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "oldphotos" / "Detroit circa 1915.jpg"


def make_scan(megapixels: float, source: Path = SOURCE) -> np.ndarray:
    """A 16-bit grey "scan" (H, W) of about ``megapixels``, from a photo enlarged in float."""
    with Image.open(source) as photo:
        grey = photo.convert("F")
    aspect = grey.width / grey.height
    height = round((megapixels * 1e6 / aspect) ** 0.5)
    width = round(height * aspect)
    big = np.asarray(grey.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    return np.clip(big * (65535.0 / 255.0), 0, 65535).astype(np.uint16)


def tiff_bytes(scan: np.ndarray, compression: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(scan).save(buffer, "TIFF", compression=compression, dpi=(1200, 1200))
    return buffer.getvalue()


def post(session: requests.Session, url: str, body: bytes) -> tuple[float, requests.Response]:
    start = time.perf_counter()
    response = session.post(url, data=body, headers={"Content-Type": "image/tiff"}, timeout=300)
    _ = response.content
    return time.perf_counter() - start, response


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "colorizer.safetensors")
    p.add_argument("--megapixels", type=float, default=50.0)
    p.add_argument("--compressions", nargs="+", default=["raw", "tiff_lzw"])
    p.add_argument("--formats", nargs="+", default=["auto", "jpeg"])
    p.add_argument("--requests", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = p.parse_args(argv)
    machine = print_machine()
    scan = make_scan(args.megapixels)
    bodies = {c: tiff_bytes(scan, c) for c in args.compressions}
    height, width = scan.shape
    print(f"scan: {width} x {height} = {width * height / 1e6:.1f} MP, 16-bit grey; "
          + ", ".join(f"{c} {len(b) / 1e6:.0f} MB" for c, b in bodies.items()))
    del scan
    logs = Path(tempfile.mkdtemp(prefix="colorize-large-"))
    rows = []
    with ExitStack() as stack:
        model_url, model = stack.enter_context(gunicorn(
            "model_service", {"MODEL_CHECKPOINT": str(args.checkpoint.resolve()), "WEB_CONCURRENCY": "1"}, logs))
        web_url, web = stack.enter_context(gunicorn(
            "middleware", {"MODEL_SERVICE_URL": model_url, "SECRET_KEY": secrets.token_hex(16)}, logs))
        with requests.Session() as session:
            post(session, f"{web_url}/api/colorize", bodies[args.compressions[0]])  # warm-up
            for compression, body in bodies.items():
                for fmt in args.formats:
                    url = f"{web_url}/api/colorize" + ("" if fmt == "auto" else f"?format={fmt}")
                    seconds, answer = [], None
                    for _ in range(args.requests):
                        elapsed, answer = post(session, url, body)
                        answer.raise_for_status()
                        seconds.append(elapsed)
                    row = {"compression": compression, "upload_mb": len(body) / 1e6, "format": fmt,
                           "answer_type": answer.headers["Content-Type"],
                           "answer_bits": answer.headers.get("X-Bit-Depth"),
                           "answer_mb": len(answer.content) / 1e6, "seconds": seconds,
                           "p50_s": statistics.median(seconds), "server_timing": answer.headers.get("Server-Timing")}
                    rows.append(row)
                    print(f"{compression} ({row['upload_mb']:.0f} MB) -> {fmt}: {row['answer_type']}, "
                          f"{row['answer_bits']}-bit, {row['answer_mb']:.0f} MB; p50 {row['p50_s']:.2f} s "
                          f"(all: {', '.join(f'{s:.2f}' for s in seconds)}); {row['server_timing']}")
        model_rss = [peak_rss_mib(pid) for pid in child_pids(model.pid)]
        web_rss = [peak_rss_mib(pid) for pid in child_pids(web.pid)]
    print(f"peak RSS: model worker {model_rss} MiB, web workers {web_rss} MiB")
    report = {"machine": machine, "megapixels": width * height / 1e6, "size": [width, height],
              "checkpoint": args.checkpoint.name, "rows": rows, "model_worker_peak_rss_mib": model_rss,
              "web_worker_peak_rss_mib": web_rss}
    lines = [f"{width} x {height} ({width * height / 1e6:.1f} MP) 16-bit grey TIFF, {args.checkpoint.name}, "
             f"1 model worker; p50 of {args.requests} after a warm-up", "",
             "| upload | MB | format | answer | MB | p50 s |", "|---|---:|---|---|---:|---:|"]
    lines += [f"| {r['compression']} | {r['upload_mb']:.0f} | {r['format']} | {r['answer_type']}, "
              f"{r['answer_bits']}-bit | {r['answer_mb']:.0f} | {r['p50_s']:.2f} |" for r in rows]
    lines += ["", f"Peak RSS: model worker {', '.join(f'{x:.0f}' for x in model_rss if x)} MiB; web workers "
              f"{', '.join(f'{x:.0f}' for x in web_rss if x)} MiB."]
    save_results(args.out, "large_scan", report, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
