"""Average the weights of several checkpoints of one training run (stochastic weight averaging), or of
fine-tunings that started from one checkpoint (a weight-space interpolation, a "model soup").

    python -m training.shipping.average --run runs/shipped --checkpoints runs/shipped/snapshots/step_*.safetensors \
        --out runs/shipped/average.safetensors
    python -m training.shipping.average --run runs/lite0_cpu2 --checkpoints runs/lite0_v020.safetensors \
        runs/lite0_cpu2/best.safetensors --weights 0.5 0.5 --out runs/soup/best.safetensors

Checkpoints taken along one run (``snapshots: true`` in the config keeps one per validation) lie in one
basin of the loss; their mean usually lies nearer its centre than any of them (Izmailov et al., 2018,
"Averaging Weights Leads to Wider Optima and Better Generalization"). The BatchNorm statistics of the mean
are not the mean of the statistics, so they are measured again on ``--bn-batches`` batches of the run's
own training crops. The result is validated on the run's held-out crops exactly as ``training.train``
validates (the same numbers as its ``val_log.csv``) and written with that in its metadata, ready for
``python -m evaluation.calibrate --checkpoint``.

Between a model and a fine-tuning of it, the interpolated weights often generalise better under a shift of
the data than either end (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models"; "Model soups"):
``--weights`` gives each checkpoint its share.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from colorize import lab
from colorize.checkpoint import CheckpointError, load_model, save_model
from training.config import build_config
from training.data import ColourImages, ResumableSampler, name_weights, run_split
from training.validate import validate


def shares(weights: list[float] | None, n: int) -> list[float]:
    """Each of ``n`` checkpoints' share of the mean: ``weights`` normalised to sum to 1 (default: equal)."""
    if weights is None:
        weights = [1.0] * n
    if len(weights) != n:
        raise ValueError(f"{len(weights)} weights for {n} checkpoints")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("the weights must be non-negative and not all zero")
    return [w / sum(weights) for w in weights]


def average_state(states: list[dict[str, torch.Tensor]],
                  weights: list[float] | None = None) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point tensors, weighted by ``weights`` (``shares``); integer ones
    (BN's batch counters) from the first."""
    if not states:
        raise ValueError("nothing to average")
    share = torch.tensor(shares(weights, len(states)), dtype=torch.float64)
    keys = set(states[0])
    for s in states[1:]:
        if set(s) != keys:
            raise ValueError("the checkpoints do not have the same tensors (different architectures?)")
    out = {}
    for k, v in states[0].items():
        if v.is_floating_point():
            stacked = torch.stack([s[k].double() for s in states])
            out[k] = torch.tensordot(share, stacked, dims=1).to(torch.float32)
        else:
            out[k] = v.clone()
    return out


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, crops, batches: int, batch_size: int, order: list | None = None) -> None:
    """Replace every BatchNorm's running mean and variance by their average over ``batches`` batches of
    RGB uint8 crops (train mode, no gradient), as torch.optim.swa_utils.update_bn does for plain inputs.
    ``order``: the dataset items to draw, in order (default: the first ones; pass a shuffled order, as
    training draws them, or the statistics are those of whatever the file names sort first)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or batches <= 0:
        return
    momenta = {m: m.momentum for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    was_training = model.training
    model.train()
    order = list(range(len(crops))) if order is None else list(order)
    n = min(len(order), batches * batch_size)
    loader = DataLoader(Subset(crops, order[:n]), batch_size=batch_size, drop_last=n >= batch_size)
    for batch in loader:
        model(lab.rgb_to_lab(batch.float() / 255.0)[:, :1])
    for m in norms:
        m.momentum = momenta[m]
    model.train(was_training)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Average checkpoints of one run; re-estimate BatchNorm; validate.")
    p.add_argument("--run", type=Path, required=True, help="the training run folder (its config.yaml)")
    p.add_argument("--checkpoints", type=Path, nargs="+", required=True, help="safetensors checkpoints")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--weights", type=float, nargs="+", help="each checkpoint's share (default: equal)")
    p.add_argument("--bn-batches", type=int, default=100, help="training batches for the BatchNorm statistics")
    args = p.parse_args(argv)
    cfg = build_config(args.run / "config.yaml", {})
    try:
        loaded = [load_model(c) for c in args.checkpoints]
    except CheckpointError as exc:
        print(f"training.shipping.average: {exc}", file=sys.stderr)
        return 2
    names = {m.config.name for m, _ in loaded}
    if len(names) != 1:
        print(f"training.shipping.average: the checkpoints are of different architectures: {sorted(names)}",
              file=sys.stderr)
        return 2
    model, meta = loaded[0]
    try:
        model.load_state_dict(average_state([m.state_dict() for m, _ in loaded], args.weights))
    except ValueError as exc:
        print(f"training.shipping.average: {exc}", file=sys.stderr)
        return 2
    train_files, val_files = run_split(cfg.data, cfg.val_data, cfg.val_fraction, cfg.seed, cfg.val_split)
    crops = ColourImages(train_files, cfg.crop_size, train=True, seed=cfg.seed + 1)
    # drawn as training draws them: shuffled, with the run's sample_weights
    sampler = ResumableSampler(len(crops), cfg.seed + 1, weights=name_weights(train_files, cfg.sample_weights))
    reestimate_batchnorm(model, crops, args.bn_batches, cfg.batch_size, order=list(sampler))
    model.eval()
    val = ColourImages(val_files[: cfg.val_max_images], cfg.val_crop_size, train=False)
    phase = 2 if cfg.finetune_fraction > 0 else 1
    metrics = validate(model, val, torch.device("cpu"), cfg, phase, contextlib.nullcontext)
    steps = [m.get("training", {}).get("step") for _, m in loaded]
    training = dict(meta.get("training", {}))
    training["averaged"] = {"checkpoints": [str(c) for c in args.checkpoints], "steps": steps,
                            "weights": shares(args.weights, len(loaded)), "bn_batches": args.bn_batches}
    save_model(model, args.out, {"training": training, "metrics": {"validation": metrics}})
    print(json.dumps({"steps": steps, "weights": training["averaged"]["weights"], "validation": metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
