"""Growing a distribution head (training.build.distribution_model, losses.distribution_loss) on a trained model,
and ``precision: auto``, which times the candidates on this machine and keeps the fastest."""

import json

import torch

from colorize.checkpoint import load_model
from scripts import make_ab_prior
from training import train
from training.config import build_config


def test_a_distribution_head_trains_on_a_frozen_encoder_and_regression_head(tmp_path, image_folder,
                                                                            tiny_checkpoint):
    prior = tmp_path / "prior.json"
    assert make_ab_prior.main(["--data", str(image_folder), "--out", str(prior)]) == 0
    made = json.loads(prior.read_text())
    assert len(made["centres"]) == len(made["weights"]) == 261 and (made["photos"], made["skipped"]) == (30, 2)
    out = tmp_path / "run"
    args = ["--data", str(image_folder), "--arch", "unet_resnet18", "--init-from", tiny_checkpoint,
            "--batch-size", "4", "--crop-size", "64", "--workers", "0", "--max-steps", "6", "--val-every", "3",
            "--precision", "fp32", "--out", str(out)]
    (tmp_path / "c.yaml").write_text(f"prior: {prior}\nlr: 0.01\n")
    assert train.main(["--config", str(tmp_path / "c.yaml"), *args]) == 0
    start, _ = load_model(tiny_checkpoint)
    trained, meta = load_model(out / "best.safetensors")
    assert trained.config.colour_bins == 261
    assert torch.allclose(trained.class_head.log_weights.exp(), torch.tensor(made["weights"]), rtol=1e-2)
    before, after = start.state_dict(), trained.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder.", "head.")))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("blocks."))
    rows = (out / "train_log.csv").read_text().splitlines()[1:]
    assert all(float(r.split(",")[3]) > 0 for r in rows)  # the cross-entropy, logged as the loss
    x = torch.rand(1, 1, 40, 56) * 100
    with torch.inference_mode():
        assert trained(x).shape == (1, 2, 40, 56)


def test_precision_auto_times_the_candidates_and_keeps_the_fastest(tmp_path, image_folder, capsys):
    cfg = build_config(None, {"data": [str(image_folder)], "arch": "unet_resnet18", "batch_size": 2,
                              "crop_size": 32, "workers": 0, "precision": "auto", "device": "cpu",
                              "max_steps": 1000, "out": str(tmp_path)})
    chosen = train.timed_precision(cfg, train.Trainer)
    report = json.loads((tmp_path / "precision.json").read_text())
    measured = {(r["precision"], r["channels_last"]): r["images_per_s"] for r in report["measured"]}
    assert {("fp32", False), ("fp32", True)} <= set(measured)
    best = max(measured, key=measured.get)
    assert (chosen.precision, chosen.channels_last) == best
    assert "precision auto: training in" in capsys.readouterr().out
    assert train.timed_precision(build_config(None, {"precision": "fp32"}), train.Trainer).precision == "fp32"
