"""benchmarks.layers: its FLOPs per layer are the model's FLOPs, and every executed layer is grouped."""

import pytest
import torch

from benchmarks.layers import layer_groups
from benchmarks.machine import model_flops
from colorize import engine, runtime
from colorize.models import create_model

pytestmark = pytest.mark.skipif(not engine.openvino_available(), reason="needs OpenVINO")


@pytest.mark.parametrize("name", ["unet_resnet18", "unet_resnet50"])
def test_layer_flops_add_up_to_the_models(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    compiled = runtime.OpenVinoColorizer(model, "fp32").compile_shape("fp32", (1, 1, 64, 64), profile=True)
    nodes = layer_groups(compiled, 64)
    assert sum(n["flops"] for n in nodes.values()) == model_flops(model, 64)  # torch's own count
    groups = {n["group"] for n in nodes.values()}
    assert "encoder: convolutions at 1/32 (2²)" in groups
    assert "decoder: convolutions at 1/1 (64²)" in groups and "decoder: 1x1 head at 1/1 (64²)" in groups
    assert "decoder: up-sampling to 1/1 (64²)" in groups
    # Every layer the profile gives time to is one of the graph's executed nodes (the rest were fused
    # into them and report none).
    request = compiled.create_infer_request()
    request.infer([torch.full((1, 1, 64, 64), 50.0).numpy()])
    timed = {p.node_name for p in request.profiling_info if p.real_time.total_seconds() > 0}
    assert timed and timed <= set(nodes)
