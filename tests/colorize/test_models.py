import urllib.error

import pytest
import torch
from torch import nn

from colorize.models import PretrainedWeightsUnavailable, create_model, list_models


def test_registry_has_the_three_encoders():
    assert {"unet_resnet18", "unet_resnet34", "unet_resnet50"} <= set(list_models())


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
    assert model.encoder.stem[0].weight.grad.abs().sum() > 0  # reaches the first layer


@pytest.mark.parametrize("size", [(1, 1), (37, 45), (20, 300)])
def test_any_input_size(size):
    model = create_model("unet_resnet18").eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, *size) * 100).shape == (1, 2, *size)


def test_starts_at_grey_baseline():
    model = create_model("unet_resnet18").eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 32, 32) * 100).abs().max() == 0


@pytest.mark.parametrize("name", list_models())
def test_architecture_is_the_method(name):
    model = create_model(name)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    assert model.encoder.stem[0].in_channels == 1
    assert all(hasattr(model.encoder, f"layer{i}") for i in range(1, 5))  # all four stages
    assert model.head.out_channels == 2
    assert model.config["name"] == name


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
