"""bf16 training on a CPU: a bf16 replica of the model runs the step, the fp32 model stays the master.

On CPUs with AMX-bf16 the convolutions run several times faster in bf16 than in fp32, but autocast
pays for it: every step it casts each weight to bf16 and each weight gradient back, and it runs the
bilinear up-sampling in fp32, so the decoder's concatenations and convolutions convert activations back
and forth (benchmarks/RESULTS.md, *Training throughput*). Here the convolution and linear weights live in
bf16 in a replica that the whole forward and backward pass runs in; normalisation layers are the very
same modules in both (fp32 parameters and running statistics, read by bf16 activations), and so are
depthwise convolutions, run in fp32 between casts (their bf16 backward pass is slow). After the
backward pass the replica's gradients are copied into the master's fp32 gradients, the optimiser steps
the master as always, and the new weights are copied back. Checkpoints, validation and resumption see
only the fp32 master.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import torch
from torch import nn

from colorize.engine import BF16_CPU_FLAGS, cpu_flags, resolve_device

_LOW_PRECISION = (nn.Conv1d, nn.Conv2d, nn.Linear)


def bf16_supported() -> bool:
    """True where this CPU has bf16 matrix units (AMX) or AVX-512 bf16 instructions."""
    return bool(cpu_flags() & BF16_CPU_FLAGS)


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def is_depthwise(module: nn.Module) -> bool:
    """A depthwise convolution: one filter per input channel (the replica keeps these in fp32)."""
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


class _Fp32Island(nn.Module):
    """A master's fp32 module run inside the bf16 replica: bf16 activations in, fp32 inside, bf16 out.

    Depthwise convolutions stay in fp32: oneDNN's bf16 depthwise backward pass runs 5-20x slower than its
    fp32 one (benchmarks/RESULTS.md), and these layers are a small share of the FLOPs anyway."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.float()).to(x.dtype)


class Bf16Replica:
    """The bf16 copy of ``master`` that a CPU training step runs (``net``), kept in step with the master."""

    def __init__(self, master: nn.Module, fp32_depthwise: bool = True):
        """``fp32_depthwise=False`` runs depthwise convolutions in bf16 too (slower; for the benchmark)."""
        self.net = copy.deepcopy(master)
        islands: list[str] = []
        for name, module in master.named_modules():
            if any(name.startswith(f"{island}.") for island in islands):
                continue  # inside a depthwise container, which is shared whole
            leaf = next(module.children(), None) is None
            parent, _, attr = name.rpartition(".")
            if name and fp32_depthwise and is_depthwise(module):
                islands.append(name)  # some are containers (a convolution with its own padding)
                shared_as = _Fp32Island(module)
            elif name and leaf and _has_state(module) and not isinstance(module, _LOW_PRECISION):
                shared_as = module
            else:
                continue
            setattr(self.net.get_submodule(parent) if parent else self.net, attr, shared_as)  # shared, fp32
        shared = {id(m) for m in master.modules()}
        for module in self.net.modules():
            if id(module) in shared:
                continue
            if isinstance(module, _LOW_PRECISION):
                module.to(torch.bfloat16)  # keeps each weight's memory format (channels_last)
            else:
                # a container's own constants (an encoder's input mean and std) would turn bf16 activations
                # back into fp32
                for key, buf in module.named_buffers(recurse=False):
                    if buf.is_floating_point():
                        setattr(module, key, buf.to(torch.bfloat16))
        pairs = [(m, r) for m, r in zip(master.parameters(), self.net.parameters(), strict=True) if m is not r]
        self._master = [m for m, _ in pairs]
        self._replica = [r for _, r in pairs]
        self._grads: list[torch.Tensor] | None = None  # fp32 gradient buffers, reused every step

    def input(self, lightness: torch.Tensor) -> torch.Tensor:
        """The network's input in the replica's precision."""
        return lightness.to(torch.bfloat16)

    @torch.no_grad()
    def pull(self) -> None:
        """Copy the master's weights into the replica (after an optimiser step, a resume, a load)."""
        torch._foreach_copy_(self._replica, self._master)

    @torch.no_grad()
    def push_grads(self) -> None:
        """Hand the replica's bf16 gradients to the master as fp32 gradients, and clear the replica's."""
        if self._grads is None:
            self._grads = [torch.zeros_like(m) for m in self._master]
        live = [(buf, m, r.grad) for buf, m, r in zip(self._grads, self._master, self._replica, strict=True)
                if r.grad is not None]
        if live:
            torch._foreach_copy_([b for b, _, _ in live], [g for _, _, g in live])
        for buf, m, _ in live:
            m.grad = buf
        for r in self._replica:
            r.grad = None


def timed_precision(cfg, make_trainer, warm: int = 2, timed: int = 4):
    """``cfg`` with the fastest precision on this machine where it asks for ``auto`` on a CPU: a few training
    steps of each candidate (fp32, and the bf16 replica where the CPU has bf16 units; channels_last on and
    off) are timed on synthetic crops and the fastest is kept, since "faster" precision can be slower on a
    CPU without AMX. What was measured is printed and written to the run's folder as precision.json."""
    if cfg.precision != "auto" or resolve_device(cfg.device) != "cpu":
        return cfg
    if cfg.max_steps is not None and cfg.max_steps < 100:  # the timing (~25 steps) would cost more than it saves
        return cfg
    candidates = [(p, cl) for p in ("fp32", "bf16") if p == "fp32" or bf16_supported() for cl in (False, True)]
    batch = torch.randint(0, 256, (cfg.batch_size, 3, cfg.crop_size, cfg.crop_size), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    rows = []
    for precision, channels_last in candidates:
        trainer = make_trainer(dataclasses.replace(cfg, precision=precision, channels_last=channels_last,
                                                   compile=False), data=False)
        for _ in range(warm):
            trainer.train_step(batch)
        start = time.perf_counter()
        for _ in range(timed):
            trainer.train_step(batch)
        rate = timed * cfg.batch_size / (time.perf_counter() - start)
        rows.append({"precision": precision, "channels_last": channels_last, "images_per_s": round(rate, 2)})
        print(f"precision auto: {precision}{' + channels_last' if channels_last else ''}: {rate:.1f} images/s",
              flush=True)
        del trainer
    best = max(rows, key=lambda r: r["images_per_s"])
    print(f"precision auto: training in {best['precision']}, channels_last {best['channels_last']}", flush=True)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "precision.json").write_text(json.dumps({"chosen": best, "measured": rows, "cpu": cpu_model()},
                                                   indent=1) + "\n")
    return dataclasses.replace(cfg, precision=best["precision"], channels_last=best["channels_last"])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"
