"""The machine a benchmark ran on, printed first and stored with every result; and what the CPU and GPU
benchmarks share: the model's arithmetic and a latency timer (torch imported only where used, so that
benchmarks.load runs without it, and nothing from the services, so that benchmarks.gpu runs without them)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), without importing torch."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def save_results(out: Path, name: str, report: dict, text: str) -> None:
    """Write ``out/name.json`` and ``out/name.md`` and print the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{name}.md").write_text(text)
    print(text)


def machine_info() -> dict:
    import torch

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_machine(info: dict | None = None) -> dict:
    info = info or machine_info()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    return info


def model_flops(model, size: int) -> int:
    """FLOPs of one forward pass at size x size (torch.utils.flop_counter: 2 per multiply-add)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    x = torch.rand(1, 1, size, size, device=device) * 100
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return counter.get_total_flops()


def latency_ms(forward: Callable[[], object], runs: int) -> float:
    """Median wall-clock time in ms of ``runs`` calls after 3 warm-up calls."""
    times = []
    for i in range(runs + 3):
        start = time.perf_counter()
        forward()
        if i >= 3:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
