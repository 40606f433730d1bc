import json

import pytest

import experiments.__main__ as study
from tests.conftest import natural_image


@pytest.mark.timeout(1500)
def test_tiny_chain_trains_evaluates_and_reports(tmp_path, monkeypatch):
    data, bench = tmp_path / "train", tmp_path / "bench"
    for i in range(12):
        (data).mkdir(exist_ok=True)
        natural_image(48, 64, seed=i).save(data / f"{i}.jpg")
    for name in ("setA", "setB"):
        (bench / name).mkdir(parents=True)
        for i in range(2):
            natural_image(40, 52, seed=100 + i).save(bench / name / f"{i}.png")
    tiny = dict(study.BUDGETS["tiny"], max_steps=2, val_every=1, crop_size=32, val_crop_size=32,
                val_max_images=4, warmup_steps=1, gan_pretrain=1, render_size=32)
    monkeypatch.setitem(study.BUDGETS, "tiny", tiny)
    out = tmp_path / "study"
    argv = ["--budget", "tiny", "--out", str(out), "--data", str(data), "--bench", str(bench / "setA"),
            str(bench / "setB"), "--device", "cpu", "--workers", "0"]
    assert study.main(argv) == 0
    report = (out / "REPORT.md").read_text()
    for name in ("unet_resnet18", "unet_resnet34", "unet_resnet50", "unet_resnet34_gan", "grey baseline"):
        assert name in report
    for fig in ("fig3_depth.png", "fig2_unet_vs_gan.png"):
        assert (out / fig).stat().st_size > 1000
    assert len((out / "checkpoints.sha256").read_text().splitlines()) == 4
    result = json.loads((out / "eval" / "unet_resnet34_gan.json").read_text())
    assert set(result["sets"]) == {"setA", "setB"}
    assert result["checkpoint"]["training"]["config"]["gan"] is True
    # a second call finds every run finished and only rewrites the report
    mtime = (out / "runs" / "unet_resnet18" / "best.safetensors").stat().st_mtime
    assert study.main(argv) == 0
    assert (out / "runs" / "unet_resnet18" / "best.safetensors").stat().st_mtime == mtime
