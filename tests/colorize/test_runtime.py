"""colorize.runtime: the OpenVINO-compiled network answers as the PyTorch one does, at any shape."""

import numpy as np
import pytest
import torch

from colorize import engine, runtime
from colorize.pipeline import colorize
from tests.conftest import natural_image, random_colour_model

pytestmark = pytest.mark.skipif(not engine.openvino_available(), reason="OpenVINO is not installed")


@pytest.fixture(scope="module")
def model():
    return random_colour_model("unet_resnet18")


@pytest.fixture(scope="module")
def compiled(model):
    return {p: runtime.OpenVinoColorizer(model, p, threads=2) for p in ("fp32", "bf16")}


@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (1, 1, 37, 101), (1, 1, 1, 1), (1, 1, 7, 300), (3, 1, 40, 72)])
def test_same_answer_as_pytorch_at_any_shape(model, compiled, shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 100
    with torch.inference_mode():
        want = model(x)
    fp32 = compiled["fp32"](x)
    assert fp32.shape == want.shape
    assert (fp32 - want).abs().max() < 1e-2  # ab in LAB units (about -110 ... 110)
    bf16 = compiled["bf16"](x)
    assert torch.isfinite(bf16).all() and bf16.shape == want.shape
    assert (bf16 - want).abs().mean() < 0.5


def test_changes_of_shape_keep_the_answer(model):
    # OpenVINO 2026.4 with one dynamic-shape bf16 network answered (128, 32) wrongly after (64, 64)
    net = runtime.OpenVinoColorizer(model, "bf16", threads=2, cache_size=2)
    for shape in [(64, 64), (128, 32), (256, 32), (64, 64), (37, 101), (128, 32)]:
        x = torch.rand(1, 1, *shape, generator=torch.Generator().manual_seed(2)) * 100
        with torch.inference_mode():
            want = model(x)
        assert (net(x) - want).abs().mean() < 0.5, shape
    assert len(net.compiled_shapes()) == 2  # least recently used shapes are dropped
    assert net.compiled_shapes()[-1] == ("bf16", (1, 1, 128, 32))


def test_a_shape_openvino_gets_wrong_is_answered_another_way(model, monkeypatch):
    net = runtime.OpenVinoColorizer(model, "bf16", threads=1)
    x = torch.rand(1, 1, 64, 96) * 100
    with torch.inference_mode():
        want = model(x)
    infer = runtime.OpenVinoColorizer._infer
    monkeypatch.setattr(runtime.OpenVinoColorizer, "_infer", staticmethod(lambda c, t: infer(c, t) + 40.0))
    assert torch.allclose(net(x), want)  # every compiled answer is off: PyTorch answers
    with torch.autocast("cpu", dtype=torch.bfloat16):  # inside a caller's bf16 autocast
        assert torch.allclose(net(x), want)  # ... in fp32, and the check compared with fp32 too
    assert net.compiled_shapes() == [("bf16", (1, 1, 64, 96))]
    monkeypatch.setattr(runtime.OpenVinoColorizer, "_infer", staticmethod(infer))
    net2 = runtime.OpenVinoColorizer(model, "bf16", threads=1)
    assert (net2(x) - want).abs().mean() < 0.5


def test_the_pipeline_runs_it_unchanged(model, compiled):
    image = natural_image(90, 130).convert("L")
    want = colorize(image, model, render_size=64)
    got = colorize(image, compiled["bf16"], render_size=64)  # in its own precision
    assert got.size == want.size == (130, 90)
    diff = np.abs(np.asarray(got, dtype=np.float32) - np.asarray(want, dtype=np.float32))
    assert diff.mean() < 1.0  # 8-bit levels


@pytest.mark.parametrize("arch", ["unet_resnet18", "unet_resnet50"])
def test_without_concat_is_the_same_function(arch):
    model = random_colour_model(arch)
    twin = runtime.without_concat(model)
    x = torch.rand(2, 1, 64, 96, generator=torch.Generator().manual_seed(2)) * 100
    with torch.inference_mode():
        want, got = model(x), twin(x)
    assert (got - want).abs().max() < 1e-3
    assert all(isinstance(b, runtime.DecoderBlock) for b in model.blocks)  # the model itself is untouched


def test_the_compiled_network_has_no_concatenation(compiled):
    ops = {op.get_type_name() for op in compiled["bf16"]._ov_model.get_ordered_ops()}
    assert "Convolution" in ops and "Concat" not in ops


def test_chroma_gain_is_part_of_the_compiled_network():
    model = random_colour_model("unet_resnet18")
    x = torch.rand(1, 1, 64, 64) * 100
    plain = runtime.OpenVinoColorizer(model, "fp32", threads=1)(x)
    model.chroma_gain = 1.5
    gained = runtime.OpenVinoColorizer(model, "fp32", threads=1)(x)
    assert torch.allclose(gained, plain * 1.5, atol=1e-2)


def test_shape_check_measures_rounding_before_the_chroma_gain(monkeypatch):
    """The check of a compiled shape tolerates the same rounding in the network whatever gain the model ships
    with (the gain multiplies it afterwards), and still rejects a network that is off by more."""
    model = random_colour_model("unet_resnet18")
    model.chroma_gain = 1.5
    colorizer = runtime.OpenVinoColorizer(model, "fp32", threads=1)
    shape = (1, 1, 64, 64)

    def off_by(network_units):  # a "compiled network" whose answer is the reference's plus this error, gained
        return lambda compiled, x: colorizer._reference_ab(x) + network_units * model.chroma_gain

    monkeypatch.setattr(runtime.OpenVinoColorizer, "_infer", staticmethod(off_by(0.2)))
    assert colorizer._agrees(None, shape)  # 0.30 after the gain, 0.20 in the network: accepted
    monkeypatch.setattr(runtime.OpenVinoColorizer, "_infer", staticmethod(off_by(0.3)))
    assert not colorizer._agrees(None, shape)


def test_bf16_check_allows_what_bf16_rounding_itself_does(monkeypatch):
    """A bf16 network may differ from fp32 by up to 4x what PyTorch's own bf16 arithmetic does on the probe
    (a model can be that sensitive at large shapes); an fp32 network, or a bf16 one off by more, fails."""
    model = random_colour_model("unet_resnet18")
    colorizer = runtime.OpenVinoColorizer(model, "bf16", threads=1)
    shape = (1, 1, 64, 64)
    monkeypatch.setattr(runtime.OpenVinoColorizer, "_bf16_rounding", lambda self, probe, want: (1.0, 10.0))

    def off_by(units):
        return staticmethod(lambda compiled, x: colorizer._reference_ab(x) + units)

    monkeypatch.setattr(runtime.OpenVinoColorizer, "_infer", off_by(2.0))
    assert colorizer._agrees(None, shape, "bf16")  # 2 < 4 x 1.0 on average, 2 < 4 x 10 at most
    assert not colorizer._agrees(None, shape, "fp32")  # fp32 keeps the fixed limits (0.25 on average)
    monkeypatch.setattr(runtime.OpenVinoColorizer, "_infer", off_by(4.5))
    assert not colorizer._agrees(None, shape, "bf16")
    # Where PyTorch's bf16 itself breaks down (NaN), the fixed limits apply.
    monkeypatch.setattr(runtime.OpenVinoColorizer, "_bf16_rounding", lambda self, probe, want: (float("nan"),) * 2)
    monkeypatch.setattr(runtime.OpenVinoColorizer, "_infer", off_by(2.0))
    assert not colorizer._agrees(None, shape, "bf16")


def test_bf16_rounding_of_pytorch_is_small_but_not_zero():
    model = random_colour_model("unet_resnet18")
    colorizer = runtime.OpenVinoColorizer(model, "bf16", threads=1)
    probe = colorizer._probe((1, 1, 64, 96))
    mean, largest = colorizer._bf16_rounding(probe, colorizer._reference_ab(probe))
    assert 0 < mean <= largest < 20
