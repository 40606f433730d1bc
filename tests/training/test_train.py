import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from colorize.checkpoint import load_model
from tests.conftest import stop_process_group
from training import train
from training.config import ConfigError, build_config
from training.data import ColourImages, ResumableSampler, list_images, name_weights, split_files

ROOT = Path(__file__).resolve().parents[2]
BASE = ["--arch", "unet_resnet18", "--batch-size", "4", "--crop-size", "32", "--workers", "0", "--seed", "3"]


def _run(tmp_path, folder, *extra):
    return train.main(["--data", str(folder), "--out", str(tmp_path), *BASE, *extra])


def test_smoke_run_writes_every_output_and_resumes(tmp_path, image_folder):
    out = tmp_path / "run"
    assert _run(out, image_folder, "--max-steps", "4", "--val-every", "2") == 0
    for name in ("config.yaml", "last.pt", "best.safetensors", "best.json", "train_log.csv", "val_log.csv",
                 "loss_curve.png"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert any((out / "tensorboard").iterdir())
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["arch"] == "unet_resnet18" and resolved["max_steps"] == 4
    model, meta = load_model(out / "best.safetensors")
    assert meta["training"]["data"]["n_train"] > 0 and "psnr" in meta["metrics"]["validation"]
    val = list(csv.DictReader((out / "val_log.csv").open()))
    assert [int(r["step"]) for r in val] == [2, 4]
    assert float(val[0]["grey_psnr"]) > 5

    # continue the same run to 6 steps with --resume ...
    assert _run(out, image_folder, "--max-steps", "6", "--val-every", "2", "--resume") == 0
    resumed = torch.load(out / "last.pt", weights_only=False)
    assert resumed["step"] == 6
    # ... and it matches a run that went to 6 steps without stopping (same data order, same crops)
    straight = tmp_path / "straight"
    assert _run(straight, image_folder, "--max-steps", "6", "--val-every", "2") == 0
    reference = torch.load(straight / "last.pt", weights_only=False)
    for k, v in reference["model"].items():
        assert torch.allclose(v.float(), resumed["model"][k].float(), atol=1e-5), k


def test_max_minutes_ends_the_run_on_time_over_several_epochs(tmp_path, image_folder):
    out = tmp_path / "timed"
    start = time.monotonic()
    # 29 photos, 2% held out, batches of 4: 7 steps per epoch; 12 s allow dozens of epochs on any machine,
    # so the run can only end through the budget. In this process, no data-loading workers: forking them
    # after other tests loaded OpenVINO's thread pool crashed pytest (the signal test below runs workers in
    # a process of their own).
    assert _run(out, image_folder, "--max-minutes", "0.2", "--val-every", "40", "--warmup-steps", "2") == 0
    took = time.monotonic() - start
    state = torch.load(out / "last.pt", weights_only=False)
    rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert state["epoch"] >= 2 and state["step"] > 20
    assert took < 12 + 30  # the budget, plus start-up and the last validation
    assert int(rows[-1]["phase"]) == 2  # the fitted schedule reached its MSE phase before the end
    assert (out / "best.safetensors").is_file()
    # the learning rate followed the fitted schedule down to its end (2% of the peak at the last step)
    assert float(rows[-1]["lr"]) < 0.1 * max(float(r["lr"]) for r in rows)


def test_max_minutes_fits_an_all_mse_fine_tuning_run_too(tmp_path, image_folder):
    out = tmp_path / "tuned"
    assert _run(out, image_folder, "--max-minutes", "0.15", "--finetune-fraction", "1", "--warmup-steps", "2",
                "--val-every", "1000") == 0
    rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert {r["phase"] for r in rows} == {"2"}
    assert float(rows[-1]["lr"]) < 0.1 * max(float(r["lr"]) for r in rows)  # fitted and decayed, not held


def test_init_from_starts_a_fine_tuning_run_from_a_checkpoint(tmp_path, image_folder, capsys):
    first = tmp_path / "first"
    assert _run(first, image_folder, "--max-steps", "2") == 0
    start, _ = load_model(first / "best.safetensors")
    tuned = tmp_path / "tuned"
    # a learning rate too small to move the weights: the run begins where the checkpoint ended, all in phase 2
    assert _run(tuned, image_folder, "--max-steps", "2", "--init-from", str(first / "best.safetensors"),
                "--lr", "1e-12", "--finetune-fraction", "1", "--warmup-steps", "1") == 0
    state = torch.load(tuned / "last.pt", weights_only=False)
    convs = [k for k, v in start.state_dict().items() if k.endswith("conv1.weight")]
    assert convs and all(torch.allclose(state["model"][k], start.state_dict()[k], atol=1e-8) for k in convs)
    assert {r["phase"] for r in csv.DictReader((tuned / "train_log.csv").open())} == {"2"}
    # a checkpoint of another architecture, or none, stops with a message
    assert _run(tmp_path / "other", image_folder, "--max-steps", "1", "--arch", "unet_resnet34",
                "--init-from", str(first / "best.safetensors")) == 2
    assert "holds unet_resnet18, not unet_resnet34" in capsys.readouterr().out
    missing = str(tmp_path / "no.safetensors")
    assert _run(tmp_path / "none", image_folder, "--max-steps", "1", "--init-from", missing) == 2
    assert "checkpoint not found" in capsys.readouterr().out


def test_freeze_encoder_trains_the_decoder_and_leaves_the_encoder_as_it_came(tmp_path, image_folder):
    first = tmp_path / "first"
    assert _run(first, image_folder, "--max-steps", "1") == 0
    cfg = build_config(None, {"data": [str(image_folder)], "arch": "unet_resnet18", "batch_size": 2,
                              "crop_size": 32, "workers": 0, "max_steps": 2, "lr": 1e-2, "freeze_encoder": True,
                              "init_from": str(first / "best.safetensors"), "out": str(tmp_path / "frozen")})
    trainer = train.Trainer(cfg)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    loader = iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=2))
    trainer.train_step(next(loader))
    trainer.train_step(next(loader))
    after = trainer.model.state_dict()
    # every encoder tensor, BatchNorm statistics included, is bit for bit the checkpoint's; the decoder moved
    assert all(torch.equal(v, after[k]) for k, v in before.items() if k.startswith("encoder."))
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert not trainer.model.encoder.training and trainer.model.blocks.training


def test_resume_without_state_is_a_clear_error(tmp_path, image_folder, capsys):
    assert _run(tmp_path / "empty", image_folder, "--max-steps", "2", "--resume") == 2
    assert "last.pt does not exist" in capsys.readouterr().out


def test_one_gan_step_updates_generator_and_critic(tmp_path, image_folder):
    cfg = build_config(None, {"data": [str(image_folder)], "arch": "unet_resnet18", "batch_size": 2,
                              "crop_size": 32, "workers": 0, "gan": True, "max_steps": 1,
                              "out": str(tmp_path)})
    trainer = train.Trainer(cfg)
    g0 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    c0 = {k: v.clone() for k, v in trainer.critic.state_dict().items()}
    batch = next(iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=2)))
    row = trainer.train_step(batch)
    assert row["d_loss"] > 0 and row["loss"] > 0
    assert any(not torch.equal(v, trainer.model.state_dict()[k]) for k, v in g0.items())
    assert any(not torch.equal(v, trainer.critic.state_dict()[k]) for k, v in c0.items())
    assert all(p.requires_grad for p in trainer.critic.parameters())  # unfrozen after the generator step


def test_gan_pretraining_skips_the_critic(tmp_path, image_folder):
    cfg = build_config(None, {"data": [str(image_folder)], "arch": "unet_resnet18", "batch_size": 2,
                              "crop_size": 32, "workers": 0, "gan": True, "gan_pretrain_steps": 5,
                              "out": str(tmp_path)})
    trainer = train.Trainer(cfg)
    batch = next(iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=2)))
    assert trainer.train_step(batch)["d_loss"] == ""


def test_loss_phases_follow_the_schedule(tmp_path, image_folder):
    cfg = build_config(None, {"data": [str(image_folder)], "max_steps": 10, "finetune_fraction": 0.3,
                              "arch": "unet_resnet18", "batch_size": 2, "out": str(tmp_path)})
    trainer = train.Trainer(cfg)
    phases = []
    for step in range(10):
        trainer.step = step
        phases.append(trainer.phase())
    assert phases == [1] * 7 + [2] * 3


@pytest.mark.parametrize("yaml_text, message", [
    ("arch: unet_resnet34\nlearning_rate: 0.1\n", "unknown config key(s): learning_rate"),
    ("batch_size: many\n", "batch_size: expected a number"),
    ("batch_size: 2.5\n", "batch_size: expected an integer"),
    ("arch: unet_vgg\n", "arch: unknown model"),
    ("precision: fp8\n", "precision: 'fp8' is not one of"),
    ("lr: -1\n", "lr: must be > 0"),
    ("gan: maybe\n", "gan: expected true/false"),
    ("sample_weights: [1, 2]\n", "sample_weights: expected a mapping"),
    ("sample_weights: {intelscene_: 0}\n", "sample_weights: 'intelscene_' needs a positive number"),
    ("freeze_encoder: true\n", "freeze_encoder: the encoder must come trained"),
])
def test_bad_config_stops_with_a_message_naming_it(tmp_path, yaml_text, message, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config(path, {})
    assert train.main(["--config", str(path), "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().out


def test_shipped_configs_are_valid():
    from pathlib import Path

    for path in Path("training/configs").glob("*.yaml"):
        build_config(path, {})


def test_data_skips_grey_and_broken_and_split_is_stable(image_folder):
    files = list_images([image_folder])
    assert len(files) == 32  # 30 colour + grey + broken, recursively
    train_a, val_a = split_files(files, 0.2, seed=1)
    train_b, val_b = split_files(files, 0.2, seed=1)
    assert val_a == val_b and not set(train_a) & set(val_a) and len(val_a) == 6
    grey_and_broken = [f for f in files if f.name in ("grey.jpg", "broken.jpg")]
    ds = ColourImages(grey_and_broken + files[:1], 32, train=True)
    for i in range(3):
        crop = ds[(i, 0)]
        assert crop.shape == (3, 32, 32) and crop.dtype == torch.uint8
        assert (crop[0].int() - crop[1].int()).abs().float().mean() > 1  # a colour photo, not the grey one


def test_sampler_resumes_mid_epoch_and_splits_ranks():
    s = ResumableSampler(10, seed=0)
    s.set_position(epoch=2)
    full = list(s)
    s.set_position(epoch=2, start_sample=4)
    assert list(s) == full[4:] and len(s) == 6
    r0, r1 = ResumableSampler(10, 0, rank=0, world_size=2), ResumableSampler(10, 0, rank=1, world_size=2)
    assert not {i for i, _ in r0} & {i for i, _ in r1}


def test_weighted_sampler_draws_by_weight_and_resumes(tmp_path):
    files = [tmp_path / f"{p}_{i}.jpg" for p in ("intelscene", "flowers") for i in range(50)]
    weights = name_weights(files, {"intelscene_": 0.25, "flow": 1.0})
    assert weights[:50] == [0.25] * 50 and weights[50:] == [1.0] * 50
    assert name_weights(files, None) is None and name_weights(files, {"zzz": 2.0}) == [1.0] * 100
    s = ResumableSampler(100, seed=0, weights=weights)
    s.set_position(epoch=1)
    drawn = [i for i, _ in s]
    assert len(drawn) == 100
    assert sum(i < 50 for i in drawn) < 35  # about 20 of 100 from the quarter-weight half, never half of them
    s.set_position(epoch=1, start_sample=30)
    assert [i for i, _ in s] == drawn[30:]  # the same draws: a resumed run continues the same sequence
    with pytest.raises(ValueError):
        ResumableSampler(3, seed=0, weights=[1.0, 0.0, 1.0])
    assert build_config(None, {"sample_weights": {"intelscene_": 0.35}}).sample_weights == {"intelscene_": 0.35}


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_whole_process_group_saves_the_state(tmp_path, image_folder, stop):
    # Ctrl-C, `docker stop` and `kill -- -PGID` reach the data-loading worker as well as the trainer.
    out = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text("log_every: 1\n")
    cmd = [sys.executable, "-m", "training.train", "--config", str(config), "--data", str(image_folder),
           "--out", str(out), "--arch", "unet_resnet18", "--batch-size", "4", "--crop-size", "32",
           "--workers", "1", "--max-steps", "100000", "--val-every", "0"]
    # As run in a terminal: a shell that started these tests in the background made them ignore SIGINT.
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not _logged_steps(out) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert _logged_steps(out) >= 1, "the run never started"
        # The group's processes get the signal in no fixed order; the worker first is the case that
        # crashed the trainer, so make it happen every time, then signal the whole group.
        workers = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert workers, "no data-loading worker"
        for worker in workers:
            os.kill(int(worker), stop)
        time.sleep(1.0)
        os.killpg(proc.pid, stop)
        output, _ = proc.communicate(timeout=60)
    finally:
        stop_process_group(proc, signal.SIGKILL)  # a no-op once it has stopped by itself
    assert proc.returncode == 130, output[-2000:]
    assert "state saved to last.pt" in output
    assert torch.load(out / "last.pt", weights_only=False)["step"] >= 1


def test_a_stop_signal_dropped_where_it_landed_still_stops_the_run(tmp_path, image_folder, monkeypatch):
    # A signal during a worker's fork raises inside logging's at-fork handler, which drops the exception.
    from training import processes

    steps = []
    original = train.Trainer.train_step

    def step(self, batch):
        steps.append(len(steps) + 1)
        if len(steps) == 2:
            with contextlib.suppress(KeyboardInterrupt):
                processes.interrupt(signal.SIGTERM, None)
        return original(self, batch)

    monkeypatch.setattr(train.Trainer, "train_step", step)
    out = tmp_path / "run"
    assert train.main(["--data", str(image_folder), "--out", str(out), "--arch", "unet_resnet18",
                       "--batch-size", "4", "--crop-size", "32", "--workers", "0", "--max-steps", "50",
                       "--val-every", "0"]) == 130
    assert steps == [1, 2]
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 2
    assert not processes.stop_asked()  # the next run in this process is not stopped by it


def _logged_steps(out) -> int:
    path = out / "train_log.csv"
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def test_the_hash_split_keeps_each_photo_on_its_side_when_photos_are_added(tmp_path):
    from training.data import hash_split

    names = [tmp_path / f"photo_{i:04d}.jpg" for i in range(2000)]
    train, val = hash_split(names, 0.1)
    assert 150 < len(val) < 250 and not set(train) & set(val) and len(train) + len(val) == 2000
    more = names + [tmp_path / f"new_{i:04d}.jpg" for i in range(1000)]
    train2, val2 = hash_split(more, 0.1)
    assert set(val) <= set(val2) and set(train) <= set(train2)  # nobody moved
    assert val == [v for v in val2 if v in set(val)]  # hash order: the first n are a fair sample
    assert val != sorted(val)
