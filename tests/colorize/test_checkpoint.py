import json

import pytest
import torch

from colorize.checkpoint import CheckpointError, load_model, read_metadata, save_model
from colorize.models import ModelConfig, create_model
from tests.conftest import random_colour_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = random_colour_model("unet_resnet18")
    path = tmp_path_factory.mktemp("ck") / "m.safetensors"
    meta = save_model(model, path, {"training": {"data": ["a", "b"]}, "metrics": {"psnr": 1.5}})
    return model, path, meta


def test_round_trip_is_bit_exact(saved):
    model, path, _ = saved
    loaded, meta = load_model(path)
    assert not loaded.training
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    x = torch.rand(1, 1, 40, 40) * 100
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert meta["architecture"]["name"] == "unet_resnet18"
    assert meta["metrics"] == {"psnr": 1.5} and meta["training"]["data"] == ["a", "b"]
    assert len(meta["weights_sha256"]) == 64


def test_metadata_readable_without_weights_and_beside_file(saved):
    _, path, meta = saved
    assert read_metadata(path) == meta
    assert json.loads(path.with_suffix(".json").read_text()) == meta


def test_no_pickle_in_file(saved):
    _, path, _ = saved
    head = path.read_bytes()[:8]
    assert int.from_bytes(head, "little") > 0  # a safetensors header, not a zip/pickle
    assert not path.read_bytes().startswith(b"PK")


def test_fp16_storage_halves_size_and_loads(tmp_path, saved):
    model, path32, _ = saved
    path16 = tmp_path / "half.safetensors"
    save_model(model, path16, dtype=torch.float16)
    assert path16.stat().st_size < 0.55 * path32.stat().st_size
    loaded, meta = load_model(path16)
    assert meta["storage_dtype"] == "float16"
    assert next(loaded.parameters()).dtype == torch.float32


def test_corrupt_file_gives_clear_error(tmp_path, saved):
    _, path, _ = saved
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_model(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a colorize checkpoint"):
        load_model(garbage)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_flipped_weight_byte_is_detected(tmp_path, saved):
    _, path, _ = saved
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(bad)


def test_mismatched_architecture_gives_clear_error(tmp_path):
    model = create_model("unet_resnet18")
    model.config = ModelConfig.named("unet_resnet34")  # weights of an 18 claimed to be a 34
    path = tmp_path / "wrong.safetensors"
    save_model(model, path)
    with pytest.raises(CheckpointError, match="do not fit architecture 'unet_resnet34'"):
        load_model(path)


def test_save_requires_registered_model(tmp_path):
    with pytest.raises(ValueError):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x.safetensors")


def test_the_model_config_is_stored_and_rebuilt(tmp_path):
    model = create_model("unet_resnet18", decoder_channels=(64, 32, 32, 16, 8), chroma_gain=1.25)
    meta = save_model(model, tmp_path / "m.safetensors")
    assert meta["architecture"] == {"name": "unet_resnet18", "config": {
        "encoder": "resnet", "depth": 18, "decoder_channels": [64, 32, 32, 16, 8], "chroma_gain": 1.25,
        "hints": False}}
    loaded, _ = load_model(tmp_path / "m.safetensors")
    assert loaded.config == model.config and loaded.chroma_gain == 1.25


def test_a_file_with_only_the_overrides_of_its_registered_config_loads(tmp_path):
    # Files written before ModelConfig (the shipped ones) record only what create_model was given.
    from safetensors.torch import load_file, save_file

    model = create_model("unet_resnet18", chroma_gain=1.3)
    path = tmp_path / "old.safetensors"
    meta = save_model(model, path)
    meta["architecture"] = {"name": "unet_resnet18", "config": {"chroma_gain": 1.3}}
    save_file(load_file(str(path)), str(path), metadata={"colorize": json.dumps(meta)})
    loaded, _ = load_model(path)
    assert loaded.config == ModelConfig.named("unet_resnet18", chroma_gain=1.3) == model.config


def test_the_chroma_gain_lives_in_the_config():
    model = create_model("unet_resnet18")
    model.chroma_gain = 1.4
    assert model.config.chroma_gain == 1.4 and model.config.depth == 18
