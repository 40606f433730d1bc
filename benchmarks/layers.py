"""Where the service's forward pass spends its time, layer by layer, against the compute floor.

    python -m benchmarks.layers [--checkpoint models/colorizer.safetensors] [--size 256] [--rounds 8]

benchmarks.model says how far the forward pass is from the floor (FLOPs / the machine's best dense
rate); this says where that distance comes from. The network is compiled as the service compiles it
(OpenVINO, bf16, the service's thread count) with OpenVINO's per-layer timers on, and each executed
layer's time is grouped by part (encoder, decoder), kind (convolution, up-sampling, other) and the
feature map's scale. A convolution's FLOPs come from its shapes (2 x output elements x input channels
x kernel area). The best bf16 probe of benchmarks.model is run between the rounds, so each group's
rate is also a fraction of the rate measured beside it, and "excess" is the time a group takes beyond
its FLOPs at that rate: the excesses add up to the forward pass's distance from the floor.
Writes benchmarks/out/layers.{md,json}.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from benchmarks.machine import print_machine, save_results
from benchmarks.model import floor_probes, sustained_rate
from colorize import DEFAULT_CHECKPOINT
from colorize.checkpoint import load_model
from colorize.engine import colorizer_for, openvino_available


def _conv_flops(op) -> int:
    """2 x output elements x input channels x kernel area of an executed Convolution node."""
    out = list(op.output(0).get_partial_shape().to_shape())
    cin = op.input(0).get_partial_shape().to_shape()[1]
    weights = list(op.input(1).get_partial_shape().to_shape())
    return 2 * int(np.prod(out)) * cin * weights[-1] * weights[-2]


def layer_groups(compiled, size: int) -> dict[str, dict]:
    """Executed node name -> {group, flops}, from the compiled network's runtime graph."""
    nodes, stage = {}, "encoder"
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = str(info["layerType"].astype(str))
        name = op.get_friendly_name()
        if kind == "Interpolate":
            stage = "decoder"  # the first up-sampling ends the encoder
        shape = op.output(0).get_partial_shape()
        scale = size // shape.to_shape()[2] if shape.rank.get_length() == 4 else 0
        where = f"1/{scale} ({size // scale}²)" if scale else "-"
        if kind == "Convolution":
            head = ".head/" in name
            group = f"{stage}: {'1x1 head' if head else 'convolutions'} at {where}"
            nodes[name] = {"group": group, "flops": _conv_flops(op)}
        elif kind == "Interpolate":
            nodes[name] = {"group": f"decoder: up-sampling to {where}", "flops": 0}
        else:
            nodes[name] = {"group": f"{stage}: other ({kind})", "flops": 0}
    return nodes


def profile(compiled, x: np.ndarray, probe, rounds: int, runs: int) -> tuple[dict, list, list]:
    """Per node: total seconds over all timed runs; the wall time of each run; the probe's rates."""
    request = compiled.create_infer_request()
    for _ in range(5):
        request.infer([x])
    per_node, walls, rates = defaultdict(float), [], [sustained_rate(probe, 1.0)]
    for _ in range(rounds):
        for _ in range(runs):
            start = time.perf_counter()
            request.infer([x])
            walls.append(time.perf_counter() - start)
            for p in request.profiling_info:
                per_node[p.node_name] += p.real_time.total_seconds()
        rates.append(sustained_rate(probe, 1.0))
    return per_node, walls, rates


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--size", type=int, default=256, help="render size (square input)")
    p.add_argument("--rounds", type=int, default=8, help="rounds of --runs forward passes between probes")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = p.parse_args()
    info = print_machine()
    if not openvino_available():
        raise SystemExit("benchmarks.layers profiles the OpenVINO path; OpenVINO is not installed")
    model, _ = load_model(args.checkpoint)
    probes = floor_probes("bf16")
    probe_rates = {name: sustained_rate(probe) for name, probe in probes.items()}
    best = max(probe_rates, key=probe_rates.get)
    print("bf16 probes (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in probe_rates.items()))

    colorizer = colorizer_for(model, precision="bf16", runtime="openvino", threads=torch.get_num_threads())
    shape = (1, 1, args.size, args.size)
    compiled = colorizer.compile_shape("bf16", shape, profile=True)
    x = np.full(shape, 50.0, np.float32)
    x[..., : args.size // 2, :] = 30.0  # any input costs the same; not all one value
    per_node, walls, rates = profile(compiled, x, probes[best], args.rounds, args.runs)
    n = args.rounds * args.runs
    rate = statistics.median(rates) * 1e9  # FLOP/s

    groups = defaultdict(lambda: {"ms": 0.0, "flops": 0})
    nodes = layer_groups(compiled, args.size)
    for node in nodes.values():
        groups[node["group"]]["flops"] += node["flops"]
    for name, seconds in per_node.items():  # a node the graph does not list (none seen) still counts
        groups[nodes.get(name, {"group": "unlisted layers"})["group"]]["ms"] += seconds / n * 1000
    total_ms = sum(g["ms"] for g in groups.values())
    total_flops = sum(g["flops"] for g in groups.values())
    wall_ms = statistics.median(walls) * 1000
    small = [k for k, g in groups.items() if g["ms"] < 0.005 * total_ms]
    if len(small) > 1:  # layers under 0.5% of the time each, in one row
        rest = {"ms": sum(groups[k]["ms"] for k in small), "flops": sum(groups[k]["flops"] for k in small)}
        groups = {k: g for k, g in groups.items() if k not in small} | {"everything else": rest}
    rows = []
    for group, g in sorted(groups.items(), key=lambda kv: -kv[1]["ms"]):
        floor_ms = g["flops"] / rate * 1000
        rows.append({"group": group, "ms": g["ms"], "time_share": g["ms"] / total_ms, "gflops": g["flops"] / 1e9,
                     "flops_share": g["flops"] / total_flops, "gflop_s": g["flops"] / g["ms"] * 1e-6 if g["ms"] else 0,
                     "of_probe_rate": floor_ms / g["ms"] if g["ms"] else 0, "excess_ms": g["ms"] - floor_ms})
    floor_ms = total_flops / rate * 1000
    report = {"machine": info, "model": str(args.checkpoint), "size": args.size, "runs": n,
              "probe": best, "probe_gflop_s": rates, "wall_ms_median": wall_ms,
              "layers_ms": total_ms, "gflops": total_flops / 1e9, "floor_ms": floor_ms, "groups": rows}
    lines = [f"Model: {args.checkpoint}, OpenVINO bf16 as the service compiles it, {args.size}² input, "
             f"{n} profiled runs. Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}.", "",
             f"Median forward {wall_ms:.1f} ms (the layers' timers add up to {total_ms:.1f} ms); "
             f"{total_flops / 1e9:.1f} GFLOPs in convolutions; the best bf16 probe ({best}) ran at "
             f"{min(rates):.0f}-{max(rates):.0f} GFLOP/s between the rounds (median {rate / 1e9:.0f}), "
             f"a floor of {floor_ms:.1f} ms: the layers take {total_ms / floor_ms:.2f}x the floor.", "",
             "| part of the network | ms | share of time | GFLOPs | share of FLOPs | GFLOP/s | of the probe's rate "
             "| excess ms |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['group']} | {r['ms']:.2f} | {100 * r['time_share']:.1f}% | {r['gflops']:.2f} | "
              f"{100 * r['flops_share']:.1f}% | {r['gflop_s']:.0f} | {100 * r['of_probe_rate']:.0f}% | "
              f"{r['excess_ms']:.2f} |" for r in rows]
    save_results(args.out, "layers", report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
