"""colorize.batch: the listing keeps the folder tree, shards split it stably, writes are atomic, and the runner
colours with a real (tiny, random-weight) model, reporting what failed and why."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize import batch
from colorize.batch import Item, ShardError, plan, run, select_shard, shard_from_env, shard_of, write_result
from tests.conftest import natural_image


def photo_tree(root: Path) -> Path:
    """scans/ with photos two folders deep, a non-image and a name that occurs in two folders."""
    for rel, seed in (("a.jpg", 1), ("1920/b.png", 2), ("1920/family/c.jpeg", 3), ("1930/b.png", 4)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        natural_image(24 + seed, 30, seed=seed).convert("L").save(root / rel)
    (root / "notes.txt").write_text("not a photo")
    return root


@pytest.fixture(scope="module")
def colorize_fn(tiny_checkpoint):
    from colorize.engine import load_colorizer
    from colorize.pipeline import colorize_upright

    model = load_colorizer(tiny_checkpoint, device="cpu")
    return lambda pixels, depth: colorize_upright(pixels, model, render_size=32, depth=depth)


def test_plan_keeps_the_folder_tree_and_puts_files_given_directly_on_top(tmp_path):
    scans = photo_tree(tmp_path / "scans")
    loose = tmp_path / "loose.png"
    natural_image(10, 10).save(loose)
    items = plan([scans, loose], tmp_path / "out", "png")
    targets = {item.target.relative_to(tmp_path / "out").as_posix(): item for item in items}
    assert set(targets) == {"a.png", "1920/b.png", "1920/family/c.png", "1930/b.png", "loose.png"}
    assert targets["1920/family/c.png"].source == scans / "1920" / "family" / "c.jpeg"
    assert targets["1920/family/c.png"].key == "1920/family/c.jpeg"  # the relative path, what shards use
    assert targets["loose.png"].key == "loose.png"


def test_plan_leaves_out_an_output_folder_inside_the_input(tmp_path):
    scans = photo_tree(tmp_path / "scans")
    (scans / "colorized").mkdir()
    natural_image(10, 10).save(scans / "colorized" / "a.png")  # an output of an earlier run
    items = plan([scans], scans / "colorized", "png")
    assert not any("colorized" in item.key for item in items) and len(items) == 4


def test_three_shards_take_every_photo_exactly_once_whatever_the_listing_order(tmp_path):
    items = [Item(Path(f"{i}.jpg"), Path(f"o/{i}.png"), f"box{i % 7}/{i}.jpg") for i in range(300)]
    shards = [select_shard(items, i, 3) for i in range(3)]
    keys = [item.key for shard in shards for item in shard]
    assert sorted(keys) == sorted(item.key for item in items)  # each once, none lost
    assert all(40 < len(shard) < 160 for shard in shards)  # a hash spreads them, not one shard for all
    shuffled = random.Random(0).sample(items, len(items))
    assert {i.key for i in select_shard(shuffled, 1, 3)} == {i.key for i in shards[1]}


def test_adding_photos_moves_no_photo_to_another_shard(tmp_path):
    scans = photo_tree(tmp_path / "scans")
    before = {item.key: shard_of(item.key, 3) for item in plan([scans], tmp_path / "out", "png")}
    for n in range(20):
        natural_image(8, 8, seed=n).save(scans / "1920" / f"new{n}.png")
    after = {item.key: shard_of(item.key, 3) for item in plan([scans], tmp_path / "out", "png")}
    assert len(after) == len(before) + 20
    assert {key: after[key] for key in before} == before


@pytest.mark.parametrize("env", [{"JOB_COMPLETION_INDEX": "2"},
                                 {"CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "5"}])
def test_the_shard_comes_from_a_jobs_environment_as_from_the_flags(env):
    count = 5 if "CLOUD_RUN_TASK_COUNT" in env else None  # GKE: the command passes --shard-count
    assert shard_from_env(None, count or 5, env) == shard_from_env(2, 5, {}) == (2, 5)
    assert shard_from_env(0, 5, env) == (0, 5)  # the flags win
    assert shard_from_env(None, None, {}) == (0, 1)  # no Job: every photo


@pytest.mark.parametrize(("index", "count", "env", "message"), [
    (None, None, {"JOB_COMPLETION_INDEX": "1"}, "needs a shard count"),
    (None, 3, {}, "needs a shard index"),
    (3, 3, {}, "not in 0..2"),
    (0, 0, {}, "at least 1"),
    (None, None, {"CLOUD_RUN_TASK_INDEX": "x", "CLOUD_RUN_TASK_COUNT": "2"}, "not a whole number"),
])
def test_unusable_shards_are_clear_errors(index, count, env, message):
    with pytest.raises(ShardError, match=message):
        shard_from_env(index, count, env)


@pytest.mark.parametrize("interruption", [OSError("No space left on device"), KeyboardInterrupt()])
def test_an_interrupted_write_leaves_no_file_at_the_target(tmp_path, monkeypatch, interruption):
    def save_half_then_fail(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG\r\n\x1a\n" + bytes(42))  # the first bytes reached the disk, then:
        fp.flush()
        raise interruption

    monkeypatch.setattr(Image.Image, "save", save_half_then_fail)
    target = tmp_path / "out" / "deep" / "a.png"
    with pytest.raises(type(interruption)):
        write_result(natural_image(20, 20), target, "png")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # nor the temporary file


@pytest.mark.parametrize("fmt", batch.FORMATS)
def test_write_result_formats(tmp_path, fmt):
    write_result(natural_image(20, 30), tmp_path / f"a.{fmt}", fmt)
    with Image.open(tmp_path / f"a.{fmt}") as out:
        assert out.format == {"png": "PNG", "jpg": "JPEG", "tiff": "TIFF"}[fmt] and out.size == (30, 20)
    assert [p.name for p in tmp_path.iterdir()] == [f"a.{fmt}"]


def test_run_colours_the_tree_reports_failures_and_resumes(tmp_path, colorize_fn):
    scans = photo_tree(tmp_path / "scans")
    (scans / "1920" / "broken.jpg").write_text("this is not an image")
    whole = scans / "1930" / "cut.jpg"
    natural_image(64, 64).convert("L").save(whole, quality=95)
    whole.write_bytes(whole.read_bytes()[:400])  # a truncated JPEG
    out = tmp_path / "out"
    outcomes = []
    summary = run(plan([scans], out, "png"), colorize_fn, "png", on_result=lambda i, o: outcomes.append(o))
    assert len(summary.done) == 4 and not summary.skipped
    reasons = {item.key: reason for item, reason in summary.failed}
    assert set(reasons) == {"1920/broken.jpg", "1930/cut.jpg"}
    assert all(reason.startswith("not a readable image") for reason in reasons.values()), reasons
    assert "truncated" in reasons["1930/cut.jpg"]
    assert sorted(outcomes) == ["done"] * 4 + ["failed"] * 2
    with Image.open(out / "1920" / "family" / "c.png") as c:
        assert c.size == (30, 27) and c.mode == "RGB"

    (out / "1920" / "b.png").unlink()
    again = run(plan([scans], out, "png"), colorize_fn, "png")
    assert [item.key for item in again.done] == ["1920/b.png"]  # only the missing output is redone
    assert len(again.skipped) == 3 and len(again.failed) == 2


def test_an_unexpected_error_fails_that_photo_only(tmp_path, colorize_fn):
    scans = photo_tree(tmp_path / "scans")

    def sometimes(image, depth):
        if image.size == (30, 25):  # a.jpg
            raise RuntimeError("out of memory")
        return colorize_fn(image, depth)

    summary = run(plan([scans], tmp_path / "out", "png"), sometimes, "png", jobs=2)
    assert [(item.key, reason) for item, reason in summary.failed] == [
        ("a.jpg", "failed (RuntimeError: out of memory)")]
    assert len(summary.done) == 3 and not (tmp_path / "out" / "a.png").exists()


def test_two_inputs_with_one_output_are_not_overwritten_silently(tmp_path, colorize_fn):
    natural_image(10, 10).convert("L").save(tmp_path / "a.jpg")
    natural_image(12, 12).convert("L").save(tmp_path / "a.png")
    summary = run(plan([tmp_path / "a.jpg", tmp_path / "a.png"], tmp_path / "out", "png"), colorize_fn, "png")
    assert len(summary.done) == 1
    [(item, reason)] = summary.failed
    assert item.source.name == "a.png" and reason == f"same output as {tmp_path / 'a.jpg'}"


def test_more_jobs_give_the_same_pictures(tmp_path, colorize_fn):
    scans = photo_tree(tmp_path / "scans")
    pictures = {}
    for jobs in (1, 3):
        out = tmp_path / f"out{jobs}"
        assert len(run(plan([scans], out, "png"), colorize_fn, "png", jobs=jobs).done) == 4
        pictures[jobs] = {p.relative_to(out): np.asarray(Image.open(p)) for p in sorted(out.rglob("*.png"))}
    assert pictures[1].keys() == pictures[3].keys()
    assert all(np.array_equal(pictures[1][k], pictures[3][k]) for k in pictures[1])


def test_a_16_bit_tiff_scan_is_written_at_16_bits_with_its_dpi_and_description(tmp_path, colorize_fn):
    """An archive's scan keeps its depth and what it says about itself; a JPEG of it is 8-bit with its DPI."""
    import tifffile

    ramp = np.linspace(0, 65535, 40 * 60).reshape(40, 60).astype(np.uint16)
    scans = tmp_path / "scans"
    scans.mkdir()
    tifffile.imwrite(scans / "scan.tif", ramp, compression="zlib", resolution=(1200, 1200), resolutionunit="INCH",
                     extratags=[(315, "s", 0, "A. Photographer", True)], metadata=None)
    out = tmp_path / "out"
    assert len(run(plan([scans], out, "tiff"), colorize_fn, "tiff").done) == 1
    with tifffile.TiffFile(out / "scan.tiff") as tif:
        page = tif.pages.first
        pixels = page.asarray()
        assert pixels.dtype == np.uint16 and pixels.shape == (40, 60, 3)
        assert len(np.unique(pixels)) > 1000  # 16-bit levels, not 256
        assert page.tags.valueof(282) == (1200, 1) and page.tags.valueof(315) == "A. Photographer"
    assert len(run(plan([scans], tmp_path / "jpg", "jpg"), colorize_fn, "jpg").done) == 1
    with Image.open(tmp_path / "jpg" / "scan.jpg") as jpeg:
        assert jpeg.mode == "RGB" and round(jpeg.info["dpi"][0]) == 1200
        assert jpeg.getexif().get(315) == "A. Photographer"
