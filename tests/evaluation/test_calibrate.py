"""evaluation.calibrate and evaluation.render_study on a small run folder (random weights, tiny photos)."""

import json

import yaml

from colorize.checkpoint import load_model, read_metadata
from evaluation import calibrate, render_study


def make_run(tmp_path, image_folder):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": [str(image_folder)], "val_fraction": 0.3, "seed": 0}))
    return run


def make_two_source_run(tmp_path):
    """A run folder whose held-out photos (nearly all of them) come from two sources: 5 forest, 3 flower."""
    from tests.conftest import natural_image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        natural_image(48, 64, seed=i).save(photos / f"{'forest' if i < 5 else 'flower'}_{i:03d}.jpg")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": [str(photos)], "val_fraction": 0.99, "seed": 0}))
    return run


def test_calibrate_chooses_a_gain_and_stores_the_render_size(tmp_path, image_folder, tiny_checkpoint, capsys):
    run = make_run(tmp_path, image_folder)
    out = tmp_path / "shipped.safetensors"
    assert calibrate.main(["--run", str(run), "--checkpoint", tiny_checkpoint, "--out", str(out),
                           "--gains", "1.0", "3.0", "--limit", "6", "--render-size", "96"]) == 0
    meta = read_metadata(out)
    assert meta["render_size"] == 96
    assert meta["calibration"]["upscale"] == 1.0
    table = meta["calibration"]["table"]
    assert [row["gain"] for row in table] == [1.0, 3.0]
    assert table[1]["colourfulness"] > table[0]["colourfulness"]  # a larger gain gives more colour
    assert meta["calibration"]["chroma_gain"] in (1.0, 3.0)
    model, _ = load_model(out)
    assert model.config.chroma_gain == meta["calibration"]["chroma_gain"]
    assert "chosen gain" in capsys.readouterr().out
    assert calibrate.main(["--run", str(run), "--checkpoint", tiny_checkpoint, "--out", str(out),
                           "--upscale", "-1"]) == 2


def test_render_study_measures_each_size_beside_the_grey_baseline(tmp_path, image_folder, tiny_checkpoint):
    run = make_run(tmp_path, image_folder)
    out = tmp_path / "study.json"
    assert render_study.main(["--run", str(run), "--checkpoint", tiny_checkpoint, "--upscale", "2",
                              "--render-sizes", "32", "64", "--limit", "4", "--json", str(out),
                              "--markdown", str(tmp_path / "study.md")]) == 0
    result = json.loads(out.read_text())
    assert result["n"] == 4 and set(result["render_sizes"]) == {"32", "64"}
    assert 5 < result["grey_psnr"] < 60 and result["truth_colourfulness"] > 0
    for scores in result["render_sizes"].values():
        assert 5 < scores["psnr"] < 60 and 0 < scores["ssim"] <= 1
    assert "| 64 |" in (tmp_path / "study.md").read_text()
    assert render_study.main(["--run", str(run), "--checkpoint", tiny_checkpoint, "--upscale", "0"]) == 2


def test_source_report_groups_held_out_photos_by_name_prefix(tmp_path, tiny_checkpoint, capsys):
    from evaluation import source_report

    run = make_two_source_run(tmp_path)
    out = tmp_path / "sources.json"
    assert source_report.main(["--run", str(run), "--checkpoint", tiny_checkpoint, "--gains", "1.0", "2.0",
                               "--render-size", "64", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {k: v["n"] for k, v in result["sources"].items()} == {"flower": 3, "forest": 5}
    assert result["all"]["n"] == 8
    for g in ("1.0", "2.0"):
        per = [s["gains"][g]["psnr_over_grey"] for s in result["sources"].values()]
        assert abs(result["source_mean"][g]["psnr_over_grey"] - sum(per) / 2) < 1e-9
    assert result["all"]["gains"]["2.0"]["colour_ratio"] > result["all"]["gains"]["1.0"]["colour_ratio"]
    assert "| forest | 5 |" in capsys.readouterr().out


def _rows(source, n, truth, colour_per_gain):
    return [{"file": f"{source}_{i:03d}.jpg", "truth_colourfulness": truth,
             "gains": {g: {"colourfulness": c} for g, c in colour_per_gain.items()}} for i in range(n)]


def test_per_source_rule_waits_for_the_least_colourful_source():
    gains = [1.0, 1.2, 1.4]
    # A large source the model colours well and a smaller one it leaves dull: over all photos the bar
    # (0.5 of the truth's colourfulness) is reached at 1.0, within each source only at 1.4.
    rows = (_rows("scene", 40, 40.0, {1.0: 24.0, 1.2: 28.0, 1.4: 33.0})
            + _rows("dog", 10, 40.0, {1.0: 12.0, 1.2: 18.0, 1.4: 21.0})
            + _rows("tiny", 2, 40.0, {1.0: 1.0, 1.2: 1.0, 1.4: 1.0}))  # too few photos to count
    gain, reached, at = calibrate.choose_gain(rows, gains, 0.5)
    assert (gain, reached, set(at)) == (1.0, True, {"all"})
    gain, reached, at = calibrate.choose_gain(rows, gains, 0.5, per_source=True, min_source_photos=5)
    assert (gain, reached) == (1.4, True)
    assert set(at) == {"scene", "dog"} and abs(at["dog"] - 21.0 / 40.0) < 1e-9
    # Counting the two-photo source too, no gain reaches the bar: the largest is returned, marked so.
    gain, reached, _ = calibrate.choose_gain(rows, gains, 0.5, per_source=True, min_source_photos=1)
    assert (gain, reached) == (1.4, False)


def test_source_mean_rule_counts_each_source_once():
    gains = [1.0, 1.2, 1.4]
    # Many vivid photos of one source and a few dull ones of another: over all photos the bar (0.5) is
    # reached at 1.0 (the many carry the few); the mean of the two sources' ratios reaches it at 1.2
    # ((0.70 + 0.30) / 2 = 0.50), before the dull source alone would (never, here).
    rows = (_rows("face", 90, 40.0, {1.0: 26.0, 1.2: 28.0, 1.4: 30.0})
            + _rows("people", 10, 40.0, {1.0: 8.0, 1.2: 12.0, 1.4: 14.0}))
    assert calibrate.choose_gain(rows, gains, 0.5)[:2] == (1.0, True)
    gain, reached, at = calibrate.choose_gain(rows, gains, 0.5, source_mean=True)
    assert (gain, reached) == (1.2, True) and set(at) == {"face", "people"}
    assert calibrate.choose_gain(rows, gains, 0.5, per_source=True)[:2] == (1.4, False)


def test_calibrate_refuses_two_source_rules_before_measuring(tmp_path, capsys):
    # exits before it opens the run or the checkpoint, neither of which exists
    assert calibrate.main(["--run", str(tmp_path / "none"), "--out", str(tmp_path / "o.safetensors"),
                           "--per-source", "--source-mean"]) == 2
    assert "choose one of" in capsys.readouterr().err


def test_calibrate_per_source_records_its_rule(tmp_path, tiny_checkpoint, capsys):
    run = make_two_source_run(tmp_path)
    out = tmp_path / "shipped.safetensors"
    assert calibrate.main(["--run", str(run), "--checkpoint", tiny_checkpoint, "--out", str(out), "--gains", "1.0",
                           "2.0", "--per-source", "--min-source-photos", "3", "--render-size", "64"]) == 0
    cal = read_metadata(out)["calibration"]
    assert cal["rule"] == "each held-out source"
    assert set(cal["colour_ratio_at_gain"]) == {"flower", "forest"}
    assert "colour ratio per source" in capsys.readouterr().out
