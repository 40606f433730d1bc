"""Image folders for training: recursive listing, random resized crops, grey photos skipped.

The dataset returns RGB crops as uint8 tensors; LAB conversion happens on the whole batch (on the
training device) through colorize.lab. Augmentation randomness is derived from (seed, epoch, index),
so a resumed run sees exactly the crops the uninterrupted run would have seen.
"""

from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset, Sampler

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
GREY_CHROMA = 4.0  # mean |r-g| + |g-b| (0-255) below this: a grey or tinted-monochrome photo


def list_images(folders: list[str | Path]) -> list[Path]:
    """Every image file under the folders, recursively, in a stable order."""
    files: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"data folder not found: {folder}")
        files += sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return files


def split_files(files: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """A reproducible held-out split (by file), the same for every run with the same seed."""
    order = list(range(len(files)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(files) * val_fraction)) if val_fraction > 0 else 0
    val = sorted(files[i] for i in order[:n_val])
    train = sorted(files[i] for i in order[n_val:])
    return train, val


def _name_hash(path: Path) -> float:
    return int(hashlib.sha256(path.name.encode()).hexdigest()[:13], 16) / 16**13


def hash_split(files: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    """Held out by a hash of the file name: a photo stays on its side when photos are added or removed.
    The held-out list is in hash order (a random mix of sources), so its first n are a fair sample."""
    val = sorted((f for f in files if _name_hash(f) < val_fraction), key=_name_hash)
    held = set(val)
    return [f for f in files if f not in held], val


def run_split(data: list[str | Path], val_data: str | Path | None, val_fraction: float,
              seed: int, split: str = "shuffle") -> tuple[list[Path], list[Path]]:
    """A run's training and held-out photos: all of ``data`` and the ``val_data`` folder when given, else
    ``data`` split by ``val_fraction``: ``split="hash"`` by file name (hash_split), ``"shuffle"`` by a
    shuffle of the whole list with ``seed`` (split_files; moves when the data changes)."""
    files = list_images(data)
    if val_data:
        return files, list_images([val_data])
    if split == "hash":
        return hash_split(files, val_fraction)
    return split_files(files, val_fraction, seed)


def open_rgb(path: str | Path) -> Image.Image:
    """A photo file as an RGB image, upright (its EXIF orientation applied), fully read (the file is closed)."""
    with Image.open(path) as img:
        return ImageOps.exif_transpose(img).convert("RGB")


def is_grey(image: Image.Image) -> bool:
    """True for grey and near-grey (low-chroma) photos, judged on a thumbnail."""
    small = image.convert("RGB").resize((32, 32), Image.BILINEAR)
    a = np.asarray(small, dtype=np.int16)
    chroma = np.abs(a[..., 0] - a[..., 1]) + np.abs(a[..., 1] - a[..., 2])
    return float(chroma.mean()) < GREY_CHROMA


def _random_resized_crop(img: Image.Image, size: int, rng: random.Random,
                         scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3)) -> Image.Image:
    w, h = img.size
    area = w * h
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            return img.resize((size, size), Image.BILINEAR, box=(x, y, x + cw, y + ch), reducing_gap=2.0)
    return center_crop(img, size)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """Resize the short side to ``size`` and cut the centre square."""
    w, h = img.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return img.resize((size, size), Image.BILINEAR, box=box, reducing_gap=2.0)


class ColourImages(Dataset):
    """RGB crops (3, size, size) uint8 from image files; grey photos are replaced by the next colour one."""

    def __init__(self, files: list[Path], crop_size: int, train: bool, seed: int = 0):
        if not files:
            raise ValueError("no images found in the data folders")
        self.files, self.crop_size, self.train, self.seed = files, crop_size, train, seed
        self._grey: set[int] = set()

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> Image.Image | None:
        try:
            img = open_rgb(self.files[index])
        except (OSError, ValueError, SyntaxError):
            return None  # unreadable files are skipped like grey ones
        return None if is_grey(img) else img

    def __getitem__(self, item) -> torch.Tensor:
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        for step in range(len(self.files)):
            i = (index + step) % len(self.files)
            if i in self._grey:
                continue
            img = self._load(i)
            if img is not None:
                break
            self._grey.add(i)
        else:
            raise ValueError("every image in the data folders is grey or unreadable")
        if self.train:
            rng = random.Random(f"{self.seed}/{epoch}/{index}")
            img = _random_resized_crop(img, self.crop_size, rng)
            if rng.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            img = center_crop(img, self.crop_size)
        return torch.from_numpy(np.array(img)).permute(2, 0, 1)


def name_weights(files: list[Path], weights: dict[str, float] | None) -> list[float] | None:
    """A sampling weight per file: the weight of the first prefix of ``weights`` its name starts with, else 1."""
    if not weights:
        return None
    return [next((w for prefix, w in weights.items() if f.name.startswith(prefix)), 1.0) for f in files]


class ResumableSampler(Sampler):
    """A per-epoch shuffle that can start part-way through an epoch and be split across ranks.

    Yields ``(index, epoch)`` so augmentation depends only on the sample, not on worker state.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1,
                 weights: list[float] | None = None):
        self.n, self.seed, self.rank, self.world = n, seed, rank, world_size
        self.epoch, self.start = 0, 0
        if weights is not None and (len(weights) != n or min(weights) <= 0):
            raise ValueError("weights: one positive weight per sample")
        # With weights an "epoch" is n draws with replacement, each sample drawn in proportion to its weight.
        self.weights = torch.tensor(weights, dtype=torch.float64) if weights is not None else None

    def set_position(self, epoch: int, start_sample: int = 0) -> None:
        """Begin ``epoch`` after skipping its first ``start_sample`` samples (per rank)."""
        self.epoch, self.start = epoch, start_sample

    def _indices(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        if self.weights is None:
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = torch.multinomial(self.weights, self.n, replacement=True, generator=g).tolist()
        per_rank = len(order) // self.world
        return order[self.rank * per_rank:(self.rank + 1) * per_rank]

    def __len__(self) -> int:
        return self.n // self.world - self.start

    def __iter__(self):
        for i in self._indices()[self.start:]:
            yield (i, self.epoch)


def run_data(cfg, rank: int = 0, world: int = 1) -> tuple[ColourImages, ColourImages | None, ResumableSampler, dict]:
    """A run's data as its TrainConfig says: the training set, the validation set (None without photos),
    this rank's sampler, and what checkpoints record about the data."""
    train_files, val_files = run_split(cfg.data, cfg.val_data, cfg.val_fraction, cfg.seed, cfg.val_split)
    val_files = val_files[: cfg.val_max_images]
    info = {"train": cfg.data, "n_train": len(train_files),
            "val": cfg.val_data or f"{cfg.val_fraction:.0%} held out of train", "n_val": len(val_files)}
    train_set = ColourImages(train_files, cfg.crop_size, train=True, seed=cfg.seed)
    val_set = ColourImages(val_files, cfg.val_crop_size, train=False) if val_files else None
    sampler = ResumableSampler(len(train_set), cfg.seed, rank, world, name_weights(train_files, cfg.sample_weights))
    return train_set, val_set, sampler, info
