import urllib.error

import pytest
import torch
from torch import nn

from colorize.models import PretrainedWeightsUnavailable, create_model, list_models


def test_registry_has_the_resnets_and_the_pretrained_encoders():
    assert {"unet_resnet18", "unet_resnet34", "unet_resnet50", "unet_mobilenet_v2",
            "unet_efficientnet_lite0", "unet_efficientnet_lite2"} <= set(list_models())


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.encoder.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    nn.init.normal_(model.head.weight, std=0.1)  # the zero-initialised head would hide the gradient path
    lightness = torch.rand(2, 1, 64, 64) * 100
    ab = model(lightness)
    assert ab.shape == (2, 2, 64, 64)
    assert torch.isfinite(ab).all() and ab.abs().max() <= 110
    ab.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert first_conv(model).weight.grad.abs().sum() > 0  # reaches the first layer


@pytest.mark.parametrize("name", ["unet_resnet18", "unet_mobilenet_v2", "unet_efficientnet_lite2"])
@pytest.mark.parametrize("size", [(1, 1), (37, 45), (20, 300)])
def test_any_input_size(name, size):
    model = create_model(name).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, *size) * 100).shape == (1, 2, *size)


@pytest.mark.parametrize("name", list_models())
def test_starts_at_grey_baseline(name):
    model = create_model(name).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 32, 32) * 100).abs().max() == 0


@pytest.mark.parametrize("name", list_models())
def test_architecture_is_the_method(name):
    model = create_model(name)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    assert model.head.out_channels == 2
    feats = model.encoder(torch.rand(1, 1, 64, 64) * 100)
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]  # five taps, strides 2 ... 32
    assert [f.shape[1] for f in feats] == list(model.encoder.channels)
    if "resnet" in name:
        assert model.encoder.stem[0].in_channels == 1
        assert all(hasattr(model.encoder, f"layer{i}") for i in range(1, 5))  # all four stages
    assert model.config.name == name


def test_unknown_name_and_pretrained_value():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("unet_vgg16")
    with pytest.raises(ValueError, match="pretrained"):
        create_model("unet_resnet18", pretrained="places365")


def test_imagenet_weights_fail_clearly_without_network(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", "/nonexistent-torch-home")
    with pytest.raises(PretrainedWeightsUnavailable, match="ImageNet weights for resnet34"):
        create_model("unet_resnet34", pretrained="imagenet")


def test_imagenet_path_uses_the_weights_it_gets(monkeypatch):
    """With weights available (here: a fake download), the stem is the RGB stem summed over colour."""
    from torchvision.models import resnet18

    reference = resnet18().state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: reference)
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url",
                        lambda *a, **k: reference, raising=False)
    model = create_model("unet_resnet18", pretrained="imagenet")
    want = reference["conv1.weight"].sum(1, keepdim=True)
    assert torch.allclose(model.encoder.stem[0].weight, want)
    assert torch.equal(model.encoder.layer4[1].conv2.weight, reference["layer4.1.conv2.weight"])
