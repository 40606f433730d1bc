"""colorize.engine: the device, precision and runtime choices, and the colorizer load_colorizer returns."""

import subprocess
import sys

import pytest
import torch

from colorize import engine, runtime
from colorize.engine import CompileFailed, EngineError, colorizer_for, load_colorizer, resolve_precision
from colorize.pipeline import predict_ab
from tests.conftest import random_colour_model

needs_openvino = pytest.mark.skipif(not engine.openvino_available(), reason="OpenVINO is not installed")


@needs_openvino
def test_resolve_runtime():
    assert engine.resolve_runtime("auto", "cpu") == "openvino"
    assert engine.resolve_runtime("auto", "cuda") == "torch"
    assert engine.resolve_runtime("torch", "cpu") == "torch"
    with pytest.raises(ValueError, match="CPU"):
        engine.resolve_runtime("openvino", "cuda:0")
    with pytest.raises(ValueError, match="unknown runtime"):
        engine.resolve_runtime("onnx", "cpu")


def test_auto_is_torch_without_openvino(monkeypatch):
    monkeypatch.setattr(engine, "openvino_available", lambda: False)
    assert engine.resolve_runtime("auto", "cpu") == "torch"
    with pytest.raises(ValueError, match="not installed"):
        engine.resolve_runtime("openvino", "cpu")


@pytest.mark.parametrize("flags, expected", [({"avx2"}, "fp32"), ({"avx512f", "amx_bf16"}, "bf16"),
                                             ({"avx512_bf16"}, "bf16")])
def test_auto_precision_follows_the_cpu(flags, expected, monkeypatch):
    monkeypatch.setattr(engine, "cpu_flags", lambda: flags)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("fp32", "cpu") == "fp32"


def test_bf16_falls_back_to_fp32_when_it_gives_nan():
    class NanInBf16(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            out = x.repeat(1, 2, 1, 1) * self.w
            return out * float("nan") if torch.is_autocast_enabled("cpu") else out

    ab = predict_ab(runtime.TorchColorizer(NanInBf16(), "bf16"), torch.ones(1, 1, 4, 4))
    assert torch.isfinite(ab).all() and ab.shape == (1, 2, 4, 4)


def test_a_torch_colorizer_answers_as_its_model(tiny_checkpoint):
    colorizer = load_colorizer(tiny_checkpoint, device="cpu")
    assert (colorizer.runtime, colorizer.device, colorizer.precision, colorizer.channels_last) == \
        ("torch", "cpu", "fp32", False)
    assert colorizer.metadata["architecture"]["name"] == "unet_resnet18"
    x = torch.rand(1, 1, 40, 56) * 100
    with torch.inference_mode():
        assert torch.equal(colorizer(x), colorizer.model(x))
    bf16 = load_colorizer(tiny_checkpoint, device="cpu", precision="bf16", channels_last=True)
    assert bf16.precision == "bf16" and bf16.channels_last
    assert (bf16(x) - colorizer(x)).abs().mean() < 1.0  # bf16 rounding only


def test_settings_are_checked_before_the_weights_are_read(tmp_path, monkeypatch):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(EngineError, match="unknown precision") as info:
        load_colorizer(missing, device="cpu", precision="fp16")
    assert info.value.setting == "precision"
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(EngineError, match="no CUDA GPU") as info:
        load_colorizer(missing, device="cuda")
    assert info.value.setting == "device"


def test_a_bad_device_name_is_an_engine_error_before_loading(tmp_path, monkeypatch):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(EngineError, match="not a device name") as info:
        load_colorizer(missing, device="foo")
    assert info.value.setting == "device"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    with pytest.raises(EngineError, match="1 GPU"):
        engine.resolve_device("cuda:7")
    assert engine.resolve_device("cuda") == "cuda"  # reported as asked, not as the weights' "cuda:0"
    assert engine.resolve_device("cpu") == "cpu"


def test_a_torch_colorizer_reports_the_device_it_was_given():
    model = random_colour_model()
    assert runtime.TorchColorizer(model).device == "cpu"
    assert runtime.TorchColorizer(model, device="cuda").device == "cuda"


def test_a_conversion_failure_names_the_runtime(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("no such operation")

    monkeypatch.setattr(engine, "openvino_available", lambda: True)
    monkeypatch.setattr(runtime, "OpenVinoColorizer", fail)
    with pytest.raises(CompileFailed, match="no such operation") as info:
        colorizer_for(random_colour_model(), runtime="openvino")
    assert info.value.setting == "runtime"


@needs_openvino
def test_an_openvino_colorizer_owns_its_precision():
    colorizer = colorizer_for(random_colour_model(), precision="bf16", runtime="openvino", threads=1)
    assert (colorizer.runtime, colorizer.device, colorizer.precision, colorizer.channels_last) == \
        ("openvino", "cpu", "bf16", False)
    assert colorizer.metadata == {}


def test_openmp_environment():
    assert engine.openmp_environment("torch", "cpu", {}) == {}
    assert engine.openmp_environment("auto", "cuda:1", {}) == {}
    assert engine.openmp_environment("auto", "cpu", {"OMP_WAIT_POLICY": "ACTIVE"}) == {}


def test_importing_the_engine_imports_no_torch():
    code = "import sys, colorize.engine; assert 'torch' not in sys.modules, 'torch imported at import time'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
