import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize import cli
from tests.conftest import natural_image


def photo_folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    natural_image(60, 90, seed=1).convert("L").save(root / "a.jpg")
    natural_image(33, 21, seed=2).convert("L").save(root / "sub" / "b.png")
    natural_image(40, 30, seed=3).convert("L").save(root / "sub" / "c.jpg")
    return root


def predict(*args: object) -> int:
    return cli.main(["predict", *map(str, args), "--render-size", "32", "--device", "cpu"])


def test_predict_keeps_the_tree_and_sums_up_what_failed(tmp_path, tiny_checkpoint, capsys):
    src = photo_folder(tmp_path / "in")
    (src / "broken.jpg").write_text("this is not an image")
    natural_image(96, 128).convert("L").save(src / "sub" / "cut.jpg", quality=95)
    whole = (src / "sub" / "cut.jpg").read_bytes()
    (src / "sub" / "cut.jpg").write_bytes(whole[:len(whole) // 2])  # a download that stopped halfway
    out = tmp_path / "out"
    code = predict(src, tmp_path / "missing.png", "--out", out, "--checkpoint", tiny_checkpoint)
    err = capsys.readouterr().err
    assert code == 1  # some inputs failed, the rest were done
    assert "colorized 3 of 6 images" in err and "skipped 0" in err and "failed 3" in err
    assert f"failed {src / 'broken.jpg'}: not a readable image" in err
    assert f"failed {src / 'sub' / 'cut.jpg'}: not a readable image (image file is truncated" in err
    assert f"failed {tmp_path / 'missing.png'}: cannot open" in err
    assert Image.open(out / "a.png").size == (90, 60)
    assert Image.open(out / "sub" / "b.png").size == (21, 33)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.png", "sub", "sub/b.png",
                                                                             "sub/c.png"]


def test_a_second_run_skips_what_exists_and_redoes_what_is_missing(tmp_path, tiny_checkpoint, capsys):
    src, out = photo_folder(tmp_path / "in"), tmp_path / "out"
    assert predict(src, "--out", out, "--checkpoint", tiny_checkpoint) == 0
    capsys.readouterr()
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert predict(src, "--out", out, "--checkpoint", tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert "colorized 0 of 3 images" in err and "skipped 3" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == mtimes  # nothing was written again
    (out / "sub" / "b.png").unlink()
    assert predict(src, "--out", out, "--checkpoint", tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert "colorized 1 of 3 images" in err and "skipped 2" in err
    assert (out / "sub" / "b.png").exists() and (out / "a.png").stat().st_mtime_ns == mtimes[out / "a.png"]
    assert predict(src, "--out", out, "--checkpoint", tiny_checkpoint, "--overwrite") == 0
    assert "colorized 3 of 3 images" in capsys.readouterr().err


def test_two_jobs_give_the_same_outputs_as_one(tmp_path, tiny_checkpoint):
    src = photo_folder(tmp_path / "in")
    pictures = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        assert predict(src, "--out", out, "--checkpoint", tiny_checkpoint, "--jobs", jobs) == 0
        pictures[jobs] = {p.relative_to(out): np.asarray(Image.open(p), dtype=int) for p in out.rglob("*.png")}
    assert pictures["1"].keys() == pictures["2"].keys() and len(pictures["1"]) == 3
    for name, picture in pictures["1"].items():
        # --jobs 2 gives each job half the cores: torch may sum in another order, a level of rounding at most
        assert np.abs(picture - pictures["2"][name]).max() <= 1, name


def outputs(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*.png")}


@pytest.mark.parametrize("env", [{"JOB_COMPLETION_INDEX": "{i}"},
                                 {"CLOUD_RUN_TASK_INDEX": "{i}", "CLOUD_RUN_TASK_COUNT": "3"}])
def test_a_jobs_environment_picks_the_shard_the_flags_pick(tmp_path, tiny_checkpoint, monkeypatch, env, capsys):
    src = photo_folder(tmp_path / "in")
    for n in range(5):
        natural_image(12, 12, seed=n).convert("L").save(src / f"more{n}.png")
    by_flags, by_env = [], []
    for i in range(3):
        assert predict(src, "--out", tmp_path / f"f{i}", "--checkpoint", tiny_checkpoint,
                       "--shard-index", i, "--shard-count", 3) == 0
        by_flags.append(outputs(tmp_path / f"f{i}") if (tmp_path / f"f{i}").exists() else set())
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value.format(i=i))
            count = [] if "CLOUD_RUN_TASK_COUNT" in env else ["--shard-count", 3]
            assert predict(src, "--out", tmp_path / f"e{i}", "--checkpoint", tiny_checkpoint, *count) == 0
        by_env.append(outputs(tmp_path / f"e{i}") if (tmp_path / f"e{i}").exists() else set())
    assert by_env == by_flags
    assert sum(map(len, by_flags)) == len(set().union(*by_flags)) == 8  # every photo, each in one shard
    assert "shard 2 of 3 (0-based)" in capsys.readouterr().err


def test_a_shard_without_photos_succeeds(tmp_path, tiny_checkpoint, capsys):
    natural_image(10, 10).convert("L").save(tmp_path / "only.png")
    shards = [predict(tmp_path / "only.png", "--out", tmp_path / "o", "--checkpoint", tiny_checkpoint,
                      "--shard-index", i, "--shard-count", 4) for i in range(4)]
    assert shards == [0, 0, 0, 0]
    assert outputs(tmp_path / "o") == {"only.png"}
    assert capsys.readouterr().err.count(": 0 of 1 images") == 3


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--jobs", "0"], {}, "--jobs must be at least 1"),
    (["--shard-index", "3", "--shard-count", "3"], {}, "not in 0..2"),
    ([], {"JOB_COMPLETION_INDEX": "0"}, "needs a shard count"),
])
def test_bad_batch_settings_are_clear_errors(tmp_path, tiny_checkpoint, capsys, monkeypatch, args, env, message):
    natural_image(10, 10).save(tmp_path / "x.png")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert predict(tmp_path / "x.png", "--out", tmp_path / "o", "--checkpoint", tiny_checkpoint, *args) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_progress_in_a_log_is_lines_not_a_bar(capsys):
    """In a Job's log (no terminal) progress is whole lines: a bar's carriage returns would make one line."""
    progress = cli._Progress(3, interval_s=0)
    for outcome in ("done", "skipped", "failed"):
        progress(None, outcome)
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "3 of 3: 1 done, 1 skipped, 1 failed" and not any("\r" in line for line in lines)


def test_a_bad_device_is_a_clear_error(tmp_path, tiny_checkpoint, capsys):
    natural_image(10, 10).save(tmp_path / "x.png")
    code = cli.main(["predict", str(tmp_path / "x.png"), "--out", str(tmp_path / "o"),
                     "--checkpoint", tiny_checkpoint, "--device", "foo"])
    assert code == 2 and "not a device name" in capsys.readouterr().err


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    natural_image(10, 10).save(tmp_path / "x.png")
    code = cli.main(["predict", str(tmp_path / "x.png"), "--out", str(tmp_path / "o"),
                     "--checkpoint", str(tmp_path / "nope.safetensors")])
    assert code == 2 and "checkpoint not found" in capsys.readouterr().err


def test_module_entry_point_jpeg_output(tmp_path, tiny_checkpoint):
    natural_image(48, 64).convert("L").save(tmp_path / "g.png")
    proc = subprocess.run(
        [sys.executable, "-m", "colorize", "predict", str(tmp_path / "g.png"), "--out", str(tmp_path / "o"),
         "--checkpoint", tiny_checkpoint, "--format", "jpg", "--render-size", "32"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = Image.open(tmp_path / "o" / "g.jpg")
    assert out.format == "JPEG" and out.size == (64, 48)
    assert np.asarray(out).ndim == 3


def test_openvino_runtime_gives_the_same_picture(tmp_path, tiny_checkpoint):
    import pytest

    from colorize.engine import openvino_available

    if not openvino_available():
        pytest.skip("OpenVINO is not installed")
    natural_image(60, 90, seed=3).convert("L").save(tmp_path / "a.png")
    outs = {}
    for engine in ("torch", "openvino"):
        code = cli.main(["predict", str(tmp_path / "a.png"), "--out", str(tmp_path / engine), "--checkpoint",
                         tiny_checkpoint, "--render-size", "64", "--device", "cpu", "--runtime", engine])
        assert code == 0
        outs[engine] = np.asarray(Image.open(tmp_path / engine / "a.png"), dtype=np.float32)
    assert outs["torch"].shape == outs["openvino"].shape == (60, 90, 3)
    assert np.abs(outs["torch"] - outs["openvino"]).max() <= 2  # fp32 both: rounding only


def test_openvino_runtime_on_a_gpu_is_refused(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    natural_image(10, 10).save(tmp_path / "x.png")
    monkeypatch.setattr("colorize.engine.resolve_device", lambda name: "cuda")
    monkeypatch.setattr("colorize.checkpoint.load_model", lambda *a, **k: (None, {}))
    code = cli.main(["predict", str(tmp_path / "x.png"), "--out", str(tmp_path / "o"), "--checkpoint",
                     tiny_checkpoint, "--runtime", "openvino"])
    assert code == 2 and "CPU" in capsys.readouterr().err


def test_model_picks_a_shipped_checkpoint_by_name(tmp_path, monkeypatch, capsys):
    import torch

    from colorize.checkpoint import save_model
    from colorize.models import create_model

    paths = []
    for name, fill in (("bright", 0.2), ("dull", -0.2)):
        model = create_model("unet_resnet18", decoder_channels=(16, 16, 16, 16, 8))
        torch.nn.init.constant_(model.head.bias, fill)
        paths.append(tmp_path / f"{name}.safetensors")
        save_model(model, paths[-1], {"model_name": name})
    monkeypatch.setattr("colorize.SHIPPED_CHECKPOINTS", paths)
    natural_image(40, 40).convert("L").save(tmp_path / "x.png")
    answers = {}
    for name in ("bright", "dull"):
        assert cli.main(["predict", str(tmp_path / "x.png"), "--out", str(tmp_path / name), "--model", name]) == 0
        answers[name] = np.asarray(Image.open(tmp_path / name / "x.png").convert("RGB"), dtype=float)
    assert np.abs(answers["bright"] - answers["dull"]).mean() > 5  # each name gave its own model
    assert cli.main(["predict", str(tmp_path / "x.png"), "--out", str(tmp_path / "o"), "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "bright, dull" in err


@pytest.fixture(scope="module")
def hint_checkpoint(tmp_path_factory) -> Path:
    import torch

    from colorize.checkpoint import save_model
    from colorize.models import with_hints
    from tests.conftest import random_colour_model

    torch.manual_seed(3)
    model = with_hints(random_colour_model("unet_resnet18"))
    with torch.no_grad():
        model.hint_blocks[-1].conv[0][0].weight[:, -3:].normal_(0, 2.0)  # hints move the answer
    path = tmp_path_factory.mktemp("ckpt") / "hints.safetensors"
    save_model(model, path)
    return path


def test_hints_from_flags_and_a_file_change_the_answer(tmp_path, hint_checkpoint):
    natural_image(60, 90, seed=1).convert("L").save(tmp_path / "a.png")
    assert predict(tmp_path / "a.png", "--out", tmp_path / "plain", "--checkpoint", hint_checkpoint) == 0
    (tmp_path / "h.json").write_text('[{"x": 80, "y": 50, "color": "#ff2000"}]')
    code = predict(tmp_path / "a.png", "--out", tmp_path / "hinted", "--checkpoint", hint_checkpoint,
                   "--hint", "10,12,#2040ff", "--hints", tmp_path / "h.json")
    assert code == 0
    plain = np.asarray(Image.open(tmp_path / "plain" / "a.png"), dtype=np.int16)
    hinted = np.asarray(Image.open(tmp_path / "hinted" / "a.png"), dtype=np.int16)
    assert np.abs(hinted - plain).max() > 3


@pytest.mark.parametrize("flags, message", [
    (["--hint", "10,12"], "write X,Y,#RRGGBB"),
    (["--hint", "a,12,#ffffff"], "X and Y must be numbers"),
    (["--hint", "10,12,blue"], "hint 0: color must be '#rrggbb'"),
    (["--hints", "missing.json"], "--hints missing.json"),
])
def test_bad_hints_stop_before_any_work(tmp_path, hint_checkpoint, capsys, flags, message):
    natural_image(60, 90).convert("L").save(tmp_path / "a.png")
    assert predict(tmp_path / "a.png", "--out", tmp_path / "out", "--checkpoint", hint_checkpoint, *flags) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out" / "a.png").exists()


def test_a_hint_outside_a_photo_fails_that_photo(tmp_path, hint_checkpoint, capsys):
    natural_image(60, 90).convert("L").save(tmp_path / "a.png")
    code = predict(tmp_path / "a.png", "--out", tmp_path / "out", "--checkpoint", hint_checkpoint,
                   "--hint", "500,12,#ffffff")
    err = capsys.readouterr().err
    assert code == 1 and "hint 0: x=500 is outside the image (0 <= x < 90)" in err
    assert "not a readable image" not in err  # the photo is fine; the hint is not


def test_hints_for_a_model_without_them_are_refused(tmp_path, tiny_checkpoint, capsys):
    natural_image(60, 90).convert("L").save(tmp_path / "a.png")
    code = predict(tmp_path / "a.png", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint,
                   "--hint", "1,1,#ffffff")
    assert code == 2 and "does not take colour hints" in capsys.readouterr().err


def test_vividness_makes_the_answer_more_colourful(tmp_path, vivid_checkpoint):
    src = tmp_path / "in"
    src.mkdir()
    natural_image(48, 64, seed=6).convert("L").save(src / "p.png")
    chroma = {}
    for v in ("0", "1"):
        assert predict(src, "--out", tmp_path / v, "--checkpoint", vivid_checkpoint, "--vividness", v) == 0
        rgb = np.asarray(Image.open(tmp_path / v / "p.png").convert("RGB"), dtype=np.int16)
        chroma[v] = (rgb.max(2) - rgb.min(2)).mean()
    assert chroma["1"] > chroma["0"]


@pytest.mark.parametrize("value, checkpoint, message", [
    ("1.5", "vivid_checkpoint", "--vividness: vividness must be a number from 0"),
    ("0.5", "tiny_checkpoint", "has no colour distribution, so --vividness does not apply"),
])
def test_a_vividness_that_cannot_apply_stops_before_any_work(tmp_path, request, capsys, value, checkpoint, message):
    src = photo_folder(tmp_path / "in")
    code = predict(src, "--out", tmp_path / "out", "--checkpoint", request.getfixturevalue(checkpoint),
                   "--vividness", value)
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))
