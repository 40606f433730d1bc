"""What the CPU and GPU benchmarks share: the model's arithmetic and a latency timer (importing nothing
from the services, so that benchmarks.gpu runs on a machine without them)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def model_flops(model: torch.nn.Module, size: int) -> int:
    """FLOPs of one forward pass at size x size (torch.utils.flop_counter: 2 per multiply-add)."""
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
