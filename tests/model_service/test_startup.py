"""Start-up: settings from the environment, clear failures, precision choice, no model at import time."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from colorize import DEFAULT_CHECKPOINT, engine, runtime
from model_service import create_app
from model_service.config import ConfigError, load_config, openmp_environment
from model_service.predictor import ModelLoadError


def test_environment_overrides_defaults_and_overrides_win():
    config = load_config({"MAX_PIXELS": "1000", "MODEL_CHANNELS_LAST": "false", "QUEUE_TIMEOUT": "2.5"},
                         {"MAX_PIXELS": 5})
    assert config["MAX_PIXELS"] == 5 and config["MODEL_CHANNELS_LAST"] is False
    assert config["QUEUE_TIMEOUT"] == 2.5 and config["MAX_UPLOAD_BYTES"] == 160 * 1024 * 1024


@pytest.mark.parametrize("env, threads", [({"WEB_CONCURRENCY": "2"}, None), ({"OMP_NUM_THREADS": "3"}, 3),
                                          ({"MODEL_THREADS": "5", "OMP_NUM_THREADS": "3"}, 5)])
def test_torch_threads_per_worker(env, threads, monkeypatch):
    monkeypatch.setattr("model_service.config.usable_cores", lambda: 8)
    assert load_config(env)["MODEL_THREADS"] == (threads or 4)


@pytest.mark.parametrize("env", [{"MAX_PIXELS": "lots"}, {"MODEL_PRECISION": "fp16"}, {"WARMUP": "maybe"},
                                 {"MODEL_RUNTIME": "onnx"},
                                 {"MAX_UPLOAD_BYTES": "0"}, {"DEFAULT_RENDER_SIZE": "2048"}])
def test_bad_settings_fail_with_their_name(env):
    with pytest.raises(ConfigError, match=next(iter(env))):
        load_config(env)


def test_a_missing_checkpoint_fails_with_the_fix(tmp_path):
    with pytest.raises(ModelLoadError, match="MODEL_CHECKPOINT"):
        create_app({"MODEL_CHECKPOINT": str(tmp_path / "nope.safetensors"), "WARMUP": False})
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="not a colorize checkpoint"):
        create_app({"MODEL_CHECKPOINT": str(tmp_path / "junk.safetensors"), "WARMUP": False})


@pytest.mark.skipif(DEFAULT_CHECKPOINT.exists(), reason="the shipped checkpoint exists")
def test_the_default_checkpoint_is_used_and_named_when_missing(monkeypatch):
    monkeypatch.delenv("MODEL_CHECKPOINT", raising=False)
    with pytest.raises(ModelLoadError, match="colorizer.safetensors"):
        create_app({"WARMUP": False})


def test_a_cuda_device_without_a_gpu_fails_clearly(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ModelLoadError, match="MODEL_DEVICE"):
        create_app({"MODEL_CHECKPOINT": tiny_checkpoint, "MODEL_DEVICE": "cuda", "WARMUP": False})


def test_settings_reach_the_model(make_app):
    served = make_app(MODEL_RUNTIME="torch", MODEL_PRECISION="fp32", MODEL_CHANNELS_LAST=False
                      ).extensions["model_service"].default
    assert served.precision == "fp32" and not served.channels_last and served.runtime == "torch"
    served = make_app(MODEL_RUNTIME="torch", MODEL_PRECISION="bf16", MODEL_CHANNELS_LAST=True
                      ).extensions["model_service"].default
    weight = served.model.model.encoder.layer1[0].conv1.weight  # served.model: colorize.runtime.TorchColorizer
    assert served.precision == "bf16" and weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(not engine.openvino_available(), reason="OpenVINO is not installed")
def test_auto_runtime_is_openvino_on_the_cpu_and_both_runtimes_answer_alike(make_app, photo):
    from PIL import ImageChops

    served = make_app().extensions["model_service"].default
    assert served.runtime == "openvino" and isinstance(served.model, runtime.OpenVinoColorizer)
    assert served.describe()["serving"]["runtime"] == "openvino"
    torch_served = make_app(MODEL_RUNTIME="torch").extensions["model_service"].default
    grey = photo.convert("L")
    with served.slot():
        a, _ = served.colorize(grey, 64)
    with torch_served.slot():
        b, _ = torch_served.colorize(grey, 64)
    assert a.size == b.size == photo.size
    assert max(hi for _, hi in ImageChops.difference(a, b).getextrema()) <= 8  # 8-bit levels, bf16 both


def test_openvino_requested_where_it_cannot_run_fails_with_the_fix(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(engine, "openvino_available", lambda: False)
    with pytest.raises(ModelLoadError, match="MODEL_RUNTIME"):
        create_app({"MODEL_CHECKPOINT": tiny_checkpoint, "MODEL_RUNTIME": "openvino", "WARMUP": False})


def test_importing_the_package_loads_no_model():
    code = "import sys, model_service; assert 'torch' not in sys.modules, 'torch imported at import time'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("env, expected", [
    ({}, {"OMP_WAIT_POLICY": "PASSIVE"}),  # OpenVINO runs the network: PyTorch's threads should sleep
    ({"MODEL_RUNTIME": "openvino"}, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ({"MODEL_RUNTIME": "torch"}, {}),  # PyTorch runs the network: spinning threads help it
    ({"MODEL_DEVICE": "cuda:0"}, {}),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, {}),  # the user's own setting stays
])
def test_openmp_environment_for_the_runtime(env, expected, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())  # as if OpenVINO were installed
    assert openmp_environment(env) == expected


def test_no_openmp_setting_without_openvino(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert openmp_environment({}) == {}


@pytest.mark.skipif(not engine.openvino_available(), reason="needs OpenVINO")
def test_gunicorn_workers_get_the_openmp_setting_before_torch(tmp_path):
    # gunicorn executes its config file in the master, which forks the workers (preload_app=False):
    # the variable must be set there, and torch not yet imported.
    code = ("import os, runpy, sys; os.environ.pop('OMP_WAIT_POLICY', None); "
            "runpy.run_path('model_service/gunicorn.conf.py'); "
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2],
                          env={"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert done.stdout.split() == ["PASSIVE", "False"]
