"""The image build's stand-ins for missing shipped checkpoints (model_service.placeholder)."""

from __future__ import annotations

import shutil

from colorize.checkpoint import read_metadata
from model_service import placeholder
from model_service.registry import check_names, checkpoint_names


def test_only_missing_checkpoints_are_written_and_each_gets_its_own_name(tiny_checkpoint, tmp_path):
    present = shutil.copy(tiny_checkpoint, tmp_path / "present.safetensors")
    paths = [tmp_path / "colorizer.safetensors", present, tmp_path / "unet_resnet34.safetensors"]
    before = present.read_bytes()
    written = placeholder.write_placeholders(paths, arch="unet_resnet18")
    assert written == [paths[0], paths[2]]
    assert present.read_bytes() == before
    # The service would load all three: the names are distinct, so its start-up checks pass.
    names = checkpoint_names([str(p) for p in paths])
    assert names == ["colorizer", "unet_resnet18", "unet_resnet34"]
    assert check_names([str(p) for p in paths], names, "") == "colorizer"
    assert read_metadata(paths[0])["training"]["data"] == placeholder.PLACEHOLDER_DATA


def test_fail_names_the_missing_checkpoints_and_writes_nothing(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "colorizer.safetensors"
    monkeypatch.setattr("colorize.SHIPPED_CHECKPOINTS", [missing])
    assert placeholder.main(["--fail"]) == 1
    assert str(missing) in capsys.readouterr().err
    assert not missing.exists()
