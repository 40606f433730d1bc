"""``python -m model_service.placeholder [--fail]``: random-weight stand-ins for the shipped checkpoints
(colorize.SHIPPED_CHECKPOINTS) that are missing, so that an image built without the weights (CI, a fork
without them) still starts: the service refuses to start with a checkpoint missing. Their colours mean
nothing (the head is random rather than zero, so that they show) and GET /v1/models says so. ``--fail``:
exit 1, naming the missing files, instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PLACEHOLDER_DATA = "none: random weights made at image build (the checkpoint was not in models/)"


def write_placeholders(paths: list[Path], arch: str = "unet_resnet34") -> list[Path]:
    """Write a random-weight ``arch`` at each path that does not exist; return those written.

    Each is named after its file ("model_name" = the stem), as two of one architecture would clash."""
    import torch

    from colorize.checkpoint import save_model
    from colorize.models import create_model

    written = []
    for seed, path in enumerate(paths):
        if path.is_file():
            continue
        torch.manual_seed(seed)
        model = create_model(arch)
        torch.nn.init.normal_(model.head.weight, 0.0, 0.05)
        torch.nn.init.uniform_(model.head.bias, -0.2, 0.2)
        save_model(model, path, {"model_name": path.stem, "training": {"data": PLACEHOLDER_DATA}},
                   dtype=torch.float16)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    from colorize import SHIPPED_CHECKPOINTS

    parser = argparse.ArgumentParser(prog="python -m model_service.placeholder", description=__doc__)
    parser.add_argument("--fail", action="store_true", help="exit 1 if a shipped checkpoint is missing")
    args = parser.parse_args(argv)
    missing = [p for p in SHIPPED_CHECKPOINTS if not p.is_file()]
    if missing and args.fail:
        print(f"no {', '.join(map(str, missing))} to ship", file=sys.stderr)
        return 1
    for path in write_placeholders(missing):
        print(f"WARNING: no {path}: the image gets random weights there", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
