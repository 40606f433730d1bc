"""evaluation.face_report: held-out faces by the dataset's own groups, with the colour shift on the face."""

import json

import numpy as np
import torch
import yaml

from evaluation import face_report
from tests.conftest import natural_image


def _faces_run(tmp_path, races=(0, 0, 1, 1, 2, 0)):
    photos = tmp_path / "photos"
    photos.mkdir()
    rows = []
    for i, race in enumerate(races):
        name = f"face_utk_{i:05d}.jpg"
        natural_image(48, 48, seed=i).save(photos / name)
        original = f"crop_part1/{20 + i}_1_{race}_2017010920084688{i}.jpg.chip.jpg"
        rows.append(f"{name},utkface,owner/repo,abc,{original},48,48,")
    natural_image(48, 64, seed=99).save(photos / "flowers_00001.jpg")  # held out too, but not a UTKFace photo
    rows.append("flowers_00001.jpg,flowers,owner/repo,abc,flowers/rose/1.jpg,64,48,rose")
    (photos / "manifest.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": [str(photos)], "val_fraction": 0.99, "seed": 0}))
    return run, photos


def test_utk_groups_reads_the_race_label_of_utkface_rows_only(tmp_path):
    _, photos = _faces_run(tmp_path)
    groups = face_report.utk_groups(photos / "manifest.csv")
    assert groups == {"face_utk_00000.jpg": "White", "face_utk_00001.jpg": "White", "face_utk_00002.jpg": "Black",
                      "face_utk_00003.jpg": "Black", "face_utk_00004.jpg": "Asian", "face_utk_00005.jpg": "White"}


def test_central_shift_sees_a_red_face_and_not_a_red_border():
    truth = torch.full((1, 3, 40, 40), 128.0, dtype=torch.float64)
    red_face = truth.clone()
    red_face[:, 0, 10:30, 10:30] = 200  # more red in the centre: +a
    red_border = truth.clone()
    red_border[:, 0, :5] = 200  # only outside the central half
    da, db = face_report.central_shift(red_face, truth)
    assert da > 10 and abs(db) < da
    assert face_report.central_shift(red_border, truth) == (0.0, 0.0)


def test_report_per_group_and_checkpoint(tmp_path, tiny_checkpoint, capsys):
    run, _ = _faces_run(tmp_path)
    out = tmp_path / "faces.json"
    assert face_report.main(["--run", str(run), "--checkpoints", tiny_checkpoint, "--json", str(out),
                             "--markdown", str(tmp_path / "faces.md")]) == 0
    results = json.loads(out.read_text())
    (per_group,) = results.values()
    assert {g: v["photos"] for g, v in per_group.items()} == {"White": 3, "Black": 2, "Asian": 1, "all": 6}
    assert all(np.isfinite(v["shift_a"]) and np.isfinite(v["gain_db"]) for v in per_group.values())
    table = (tmp_path / "faces.md").read_text()
    assert table.splitlines()[2].startswith("| White | 3 |") and "| **all** | 6 |" in table


def test_report_without_utkface_photos_says_so(tmp_path, tiny_checkpoint, capsys):
    run, photos = _faces_run(tmp_path)
    (photos / "manifest.csv").write_text("flowers_00001.jpg,flowers,owner/repo,abc,flowers/rose/1.jpg,64,48,rose\n")
    assert face_report.main(["--run", str(run), "--checkpoints", tiny_checkpoint]) == 2
    assert "none of the held-out photos" in capsys.readouterr().err
