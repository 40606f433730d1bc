"""Full-resolution colorization of 0.25, 1 and 12 MP photos, split into its stages, with peak memory.

    python -m benchmarks.pipeline [--checkpoint models/colorizer.safetensors] [--sizes 0.25 1 12] [--runs 5]

Each size runs in its own process (so its peak memory is its own): a grey JPEG of that many pixels is made
from a bench photo, then decoded, colorized and encoded exactly as the model service does it
(model_service.decode, colorize.pipeline.colorize_upright, the service's PNG and JPEG settings), for the
fp32 eager baseline and for the path the service uses (MODEL_RUNTIME=auto, MODEL_PRECISION=auto: OpenVINO
in bf16 on CPUs with AMX/AVX512-BF16 where OpenVINO is installed).
Stages: decode (bytes -> PIL, EXIF orientation, ICC), preprocess (L at full resolution, down-scale to the
render size), network, postprocess (ab up-sampling onto the full-resolution L, LAB -> RGB, uint8), encode.
Medians of --runs after a warm-up. Peak memory is the process's peak resident set (ru_maxrss): model, torch
and all. Writes benchmarks/out/pipeline.{md,json}. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("decode", "preprocess", "network", "postprocess", "encode")


def make_photo(megapixels: float, source: Path) -> bytes:
    """A grey JPEG (quality 90) of about ``megapixels`` with the source photo's aspect ratio."""
    from PIL import Image

    image = Image.open(source).convert("L")
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def measure_one(args: argparse.Namespace) -> dict:
    """Runs in a child process: one size, one variant (``args.variant``: baseline or service)."""
    import torch

    from colorize.checkpoint import load_model
    from colorize.engine import colorizer_for
    from colorize.models import create_model
    from colorize.pipeline import colorize_upright
    from model_service.api import OUTPUT_FORMATS
    from model_service.decode import load_image, open_image

    torch.set_num_threads(args.threads or torch.get_num_threads())
    data = make_photo(args.child, args.source)
    if args.checkpoint.exists():
        model, _ = load_model(args.checkpoint)
    else:
        model = create_model("unet_resnet34").eval()
    if args.variant == "baseline":
        variants = {"fp32 eager (baseline)": colorizer_for(model)}
    else:  # only built here, so the baseline's process holds no second copy of the network
        # the model service's defaults: MODEL_PRECISION=auto, MODEL_RUNTIME=auto, MODEL_CHANNELS_LAST=true
        service = colorizer_for(model, precision="auto", runtime="auto", channels_last=True,
                                threads=torch.get_num_threads())
        name = ("OpenVINO " if service.runtime == "openvino" else "PyTorch ") + service.precision
        variants = {f"service path ({name}{' + channels_last' if service.channels_last else ''})": service}
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"megapixels": args.child, "jpeg_bytes": len(data), "variants": {}}
    for name, model in variants.items():
        runs = []
        for i in range(args.runs + 1):
            t: dict[str, float] = {}
            start = time.perf_counter()
            image = load_image(open_image(data, 60_000_000))
            t["decode"] = (time.perf_counter() - start) * 1000
            stages: dict[str, float] = {}
            result = colorize_upright(image, model, args.render_size, timings=stages)
            t.update({k.removesuffix("_ms"): v for k, v in stages.items()})
            for fmt in ("png", "jpeg"):
                pil_format, _, options = OUTPUT_FORMATS[fmt]
                start = time.perf_counter()
                buffer = io.BytesIO()
                result.save(buffer, pil_format, **options)
                t[f"encode_{fmt}"] = (time.perf_counter() - start) * 1000
            if i:  # the first run is the warm-up
                runs.append(t)
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out["size"] = list(result.size)
        out["variants"][name] = med
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_after_load_mib"] = rss_loaded / 1024
    return out


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads). "
             f"Model: {report['model']}; render size {report['render_size']}; grey JPEG input (quality 90); "
             f"medians of {report['runs']} runs after one warm-up. Times in ms.", "",
             "| photo | variant | decode | preprocess | network | postprocess | encode PNG | encode JPEG "
             "| total (PNG) | total (JPEG) | peak RSS MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        w, h = r["size"]
        for name, t in r["variants"].items():
            core = t["decode"] + t["preprocess"] + t["network"] + t["postprocess"]
            lines.append(f"| {r['megapixels']:g} MP ({w}x{h}) | {name} | {t['decode']:.0f} | {t['preprocess']:.0f} "
                         f"| {t['network']:.0f} | {t['postprocess']:.0f} | {t['encode_png']:.0f} "
                         f"| {t['encode_jpeg']:.0f} | {core + t['encode_png']:.0f} | {core + t['encode_jpeg']:.0f} "
                         f"| {r['peak_rss_mib'][name]:.0f} |")
    lines += ["", "Each photo size and variant ran in its own process, the service path with the environment "
              "the model service gives itself (colorize.engine.openmp_environment: "
              + (", ".join(f"{k}={v}" for k, v in report["service_environment"].items()) or "nothing to add")
              + "); peak RSS is that "
              "process's, model and all; after loading the model it was "
              + ", ".join(f"{v:.0f}" for r in report["results"] for v in r["rss_after_load_mib"].values()) + " MiB."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from colorize import DEFAULT_CHECKPOINT

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--sizes", type=float, nargs="+", default=[0.25, 1, 12], help="megapixels")
    p.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "bench" / "kodak24" / "kodim23.jpg",
                   help="the photo scaled to each size")
    p.add_argument("--render-size", type=int, default=256)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    p.add_argument("--child", type=float, help=argparse.SUPPRESS)
    p.add_argument("--variant", choices=("baseline", "service"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure_one(args)))
        return 0
    from benchmarks.machine import print_machine, save_results
    from colorize.engine import openmp_environment

    info = print_machine()
    service_env = openmp_environment("auto", "cpu")  # the model service's, with its default MODEL_RUNTIME
    results = []
    for size in args.sizes:
        cmd = [sys.executable, "-m", "benchmarks.pipeline", "--child", str(size), "--checkpoint", str(args.checkpoint),
               "--source", str(args.source), "--render-size", str(args.render_size), "--runs", str(args.runs),
               "--threads", str(args.threads)]
        result = {}
        for variant, env in (("baseline", os.environ), ("service", os.environ | service_env)):
            done = subprocess.run(cmd + ["--variant", variant], check=True, capture_output=True, text=True,
                                  cwd=ROOT, env=env)
            one = json.loads(done.stdout.strip().splitlines()[-1])
            name, times = next(iter(one["variants"].items()))
            result.setdefault("variants", {})[name] = times
            result.setdefault("peak_rss_mib", {})[name] = one["peak_rss_mib"]
            result.setdefault("rss_after_load_mib", {})[name] = one["rss_after_load_mib"]
            result.update({k: one[k] for k in ("megapixels", "jpeg_bytes", "size")})
        results.append(result)
        print(f"{size:g} MP: " + "; ".join(f"{n}: " + ", ".join(f"{k} {v:.0f}" for k, v in t.items())
                                          for n, t in results[-1]["variants"].items())
              + "; peak RSS " + ", ".join(f"{v:.0f}" for v in results[-1]["peak_rss_mib"].values()) + " MiB")
    model = str(args.checkpoint) if args.checkpoint.exists() else "random-weight unet_resnet34"
    report = {"machine": info, "model": model, "render_size": args.render_size, "runs": args.runs,
              "service_environment": service_env, "results": results}
    save_results(args.out, "pipeline", report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
