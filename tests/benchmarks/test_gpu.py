"""benchmarks.gpu runs only on a lent GPU machine; its measuring code also runs on the CPU, tested here."""

import torch

from benchmarks import gpu
from benchmarks.machine import model_flops
from colorize.models import create_model


def test_forward_rows_report_each_variant_and_batch_against_the_floor():
    model = create_model("unet_resnet18").eval()
    rates = {str(dt): 1e11 for dt in (torch.float32, torch.bfloat16, torch.float16)}
    rows = gpu.forward_rows(model, [64], [1, 2], rates, runs=2, device="cpu")
    assert [(r["variant"], r["batch"]) for r in rows] == [(v, b) for v in gpu.VARIANTS for b in (1, 2)]
    flops = model_flops(model, 64)
    for r in rows:
        assert r["gflops_per_image"] == flops / 1e9
        assert r["floor_ms"] == flops * r["batch"] / 1e11 * 1e3
        assert r["x_floor"] == r["median_ms"] / r["floor_ms"] and r["images_per_s"] > 0
    assert next(model.parameters()).is_contiguous()  # the model's layout is restored


def test_pipeline_rows_time_each_stage_of_a_photo_of_the_asked_size():
    model = create_model("unet_resnet18").eval()
    (row,) = gpu.pipeline_rows(model, render_size=64, runs=1, megapixels=(0.1,))
    w, h = map(int, row["size"].split("x"))
    assert abs(w * h - 0.1e6) < 0.01e6 and abs(w / h - 4 / 3) < 0.01
    assert row["total_ms"] >= row["network_ms"] > 0 and row["preprocess_ms"] > 0 and row["postprocess_ms"] > 0
    text = gpu.render({"gpu": "test"}, {"torch.float32": 1e12}, [], [row])
    assert "| 0.1 MP (" in text and "1 TFLOP/s" in text


def test_matmul_rate_counts_two_flops_per_multiply_add():
    rate = gpu.matmul_rate(torch.float32, n=128, device="cpu")
    assert 1e6 < rate < 1e14
