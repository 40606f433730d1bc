"""How a model does on each source of a run's held-out photos, beside the grey baseline.

    python -m evaluation.source_report --run runs/shipped --checkpoint models/colorizer.safetensors \
        --json models/eval/heldout_sources.json --markdown models/eval/heldout_sources.md

The training folder mixes sources of very different size (21,500 Intel scene photos against a few
hundred to a few thousand of each other kind), so the mean over held-out photos mostly measures one
kind of photo. This groups the held-out photos by source (the file-name prefix before the first
``_``: ``intelscene_000057.jpg`` -> ``intelscene``) and reports per source, for each chroma gain, the PSNR
over the grey baseline and the colourfulness as a fraction of the truth's; then the mean over all
photos and the mean over sources (each source counted once). Gains are absolute: the checkpoint's own
stored gain is replaced by each one in turn. Photos are measured as ``evaluation.calibrate`` measures
them (whole photo, network at ``--render-size``, colour up-sampled).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from colorize.checkpoint import load_model
from evaluation.measure import held_out_files, measure_photos, source_of, summarise, write_report


def report(rows: list[dict], gains: list[float]) -> dict:
    """Per source and overall: n, truth colourfulness, grey PSNR, and per gain PSNR - grey and colour ratio."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[source_of(r["file"])].append(r)

    def line(rs: list[dict]) -> dict:
        table = summarise(rs, gains)
        return {"n": len(rs), "truth_colourfulness": table[0]["truth_colourfulness"],
                "grey_psnr": table[0]["grey_psnr"],
                "gains": {str(t["gain"]): {"psnr_over_grey": t["psnr"] - t["grey_psnr"],
                                           "colour_ratio": t["colourfulness"] / max(t["truth_colourfulness"], 1e-9)}
                          for t in table}}

    sources = {name: line(rs) for name, rs in sorted(groups.items())}
    balanced = {str(g): {k: sum(s["gains"][str(g)][k] for s in sources.values()) / len(sources)
                         for k in ("psnr_over_grey", "colour_ratio")} for g in gains} if sources else {}
    return {"sources": sources, "all": line(rows), "source_mean": balanced}


def markdown(result: dict, gains: list[float]) -> str:
    head = "| source | photos | truth colourfulness | grey PSNR | " + " | ".join(
        f"gain {g}: dB over grey, colour ratio" for g in gains) + " |"
    lines = [head, "|---|---:|---:|---:|" + "---:|" * len(gains)]

    def cells(entry: dict) -> str:
        return " | ".join(f"{entry[str(g)]['psnr_over_grey']:+.2f}, {entry[str(g)]['colour_ratio']:.2f}" for g in gains)

    def row(name: str, s: dict) -> str:
        return f"| {name} | {s['n']} | {s['truth_colourfulness']:.1f} | {s['grey_psnr']:.2f} | {cells(s['gains'])} |"

    lines += [row(name, s) for name, s in result["sources"].items()]
    lines.append(row("**all photos**", result["all"]))
    lines.append(f"| **mean over sources** | {len(result['sources'])} | | | {cells(result['source_mean'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Per-source held-out PSNR over grey and colourfulness, per gain.")
    p.add_argument("--run", type=Path, required=True, help="the training run folder (config.yaml)")
    p.add_argument("--checkpoint", type=Path, help="default: RUN/best.safetensors")
    p.add_argument("--gains", type=float, nargs="+", default=[1.0, 1.2, 1.3, 1.4, 1.5])
    p.add_argument("--limit", type=int, default=100_000, help="held-out photos used (default: all)")
    p.add_argument("--render-size", type=int, default=128)
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    model, _ = load_model(args.checkpoint or args.run / "best.safetensors")
    model.chroma_gain = 1.0
    gains = sorted(args.gains)
    rows = measure_photos(model, held_out_files(args.run, args.limit), gains, args.render_size)
    result = report(rows, gains)
    text = markdown(result, gains)
    print(text, end="")
    write_report(args.json, {"checkpoint": str(args.checkpoint or args.run / "best.safetensors"),
                             "render_size": args.render_size, **result}, args.markdown, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
