"""training.shipping.average (weight averaging of one run's snapshots) and the trainer's ``snapshots`` option."""

import pytest
import torch
import yaml

from colorize import lab
from colorize.checkpoint import load_model, read_metadata
from tests.conftest import random_colour_model
from training import train
from training.data import ColourImages, list_images
from training.shipping import average


def test_average_state_is_the_mean_of_floats_and_keeps_counters():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(9)}
    out = average.average_state([a, b])
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0]))
    assert out["n"].item() == 5
    with pytest.raises(ValueError, match="same tensors"):
        average.average_state([a, {"w": a["w"]}])
    with pytest.raises(ValueError):
        average.average_state([])


def test_weighted_average_interpolates_between_checkpoints():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(9)}
    assert torch.allclose(average.average_state([a, b], [3, 1])["w"], torch.tensor([1.5, 3.0]))
    assert torch.equal(average.average_state([a, b], [0, 1])["w"], b["w"])  # one end is that checkpoint
    with pytest.raises(ValueError, match="2 checkpoints"):
        average.average_state([a, b], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        average.average_state([a, b], [1.0, -1.0])


def test_batchnorm_statistics_are_measured_on_the_crops(image_folder):
    model = random_colour_model("unet_resnet18")
    bn = model.encoder.stem[1]
    bn.running_mean.fill_(1000.0)
    seen = []
    hook = model.encoder.stem[0].register_forward_hook(lambda m, i, o: seen.append(o.mean(dim=(0, 2, 3))))
    crops = ColourImages(list_images([image_folder]), 32, train=True, seed=1)
    average.reestimate_batchnorm(model, crops, batches=3, batch_size=4)
    hook.remove()
    assert len(seen) == 3
    assert torch.allclose(bn.running_mean, torch.stack(seen).mean(0), atol=1e-4)
    assert bn.momentum == 0.1 and not model.training  # left as it was (eval)


def test_a_run_keeps_snapshots_and_they_average_into_a_validated_checkpoint(tmp_path, image_folder, capsys):
    run = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"snapshots": True}))
    assert train.main(["--config", str(config), "--data", str(image_folder), "--out", str(run), "--arch",
                       "unet_resnet18", "--batch-size", "4", "--crop-size", "32", "--workers", "0",
                       "--max-steps", "4", "--val-every", "2"]) == 0
    snaps = sorted((run / "snapshots").glob("*.safetensors"))
    assert [p.name for p in snaps] == ["step_0000002.safetensors", "step_0000004.safetensors"]
    assert [read_metadata(p)["training"]["step"] for p in snaps] == [2, 4]

    out = tmp_path / "avg.safetensors"
    assert average.main(["--run", str(run), "--checkpoints", *map(str, snaps), "--out", str(out),
                         "--bn-batches", "2"]) == 0
    got, meta = load_model(out)
    first, second = load_model(snaps[0])[0], load_model(snaps[1])[0]
    w = "encoder.layer1.0.conv1.weight"
    assert torch.allclose(got.state_dict()[w], (first.state_dict()[w] + second.state_dict()[w]) / 2, atol=1e-6)
    assert meta["training"]["averaged"]["steps"] == [2, 4]
    assert meta["metrics"]["validation"]["psnr"] > 5
    assert '"steps": [2, 4]' in capsys.readouterr().out

    assert average.main(["--run", str(run), "--checkpoints", *map(str, snaps), "--out", str(out),
                         "--weights", "1", "3", "--bn-batches", "0"]) == 0
    got, meta = load_model(out)
    a, b = first.state_dict(), second.state_dict()
    gap = {k: (a[k] - b[k]).abs().max().item() for k in a if a[k].is_floating_point()}
    k = max(gap, key=gap.get)  # the tensor the two snapshots differ most in: where the weights show
    assert gap[k] > 1e-5
    assert torch.allclose(got.state_dict()[k], (a[k] + 3 * b[k]) / 4, rtol=0, atol=gap[k] / 100)
    assert not torch.allclose(got.state_dict()[k], (a[k] + b[k]) / 2, rtol=0, atol=gap[k] / 100)
    assert meta["training"]["averaged"]["weights"] == [0.25, 0.75]
    assert average.main(["--run", str(run), "--checkpoints", *map(str, snaps), "--out", str(out),
                         "--weights", "1"]) == 2

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    assert average.main(["--run", str(run), "--checkpoints", str(broken), "--out", str(out)]) == 2


def test_batchnorm_statistics_follow_the_given_order():
    model = random_colour_model("unet_resnet18")
    bright = [torch.full((3, 32, 32), 230, dtype=torch.uint8)] * 4
    dark = [torch.randint(0, 60, (3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(i))
            for i in range(4)]
    crops = bright + dark
    seen = []
    hook = model.encoder.stem[0].register_forward_hook(lambda m, i, o: seen.append(o.mean(dim=(0, 2, 3))))
    average.reestimate_batchnorm(model, crops, batches=1, batch_size=4, order=[4, 5, 6, 7])
    hook.remove()
    with torch.no_grad():
        want = model.encoder.stem[0](lab.normalize_l(lab.rgb_to_lab(torch.stack(dark).float() / 255)[:, :1]))
    assert torch.allclose(model.encoder.stem[1].running_mean, want.mean(dim=(0, 2, 3)), atol=1e-4)
