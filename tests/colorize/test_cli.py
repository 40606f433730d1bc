import subprocess
import sys

import numpy as np
from PIL import Image

from colorize import cli
from tests.conftest import natural_image


def test_predict_many_files_and_a_bad_one(tmp_path, tiny_checkpoint, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    natural_image(60, 90, seed=1).convert("L").save(src / "a.jpg")
    natural_image(33, 21, seed=2).convert("L").save(src / "sub" / "b.png")
    (src / "broken.jpg").write_text("this is not an image")
    out = tmp_path / "out"
    code = cli.main(["predict", str(src), str(tmp_path / "missing.png"), "--out", str(out),
                     "--checkpoint", tiny_checkpoint, "--render-size", "32", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1  # some inputs failed, the rest were done
    assert "broken.jpg: not a readable image" in err and "missing.png: cannot open" in err
    assert "colorized 2 of 4" in err
    assert Image.open(out / "a.png").size == (90, 60)
    assert Image.open(out / "b.png").size == (21, 33)


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
