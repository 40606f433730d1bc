"""The model's arithmetic, shared by the CPU and GPU benchmarks (importing nothing from the services)."""

from __future__ import annotations

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
