"""Copy a subset of the training photos that fits a size budget, to carry to a lent GPU machine.

    python -m scripts.pack_training_subset --out gpu_data --budget-mib 58 --cap flowers_=2600 --last intelscene_ --zip
    python -m scripts.pack_training_subset --out .gpu/gpu_data --split hash --budget-mib 46 --parts 4 --zip

The held-out photos of the full set (``run_split`` with --val-fraction and --split: by file-name hash, or by
a shuffle with --seed; the split of the CPU runs and evaluation.calibrate) go to OUT/val (the first
--val-images of them), so the GPU run is validated on the same photos as the shipped model; they never go
to OUT/train. Training photos are drawn at random from the rest, every prefix named by --last only after all
others, none past its --cap, until the budget is full. OUT/manifest.txt lists what was packed. With --zip
the folder is also stored (uncompressed) in OUT.zip: a lent machine counts each small file's padding against
its limit, and scripts/device_train.sh unpacks it.
With --parts N the budget is per part and the photos are spread over OUT.part1.zip ... OUT.partN.zip (the
held-out ones in the first), one to carry in each call while the machine stays warm: the whole set is larger
than one call may carry.
"""

from __future__ import annotations

import argparse
import random
import shutil
import zipfile
from pathlib import Path

from training.data import run_split


def _prefix_value(text: str) -> tuple[str, int]:
    prefix, _, value = text.partition("=")
    if not prefix or not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected PREFIX=N, got {text!r}")
    return prefix, int(value)


def choose(files: list[Path], budget: int, caps: dict[str, int], last: list[str], seed: int) -> list[Path]:
    """Files in random order (``last`` prefixes after the others) within ``budget`` bytes and the caps."""
    rng = random.Random(seed)
    order = list(files)
    rng.shuffle(order)
    order.sort(key=lambda f: any(f.name.startswith(p) for p in last))  # stable: random within each group
    taken, used, counts = [], 0, dict.fromkeys(caps, 0)
    for f in order:
        prefix = next((p for p in caps if f.name.startswith(p)), None)
        size = f.stat().st_size
        if (prefix and counts[prefix] >= caps[prefix]) or used + size > budget:
            continue
        taken.append(f)
        used += size
        if prefix:
            counts[prefix] += 1
    return sorted(taken)


def spread(files: list[Path], budget: int, parts: int) -> list[list[Path]]:
    """``files`` in order over ``parts`` lists of at most ``budget`` bytes each (the first fills first)."""
    out: list[list[Path]] = [[] for _ in range(parts)]
    used, k = [0] * parts, 0
    for f in files:
        size = f.stat().st_size
        while k < parts and used[k] + size > budget:
            k += 1
        if k == parts:
            raise ValueError(f"{len(files)} photos do not fit {parts} parts of {budget / 2**20:.1f} MiB")
        out[k].append(f)
        used[k] += size
    return out


def _write_zip(path: Path, root: Path, members: list[Path]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for f in members:
            zf.write(f, f.relative_to(root))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/train")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget-mib", type=float, required=True, help="for the training photos")
    p.add_argument("--val-fraction", type=float, default=0.02)
    p.add_argument("--val-images", type=int, default=384)
    p.add_argument("--cap", type=_prefix_value, action="append", default=[])
    p.add_argument("--last", action="append", default=[])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=["shuffle", "hash"], default="shuffle",
                   help="how the held-out photos are chosen (training.data.run_split)")
    p.add_argument("--parts", type=int, default=1, help="with --zip: spread over this many zips of --budget-mib")
    p.add_argument("--zip", action="store_true", help="also write OUT.zip (stored, not compressed)")
    args = p.parse_args(argv)
    if args.parts < 1 or (args.parts > 1 and not args.zip):
        p.error("--parts needs --zip and must be at least 1")
    train, val = run_split([args.data], None, args.val_fraction, args.seed, args.split)
    budget = int(args.budget_mib * 2**20)
    total = budget  # one part: the budget is the training photos' (--budget-mib's help)
    if args.parts > 1:  # parts: each part's budget holds the held-out photos too, and cannot be filled to the byte
        total = budget * args.parts - sum(f.stat().st_size for f in val[: args.val_images]) - (args.parts - 1) * 2**16
    chosen = choose(train, total, dict(args.cap), args.last, args.seed)
    if args.out.exists():
        shutil.rmtree(args.out)
    for folder, files in (("train", chosen), ("val", val[: args.val_images])):
        (args.out / folder).mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, args.out / folder / f.name)
    (args.out / "manifest.txt").write_text("".join(f"train/{f.name}\n" for f in chosen)
                                           + "".join(f"val/{f.name}\n" for f in val[: args.val_images]))
    if args.zip and args.parts == 1:
        _write_zip(args.out.with_suffix(".zip"), args.out.parent, sorted(f for f in args.out.rglob("*") if f.is_file()))
    elif args.zip:
        held = [args.out / "val" / f.name for f in val[: args.val_images]]
        copies = held + [args.out / "train" / f.name for f in chosen]
        for k, members in enumerate(spread(copies, budget, args.parts), 1):
            _write_zip(args.out.parent / f"{args.out.name}.part{k}.zip", args.out.parent, members)
    mib = sum(f.stat().st_size for f in chosen) / 2**20
    print(f"{len(chosen)} training photos ({mib:.1f} MiB) and {min(len(val), args.val_images)} held-out "
          f"photos in {args.out}")


if __name__ == "__main__":
    main()
