"""Command line: ``colorize predict INPUT... --out DIR``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from colorize.batch import FORMATS, Item, ShardError, Summary


def get_parser() -> argparse.ArgumentParser:
    from colorize import DEFAULT_CHECKPOINT
    parser = argparse.ArgumentParser(prog="colorize", description="Colorize black-and-white photos and videos.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="colorize photos and videos (or folders of them)",
                       description="Colorize photos and videos. A video (MP4, MOV, MKV, WebM, AVI: known by its "
                                   "content, whatever its name) becomes NAME.mp4, H.264 with its own sound, its "
                                   "colours kept steady from frame to frame.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, videos or folders of them")
    p.add_argument("--out", required=True, type=Path,
                   help="folder for the results: a folder's tree is kept under it, a file goes to its top")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                       help=f"model weights (default: {DEFAULT_CHECKPOINT})")
    which.add_argument("--model", help="a shipped model by name, e.g. unet_resnet34 (the paper's model)")
    p.add_argument("--render-size", type=int,
                   help="short side, in pixels, at which the network runs (default: the checkpoint's own, "
                        "from its metadata; 256 if it names none)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--format", choices=FORMATS, default="png",
                   help="photos' output format (default: %(default)s); videos are always MP4")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="network arithmetic (bf16 is faster on AMX CPUs and GPUs)")
    p.add_argument("--runtime", choices=("torch", "openvino"), default="torch",
                   help="run the network with PyTorch or, on the CPU, OpenVINO (faster; pip install openvino)")
    p.add_argument("--hint", action="append", default=[], metavar="X,Y,#RRGGBB",
                   help="a colour hint: this pixel of the photo (full resolution, from the top left; a video's "
                        "first frame) is this sRGB colour; repeat for more; for a model that takes hints (the "
                        "default does)")
    p.add_argument("--hints", type=Path, metavar="FILE",
                   help='colour hints from a JSON file: [{"x": 120, "y": 340, "color": "#3355aa"}, ...] '
                        "(the page's and the API's format); with several photos each gets the same hints")
    p.add_argument("--vividness", type=float, metavar="V",
                   help="for a model with a colour distribution: 0 (the mean of the likely colours, muted) to 1 "
                        "(the most vivid); default: the model's own")
    p.add_argument("--no-stabilize", dest="stabilize", action="store_false",
                   help="colour each frame of a video on its own (default: carry the colours along the motion, "
                        "so they do not flicker)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="photos coloured at once, on threads sharing the model and the cores (default: 1); "
                        "videos go one at a time, each using every core")
    p.add_argument("--overwrite", action="store_true",
                   help="colour again what has an output already (default: skip it, so a run again resumes)")
    p.add_argument("--shard-index", type=int, metavar="I",
                   help="colour only shard I of --shard-count: the photos whose path hashes to I, and the "
                        "videos I, I+N, ... of the listing, so N shards of N films take one each (default: "
                        "JOB_COMPLETION_INDEX on a Kubernetes Indexed Job, CLOUD_RUN_TASK_INDEX on Cloud Run "
                        "Jobs; else everything)")
    p.add_argument("--shard-count", type=int, metavar="N",
                   help="the number of shards (default: CLOUD_RUN_TASK_COUNT on Cloud Run Jobs; "
                        "on a Kubernetes Indexed Job pass its completions)")
    return parser


def _threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` workers: the cores shared out; 0 (torch's default) for one job or
    when OMP_NUM_THREADS is set, as in a container, where the cores visible are the node's, not the limit's."""
    from colorize.engine import usable_cores

    if jobs <= 1 or os.environ.get("OMP_NUM_THREADS", "").strip():
        return 0
    return max(1, usable_cores() // jobs)


class _Progress:
    """A tqdm bar on a terminal. Elsewhere (a Job's log) a line a minute: a bar's carriage returns would
    make the whole run one log line."""

    def __init__(self, total: int, interval_s: float = 60.0):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="img", desc="colorizing", file=sys.stderr) if sys.stderr.isatty() else None
        self.total, self.interval_s, self.counts = total, interval_s, {"done": 0, "skipped": 0, "failed": 0}
        self.last = time.monotonic()

    def __call__(self, item: Item, outcome: str) -> None:
        self.counts[outcome] += 1
        if self.bar is not None:
            self.bar.update()
            self.bar.set_postfix(self.counts, refresh=False)
        elif time.monotonic() - self.last >= self.interval_s:
            self.last = time.monotonic()
            print(f"{sum(self.counts.values())} of {self.total}: " + ", ".join(
                f"{n} {k}" for k, n in self.counts.items()), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_summary(summary: Summary, out: Path, what: str = "images") -> None:
    print(f"colorized {len(summary.done)} of {summary.total} {what} into {out}; "
          f"skipped {len(summary.skipped)} (output exists; --overwrite redoes them); "
          f"failed {len(summary.failed)}", file=sys.stderr)
    for item, reason in summary.failed:
        print(f"  failed {item.source}: {reason}", file=sys.stderr)


def _read_hints(args: argparse.Namespace) -> list:
    """--hints' file and every --hint, as colorize.hints.Hint; HintError says which is wrong."""
    from colorize.hints import HintError, parse_hints

    items = []
    if args.hints:
        try:
            items = json.loads(args.hints.read_text())
        except (OSError, ValueError) as exc:
            raise HintError(f"--hints {args.hints}: {exc}") from exc
        if not isinstance(items, list):
            raise HintError(f"--hints {args.hints}: must hold a JSON list of {{x, y, color}} objects")
    for text in args.hint:
        parts = text.split(",")
        if len(parts) != 3:
            raise HintError(f"--hint {text!r}: write X,Y,#RRGGBB, e.g. 120,340,#3355aa")
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise HintError(f"--hint {text!r}: X and Y must be numbers (pixels)") from None
        items.append({"x": x, "y": y, "color": parts[2].strip()})
    return parse_hints(items)


def predict(args: argparse.Namespace) -> int:
    from colorize import SHIPPED_CHECKPOINTS
    from colorize.batch import ItemFailed, plan, run, select_shard, shard_from_env
    from colorize.checkpoint import CheckpointError, find_checkpoint
    from colorize.distribution import VividnessError, check_vividness
    from colorize.engine import EngineError, load_colorizer
    from colorize.hints import HintError
    from colorize.pipeline import colorize_upright, recommended_render_size, takes_hints, takes_vividness

    try:
        hints = _read_hints(args)
    except HintError as exc:
        print(f"colorize: {exc}", file=sys.stderr)
        return 2
    if args.render_size is not None and not 16 <= args.render_size <= 2048:
        print(f"colorize: --render-size must be between 16 and 2048, got {args.render_size}", file=sys.stderr)
        return 2
    if args.vividness is not None:
        try:
            check_vividness(args.vividness)
        except VividnessError as exc:
            print(f"colorize: --vividness: {exc}", file=sys.stderr)
            return 2
    if args.jobs < 1:
        print(f"colorize: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    try:
        shard = shard_from_env(args.shard_index, args.shard_count)
    except ShardError as exc:
        print(f"colorize: {exc}", file=sys.stderr)
        return 2
    items = plan(args.inputs, args.out, args.format)
    if not items:
        print("colorize: no input images or videos found", file=sys.stderr)
        return 2
    mine = select_shard(items, *shard)
    photos, videos = [i for i in mine if not i.video], [i for i in mine if i.video]
    if shard[1] > 1:
        all_videos = sum(item.video for item in items)
        print(f"shard {shard[0]} of {shard[1]} (0-based): {len(photos)} of {len(items) - all_videos} images"
              + (f", {len(videos)} of {all_videos} videos" if all_videos else ""), file=sys.stderr)
    if not mine:
        return 0  # an empty shard is done
    threads = _threads_per_job(args.jobs) if photos else 0
    try:
        path = find_checkpoint(args.model, SHIPPED_CHECKPOINTS) if args.model else args.checkpoint
        model = load_colorizer(path, device=args.device, precision=args.precision, runtime=args.runtime,
                               threads=threads)
        render_size = args.render_size or recommended_render_size(model.metadata)
    except (CheckpointError, EngineError, ValueError) as exc:
        print(f"colorize: {exc}", file=sys.stderr)
        return 2
    if hints and not takes_hints(model):
        print(f"colorize: {path} does not take colour hints (its metadata says so); use a model that does, "
              "e.g. the default checkpoint", file=sys.stderr)
        return 2
    if args.vividness is not None and not takes_vividness(model):
        print(f"colorize: {path} has no colour distribution, so --vividness does not apply to it",
              file=sys.stderr)
        return 2
    failed = 0
    if photos:
        progress = _Progress(len(photos))
        try:
            def colorize(pixels, depth):
                try:
                    return colorize_upright(pixels, model, render_size, depth=depth, hints=hints,
                                            vividness=args.vividness)
                except HintError as exc:  # a ValueError: batch would call the photo unreadable
                    raise ItemFailed(str(exc)) from exc

            summary = run(photos, colorize, args.format,
                          jobs=args.jobs, overwrite=args.overwrite, on_result=progress)
        finally:
            progress.close()
        _print_summary(summary, args.out)
        failed += len(summary.failed)
    if videos:
        from colorize.video.batch import run_videos

        if threads:  # the photos' share of the cores; a video has them all (colorize.video.batch says why)
            import torch

            from colorize.engine import usable_cores
            torch.set_num_threads(usable_cores())
        summary = run_videos(videos, model, render_size=render_size, stabilize=args.stabilize,
                             vividness=args.vividness, hints=hints, overwrite=args.overwrite)
        _print_summary(summary, args.out, "videos")
        failed += len(summary.failed)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    if args.command == "predict":
        return predict(args)
    return 2
