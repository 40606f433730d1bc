"""Colouring many photos: list the inputs as (source, target) pairs, pick a shard, write each result atomically,
and run them on worker threads that share one loaded model. The listing also finds videos (by their content),
which colorize.video.batch colours.

    items = plan(["scans/"], Path("colorized"), "png")          # the folder tree is kept under colorized/
    mine = select_shard(items, *shard_from_env(None, None))      # all of them outside a Job
    summary = run(mine, lambda pixels, depth: colorize_upright(pixels, model, 256, depth=depth), "png", jobs=2)

A run again is a resume: outputs that exist are skipped (``overwrite`` redoes them), and a write never leaves
a half file at the target, so whatever exists is whole.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colorize import photoio

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
FORMATS = ("png", "jpg", "tiff")
# Taken as videos without reading them: one that is not is then reported (colorize.video.probe says why).
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".3gp"}
# Never read to see whether they are videos: an archive's sidecars and audio (an M4A is an MP4 without video),
# and this project's own temporary files.
_NOT_VIDEO_SUFFIXES = {".partial", ".txt", ".json", ".xml", ".xmp", ".csv", ".md", ".pdf", ".html", ".yaml",
                       ".yml", ".log", ".ini", ".db", ".m4a", ".mp3", ".wav", ".flac", ".aac", ".ogg", ".opus"}
VIDEO_FORMAT = "mp4"


class ShardError(ValueError):
    """A shard index or count that cannot be used."""


class ItemFailed(Exception):
    """One photo could not be coloured; the message says why (it goes into the summary)."""


@dataclass(frozen=True)
class Item:
    """One photo or video to colour: where it is read, where its result goes, and the name its shard is chosen
    by (its path relative to the input folder, or its file name when it was given directly)."""

    source: Path
    target: Path
    key: str
    video: bool = False


@dataclass
class Summary:
    done: list[Item] = field(default_factory=list)
    skipped: list[Item] = field(default_factory=list)  # the output existed
    failed: list[tuple[Item, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.done) + len(self.skipped) + len(self.failed)


def plan(inputs: Iterable[str | Path], out: Path, fmt: str) -> list[Item]:
    """Every photo and video to colour and its output: a folder's (recursively) keep their tree under ``out``,
    a file given directly goes to the top of ``out``; a video's output is NAME.mp4. Photos are found by
    suffix; videos by suffix, or, for other files, by their first bytes. Files under ``out`` itself are left
    out, so that an output folder inside an input folder is not coloured again on the next run."""
    out_abs = out.absolute()
    items = []
    for given in map(Path, inputs):
        if given.is_dir():
            for source in sorted(given.rglob("*")):
                suffix = source.suffix.lower()
                if suffix in _NOT_VIDEO_SUFFIXES or out_abs in source.absolute().parents:
                    continue
                video = suffix not in IMAGE_SUFFIXES and (suffix in VIDEO_SUFFIXES or _sniffs_as_video(source))
                if not (video or suffix in IMAGE_SUFFIXES) or not source.is_file():
                    continue
                relative = source.relative_to(given)
                items.append(Item(source, out / relative.with_suffix(f".{VIDEO_FORMAT if video else fmt}"),
                                  relative.as_posix(), video))
        else:  # a file, or a path that does not exist: the run reports it (as a photo unless it is a video)
            video = _sniffs_as_video(given) or given.suffix.lower() in VIDEO_SUFFIXES
            items.append(Item(given, out / f"{given.stem}.{VIDEO_FORMAT if video else fmt}", given.name, video))
    return items


def _sniffs_as_video(path: Path) -> bool:
    """Whether the file's first bytes are a video container's (colorize.video.looks_like_video)."""
    from colorize.video.probe import looks_like_video  # no PyAV: the first bytes only

    try:
        with open(path, "rb") as file:
            return looks_like_video(file.read(16))
    except OSError:  # a folder, a broken link, no permission: not a video
        return False


def shard_of(key: str, count: int) -> int:
    """The shard a photo belongs to: a hash of its relative path, so that a shard's photos do not depend on
    the listing's order, and adding photos moves none of the others."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % count


def select_shard(items: list[Item], index: int, count: int) -> list[Item]:
    """Shard ``index`` of ``count``: the photos whose key hashes to it (shard_of), and the videos at positions
    index, index + count, ... of the listing, so that as many shards as films take one film each (a hash would
    leave some shards two films of hours and others none)."""
    if count < 1 or not 0 <= index < count:
        raise ShardError(f"shard index {index} is not in 0..{count - 1}" if count >= 1
                         else f"the shard count must be at least 1, got {count}")
    if count == 1:
        return items
    mine, videos = [], 0
    for item in items:
        if item.video:
            if videos % count == index:
                mine.append(item)
            videos += 1
        elif shard_of(item.key, count) == index:
            mine.append(item)
    return mine


def shard_from_env(index: int | None, count: int | None,
                   env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """The shard to run: the flags' values, else the environment's: JOB_COMPLETION_INDEX (a Kubernetes
    Indexed Job, whose completion count the command passes as --shard-count) or CLOUD_RUN_TASK_INDEX and
    CLOUD_RUN_TASK_COUNT (Cloud Run Jobs). Neither: (0, 1), every photo."""
    env = os.environ if env is None else env
    where = "--shard-index"
    if index is None:
        for name in ("JOB_COMPLETION_INDEX", "CLOUD_RUN_TASK_INDEX"):
            if env.get(name, "").strip():
                index, where = _integer(env[name], name), name
                break
    if count is None and env.get("CLOUD_RUN_TASK_COUNT", "").strip():
        count = _integer(env["CLOUD_RUN_TASK_COUNT"], "CLOUD_RUN_TASK_COUNT")
    if index is None and count is None:
        return 0, 1
    if count is None:
        raise ShardError(f"a shard index ({where}) needs a shard count: --shard-count N")
    if index is None:
        raise ShardError("a shard count needs a shard index: --shard-index I")
    select_shard([], index, count)  # checks the range
    return index, count


def _integer(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ShardError(f"{name}={value!r} is not a whole number") from None


Colorize = Callable[[Image.Image | np.ndarray, int], Image.Image | np.ndarray]  # (upright pixels, depth) -> result


def write_result(result: Image.Image | np.ndarray, target: Path, fmt: str,
                 meta: photoio.PhotoMeta | None = None) -> None:
    """Save one coloured photo at ``target`` atomically: written to a temporary file beside it, then renamed,
    so an interrupted run never leaves a partial file that a resume would take for done. ``meta``: the source's
    ICC profile, DPI and EXIF, written where the format holds them (colorize.photoio); the one place outputs
    are written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, and no image suffix: a temporary file left by a killed process is never listed as an input.
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        with open(partial, "wb") as file:
            photoio.write(result, file, fmt, meta)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def colorize_file(item: Item, colorize: Colorize, fmt: str) -> None:
    """Read, colour and write one photo; ItemFailed says why it could not be done. ``colorize(pixels, depth)``
    gets the upright pixels (a PIL image, or a 16-bit RGB TIFF or PNG as uint16) and the answer's bit depth:
    16 for a 16-bit photo written as PNG or TIFF."""
    try:
        with Image.open(item.source) as image:
            if image.format == "TIFF":
                photoio.check_tiff(image)
            meta = photoio.read_meta(image)
            pixels = photoio.full_depth(image, item.source)
            if isinstance(pixels, Image.Image):
                pixels.load()
                pixels = ImageOps.exif_transpose(pixels)
            result = colorize(pixels, meta.depth if fmt in photoio.SIXTEEN_BIT_FORMATS else 8)
            try:
                write_result(result, item.target, fmt, meta)
            except OSError as exc:
                raise ItemFailed(f"cannot write {item.target} ({exc.strerror or exc})") from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise ItemFailed(f"cannot open ({exc.strerror or exc})") from exc
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        raise ItemFailed(f"not a readable image ({exc})") from exc


def triage(items: list[Item], summary: Summary, overwrite: bool = False,
           on_result: Callable[[Item, str], None] | None = None) -> list[Item]:
    """The items to colour: those whose output exists go to ``summary.skipped`` (unless ``overwrite``), and
    an item whose output is another's (a.jpg and a.png in one folder: both would be a.png) to its failed."""
    seen: dict[Path, Item] = {}
    todo = []
    for item in items:
        if item.target in seen:
            summary.failed.append((item, f"same output as {seen[item.target].source}"))
            _report(on_result, item, "failed")
            continue
        seen[item.target] = item
        if not overwrite and item.target.exists():
            summary.skipped.append(item)
            _report(on_result, item, "skipped")
        else:
            todo.append(item)
    return todo


def run(items: list[Item], colorize: Colorize, fmt: str, *, jobs: int = 1, overwrite: bool = False,
        on_result: Callable[[Item, str], None] | None = None) -> Summary:
    """Colour ``items`` on ``jobs`` threads (``colorize`` is called from all of them: the torch model is
    shared, its work releases the GIL). Each outcome, "done", "skipped" or "failed", goes to ``on_result``
    as it happens; a failure never stops the others."""
    summary = Summary()
    todo = triage(items, summary, overwrite, on_result)

    def one(item: Item) -> str | None:
        try:
            colorize_file(item, colorize, fmt)
        except ItemFailed as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - one photo's surprise must not end a shard of thousands
            return f"failed ({type(exc).__name__}: {exc})"
        return None

    pending: dict[Future, Item] = {}
    queue = iter(todo)
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="colorize") as pool:
        try:
            while True:
                # A few items in flight per worker, not all of them: a bucket may list millions.
                for item in queue:
                    pending[pool.submit(one, item)] = item
                    if len(pending) >= 2 * max(1, jobs):
                        break
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    item, reason = pending.pop(future), future.result()
                    if reason is None:
                        summary.done.append(item)
                    else:
                        summary.failed.append((item, reason))
                    _report(on_result, item, "done" if reason is None else "failed")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    summary.failed.sort(key=lambda failure: str(failure[0].source))
    return summary


def _report(on_result: Callable[[Item, str], None] | None, item: Item, outcome: str) -> None:
    if on_result is not None:
        on_result(item, outcome)
