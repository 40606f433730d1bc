"""colorize.distribution: colour as a distribution over ab bins, decoded by the annealed mean at a vividness."""

import numpy as np
import pytest
import torch

from colorize import distribution, engine, lab
from colorize.checkpoint import load_model, save_model
from colorize.distribution import VividnessError, annealed_mean, decoding, soft_encode, vividness_of
from colorize.models import create_model
from colorize.pipeline import colorize
from tests.conftest import natural_image


@pytest.fixture(scope="module")
def centres():
    return torch.from_numpy(distribution.gamut_bins())


def distribution_model(centres, seed=0):
    """A small model with a distribution head whose logits vary with the photo (random head weights)."""
    torch.manual_seed(seed)
    model = create_model("unet_resnet18", colour_bins=len(centres))
    with torch.no_grad():
        model.class_head.centres.copy_(centres)
        for p in model.class_head.parameters():
            p.normal_(0.0, 0.5)
    return model.eval()


def test_the_bins_cover_every_srgb_colour_and_no_more(centres):
    rgb = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    ab = lab.rgb_to_lab(rgb)[1:].reshape(2, -1).T
    nearest = torch.cdist(ab, centres).min(1).values
    assert len(centres) == 261
    assert nearest.max() <= 5 * 2**0.5 + 1e-4  # each colour lies in its bin's 10 x 10 square
    assert (centres % 10 == 0).all()


def test_soft_encoding_weighs_the_nearest_bins_most(centres):
    ab = torch.tensor([[0.0, 0.0], [23.0, -41.0]]).T.reshape(1, 2, 1, 2)
    index, weights = soft_encode(ab, centres)
    assert index.shape == weights.shape == (1, 5, 1, 2)
    assert torch.allclose(weights.sum(1), torch.ones(1, 1, 2))
    assert (weights[:, :1] >= weights[:, 1:]).all()
    assert centres[index[0, 0, 0, 0]].tolist() == [0.0, 0.0]
    assert centres[index[0, 0, 0, 1]].tolist() == [20.0, -40.0]


def test_the_annealed_mean_goes_from_the_mean_to_the_mode(centres):
    logits = torch.zeros(1, len(centres), 1, 1)
    red = (centres - torch.tensor([60.0, 40.0])).norm(dim=1).argmin()
    blue = (centres - torch.tensor([10.0, -60.0])).norm(dim=1).argmin()
    logits[0, red], logits[0, blue] = 6.0, 5.5
    p = torch.softmax(logits[0, :, 0, 0], 0)
    assert torch.allclose(annealed_mean(logits, centres, 1.0)[0, :, 0, 0], p @ centres, atol=1e-4)
    mode = annealed_mean(logits, centres, 0.05)[0, :, 0, 0]
    assert torch.allclose(mode, centres[red], atol=0.5)
    # the mean of red and blue is a duller colour than either: vivid answers have more chroma
    chroma = [annealed_mean(logits, centres, t).norm().item() for t in (1.0, 0.6, 0.2)]
    assert chroma[0] < chroma[1] < chroma[2]


def test_vividness_undoes_the_rebalancing_tilt_then_anneals():
    assert decoding(0) == (1.0, 1.0)  # the photo's own distribution's mean
    assert decoding(0.25) == (0.5, 1.0)
    assert decoding(0.5) == (0.0, 1.0)  # Zhang's mean
    assert decoding(0.8)[1] == pytest.approx(0.38, abs=0.005)  # Zhang's vivid choice
    assert decoding(1) == (0.0, pytest.approx(0.2))
    assert vividness_of(0.38) == pytest.approx(0.8, abs=0.005) and vividness_of(1.0) == 0.5
    for bad in (-0.1, 1.5, float("nan"), "high", None, True):
        with pytest.raises(VividnessError, match="from 0 .* to 1"):
            decoding(bad)


def test_the_head_divides_out_its_tilt_at_vividness_zero(centres):
    head = distribution.ClassHead(16, len(centres))
    head.centres.copy_(centres)
    head.log_weights.copy_(torch.rand(len(centres)))
    logits = torch.randn(1, len(centres), 2, 2, generator=torch.Generator().manual_seed(5))
    own = annealed_mean(logits - head.log_weights.view(1, -1, 1, 1), centres, 1.0)
    assert torch.allclose(head.decode(logits, 0.0, (2, 2)), own, atol=1e-4)
    assert torch.allclose(head.decode(logits, 0.5, (2, 2)), annealed_mean(logits, centres, 1.0), atol=1e-4)


def test_rebalancing_favours_rare_colours_and_averages_one(centres):
    c = centres.numpy()
    prior = np.exp(-(c**2).sum(1) / 200.0)  # greys common, vivid colours rare
    weights = distribution.rebalance_weights(prior, c)
    grey, vivid = np.abs(c).sum(1).argmin(), np.abs(c).sum(1).argmax()
    assert weights[vivid] > 2 * weights[grey]
    d2 = ((c[:, None] - c[None]) ** 2).sum(-1)
    smooth = np.exp(-d2 / 50.0) @ (prior / prior.sum())
    assert (smooth / smooth.sum() * weights).sum() == pytest.approx(1.0, rel=1e-4)


def test_a_distribution_model_answers_ab_at_any_size_and_vividness(centres):
    model = distribution_model(centres)
    x = torch.rand(2, 1, 45, 70, generator=torch.Generator().manual_seed(2)) * 100
    with torch.inference_mode():
        mean, vivid = model(x, vividness=0.0), model(x, vividness=1.0)
        logits = model(torch.zeros(1, 1, 64, 96), logits=True)
    assert mean.shape == vivid.shape == (2, 2, 45, 70)
    assert logits.shape == (1, len(centres), 32, 48)  # half resolution
    assert vivid.norm(dim=1).mean() > mean.norm(dim=1).mean()
    assert model(x).allclose(mean)  # the config's vividness (0) by default


def test_vividness_is_refused_by_a_regression_model(tiny_checkpoint):
    model, _ = load_model(tiny_checkpoint)
    with pytest.raises(VividnessError, match="no colour distribution"):
        colorize(natural_image(40, 40).convert("L"), model, 32, vividness=0.5)


def test_a_checkpoint_keeps_the_bins_and_the_served_vividness(tmp_path, centres):
    model = distribution_model(centres)
    model.config = type(model.config)(**{**model.config.__dict__, "vividness": 0.55})
    save_model(model, tmp_path / "d.safetensors", {})
    loaded, meta = load_model(tmp_path / "d.safetensors")
    assert meta["architecture"]["config"]["colour_bins"] == 261
    assert loaded.config.vividness == 0.55
    assert torch.equal(loaded.class_head.centres, centres)
    x = torch.rand(1, 1, 32, 32) * 100
    with torch.inference_mode():
        assert torch.allclose(loaded(x), model(x, vividness=0.55), atol=0.5)  # fp16 storage


@pytest.mark.skipif(not engine.openvino_available(), reason="OpenVINO is not installed")
def test_openvino_decodes_the_distribution_as_pytorch_does(centres):
    from colorize.runtime import OpenVinoColorizer

    model = distribution_model(centres, seed=3)
    compiled = OpenVinoColorizer(model, "fp32", threads=2)
    x = torch.rand(1, 1, 50, 77, generator=torch.Generator().manual_seed(4)) * 100
    with torch.inference_mode():
        for v in (None, 0.0, 0.6, 1.0):
            want = model(x, vividness=v)
            got = compiled(x, vividness=v)
            assert got.shape == want.shape
            assert (got - want).abs().max() < 0.05
