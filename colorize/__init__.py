"""Automatic image colorization: an encoder U-Net that predicts LAB ab from L."""

from pathlib import Path

__version__ = "0.1.0"

# The default model (models/README.md is its card).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "models" / "colorizer.safetensors"
# Every model the repository ships, the default first: the model service loads them all when MODEL_CHECKPOINTS
# is not set, and fails at start-up, naming the file, if one is missing. unet_resnet34 is the paper's model
# (models/unet_resnet34.md).
SHIPPED_CHECKPOINTS: list[Path] = [DEFAULT_CHECKPOINT, DEFAULT_CHECKPOINT.with_name("unet_resnet34.safetensors")]

