"""evaluation.compare: several runs measured per source on the same held-out photos."""

import json
import shutil

import pytest
import yaml

from evaluation import compare
from tests.conftest import natural_image


def make_runs(tmp_path, tiny_checkpoint, seeds=(0, 0)):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        natural_image(48, 64, seed=i).save(photos / f"{'forest' if i < 5 else 'flower'}_{i:03d}.jpg")
    runs = []
    for k, seed in enumerate(seeds):
        run = tmp_path / f"run{k}"
        run.mkdir()
        cfg = {"arch": "unet_resnet18", "pretrained": None, "data": [str(photos)], "val_split": "hash",
               "val_fraction": 0.99, "seed": seed, "batch_size": 4}
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
        (run / "train_log.csv").write_text("step,loss,img_per_s\n20,0.1,10.0\n40,0.09,12.0\n")
        shutil.copy(tiny_checkpoint, run / "best.safetensors")
        runs.append(run)
    return runs


def test_compare_writes_a_table_per_source_and_a_plot(tmp_path, tiny_checkpoint):
    runs = make_runs(tmp_path, tiny_checkpoint)
    out = tmp_path / "out"
    assert compare.main(["--runs", *map(str, runs), "--out", str(out), "--gains", "1.0", "2.0"]) == 0
    result = json.loads((out / "compare.json").read_text())
    assert [r["run"] for r in result["runs"]] == [str(r) for r in runs]
    first = result["runs"][0]
    assert set(first["sources"]) == {"forest", "flower"}
    assert first["steps"] == 40 and first["crops"] == 160 and first["img_per_s"] == 11.0
    # the same weights on the same photos give the same figures
    assert first["all"] == result["runs"][1]["all"]
    text = (out / "compare.md").read_text()
    assert "forest (5)" in text and "unet_resnet18 (scratch)" in text and "At gain 2.0" in text
    assert (out / "compare.png").stat().st_size > 1000


def test_runs_with_different_held_out_photos_are_refused(tmp_path, tiny_checkpoint):
    runs = make_runs(tmp_path, tiny_checkpoint, seeds=(0, 1))
    with pytest.raises(SystemExit, match="hold out different photos"):
        compare.main(["--runs", *map(str, runs), "--out", str(tmp_path / "out")])
