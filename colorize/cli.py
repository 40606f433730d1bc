"""Command line: ``colorize predict INPUT... --out DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def _expand(inputs: list[str]) -> list[Path]:
    """Files as given; folders expanded (recursively) to the images inside."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        else:
            files.append(p)
    return files


def get_parser() -> argparse.ArgumentParser:
    from colorize import DEFAULT_CHECKPOINT
    parser = argparse.ArgumentParser(prog="colorize", description="Colorize black-and-white photos.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="colorize image files (or folders of them)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--out", required=True, type=Path, help="folder for the results")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                       help=f"model weights (default: {DEFAULT_CHECKPOINT})")
    which.add_argument("--model", help="a shipped model by name, e.g. unet_resnet34 (the paper's model)")
    p.add_argument("--render-size", type=int,
                   help="short side, in pixels, at which the network runs (default: the checkpoint's own, "
                        "from its metadata; 256 if it names none)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--format", choices=("png", "jpg"), default="png", help="output format")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="network arithmetic (bf16 is faster on AMX CPUs and GPUs)")
    p.add_argument("--runtime", choices=("torch", "openvino"), default="torch",
                   help="run the network with PyTorch or, on the CPU, OpenVINO (faster; pip install openvino)")
    return parser


def predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from colorize import SHIPPED_CHECKPOINTS
    from colorize.checkpoint import CheckpointError, find_checkpoint
    from colorize.engine import EngineError, load_colorizer
    from colorize.pipeline import colorize, recommended_render_size

    if args.render_size is not None and not 16 <= args.render_size <= 2048:
        print(f"colorize: --render-size must be between 16 and 2048, got {args.render_size}", file=sys.stderr)
        return 2
    try:
        path = find_checkpoint(args.model, SHIPPED_CHECKPOINTS) if args.model else args.checkpoint
        model = load_colorizer(path, device=args.device, precision=args.precision, runtime=args.runtime)
        render_size = args.render_size or recommended_render_size(model.metadata)
    except (CheckpointError, EngineError, ValueError) as exc:
        print(f"colorize: {exc}", file=sys.stderr)
        return 2
    files = _expand(args.inputs)
    if not files:
        print("colorize: no input images found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    bar = tqdm(files, unit="img", desc="colorizing", file=sys.stderr)
    for path in bar:
        try:
            with Image.open(path) as img:
                img.load()
                result = colorize(img, model, render_size=render_size)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            failed += 1
            bar.write(f"skipped {path}: cannot open ({exc.strerror or exc})", file=sys.stderr)
            continue
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
            failed += 1
            bar.write(f"skipped {path}: not a readable image ({exc})", file=sys.stderr)
            continue
        target = args.out / f"{path.stem}.{args.format}"
        if args.format == "jpg":
            result.convert("RGB").save(target, quality=92)
        else:
            result.save(target)
    done = len(files) - failed
    print(f"colorized {done} of {len(files)} images into {args.out}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    if args.command == "predict":
        return predict(args)
    return 2
