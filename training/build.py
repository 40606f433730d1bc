"""What a run trains, built from its config: its precision, the model (from ``init_from``, with a hint decoder,
with a frozen encoder), compiled or not, its optimiser and schedule, and the optional GAN critic."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from colorize.checkpoint import load_model
from colorize.engine import resolve_device
from colorize.models import UNetColorizer, create_model, with_hints
from training.config import ConfigError, TrainConfig
from training.critic import PatchCritic
from training.precision import Bf16Replica, bf16_supported
from training.schedule import lr_lambda


def choose_device(cfg: TrainConfig, local_rank: int, world: int) -> torch.device:
    """The config's device; under torchrun on CUDA, this rank's GPU."""
    device = resolve_device(cfg.device)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: autotune each convolution once
    if device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    return torch.device(device)


def choose_precision(cfg: TrainConfig, device: torch.device) -> str:
    """The precision a run trains in: ``auto`` is bf16 on CUDA, fp32 elsewhere; bf16 on a CPU without bf16
    units falls back to fp32 (with a message)."""
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if device.type == "cuda" else "fp32")
    if precision == "bf16" and device.type == "cpu" and not bf16_supported():
        print("training.train: this CPU has no bf16 units (AMX, AVX-512 bf16); training in fp32", flush=True)
        precision = "fp32"
    return precision


def compile_model(net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """torch.compile(net), or net itself (with a message) on a CPU without the C++ compiler Inductor needs."""
    if device.type == "cpu":
        from torch._inductor import config as inductor

        named = inductor.cpp.cxx if isinstance(inductor.cpp.cxx, (tuple, list)) else (inductor.cpp.cxx,)
        if not any(shutil.which(c) for c in [c for c in named if c] + ["g++", "c++", "clang++"]):
            print("training.train: compile: no C++ compiler found (Inductor needs one on the CPU, e.g. Debian's "
                  "g++); training uncompiled", flush=True)
            return net
    return torch.compile(net)


def build_model(cfg: TrainConfig, device: torch.device | None = None) -> torch.nn.Module:
    """The network the config names, on ``device`` in its memory format: fresh, or with ``init_from``'s weights
    (fine-tuning), or grown a distribution head (``prior``)."""
    model = _model_from_config(cfg).to(device or "cpu")
    return model.to(memory_format=torch.channels_last) if cfg.channels_last else model


def _model_from_config(cfg: TrainConfig) -> torch.nn.Module:
    if cfg.hints and not cfg.init_from:
        raise ConfigError("hints: true trains only the hint decoder: init_from must name a trained model")
    if cfg.prior:
        return distribution_model(cfg)
    model = create_model(cfg.arch, pretrained=cfg.pretrained, hints=cfg.hints)
    if cfg.init_from:
        start, meta = load_model(cfg.init_from)
        if meta["architecture"]["name"] != cfg.arch:
            raise ConfigError(f"init_from: {cfg.init_from} holds {meta['architecture']['name']}, not {cfg.arch}")
        if cfg.hints:
            # an automatic model gains a hint decoder made from its own; the hint decoder trains under
            # the chroma gain the automatic one answers with
            start = with_hints(start)
            model.config = start.config
        elif start.config.hints:
            raise ConfigError(f"init_from: {cfg.init_from} takes hints; set hints: true")
        model.load_state_dict(start.state_dict())  # weights only: optimiser and schedule start afresh
    if cfg.freeze_encoder:
        model.encoder.requires_grad_(False)
        model.train()  # frozen parts in eval mode: their BatchNorm statistics stay put
    return model


def read_prior(path: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The bin centres (Q, 2), class-rebalancing weights (Q,) and empirical prior (Q,) of a prior file
    (scripts.make_ab_prior)."""
    prior = json.loads(Path(path).read_text())
    return torch.tensor(prior["centres"]), torch.tensor(prior["weights"]), torch.tensor(prior["prior"])


def distribution_model(cfg: TrainConfig) -> torch.nn.Module:
    """init_from's model with a distribution head over the prior's bins. The decoder and the new head train;
    the encoder, the regression head and a hint decoder (which reads the same encoder taps) stay as they were."""
    start, meta = load_model(cfg.init_from)
    if meta["architecture"]["name"] != cfg.arch:
        raise ConfigError(f"init_from: {cfg.init_from} holds {meta['architecture']['name']}, not {cfg.arch}")
    centres, weights, prior = read_prior(cfg.prior)
    model = UNetColorizer(dataclasses.replace(start.config, colour_bins=len(centres)))
    missing, unexpected = model.load_state_dict(start.state_dict(), strict=False)
    if unexpected or any(not k.startswith("class_head.") for k in missing):
        raise ConfigError(f"init_from: {cfg.init_from} does not fit {cfg.arch}: {unexpected or missing}")
    with torch.no_grad():  # the head starts at the prior: its logits' bias is the prior's log
        model.class_head.centres.copy_(centres)
        model.class_head.log_weights.copy_(weights.log())  # divided out when decoding
        last = model.class_head.conv[-1]
        last.weight.mul_(0.1)
        last.bias.copy_(prior.clamp_min(1e-6).log())
    model.requires_grad_(False)
    for part in (model.blocks, model.class_head):
        part.requires_grad_(True)
    return model.train()


def build_net(model: torch.nn.Module, cfg: TrainConfig, precision: str, device: torch.device,
              world: int) -> tuple[Bf16Replica | None, torch.nn.Module]:
    """(the bf16 replica or None, the module a step runs). On a CPU, bf16 runs a bf16 replica of the model
    (training.precision); on CUDA, autocast. Under torchrun the module is wrapped in DDP."""
    replica = Bf16Replica(model) if precision == "bf16" and device.type == "cpu" else None
    if replica and world > 1:
        raise ConfigError("precision bf16 on a CPU trains in one process; use fp32 or bf16-autocast with torchrun")
    net = replica.net if replica else model
    if world > 1:
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile:
        net = compile_model(net, device)
    return replica, net


def build_optimizers(cfg: TrainConfig, model: torch.nn.Module, device: torch.device,
                     total_steps: Callable[[], int]) -> tuple:
    """(optimiser, its LambdaLR schedule, critic, critic's optimiser); the critic and its optimiser are None
    without ``gan``. ``total_steps`` is read at every step: a time budget moves the schedule's end."""
    # the fused AdamW kernel: one pass over each tensor instead of a dozen (measured on the CPU; the GPU
    # path keeps PyTorch's default)
    fused = True if device.type == "cpu" else None
    trainable = [p for p in model.parameters() if p.requires_grad]  # a hint model: its hint decoder
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, cfg.warmup_steps, total_steps()))
    critic = opt_c = None
    if cfg.gan:
        critic = PatchCritic().to(device)
        opt_c = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, betas=(0.5, 0.999))
    return opt, sched, critic, opt_c
