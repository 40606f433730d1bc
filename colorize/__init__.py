"""Automatic image colorization: an encoder U-Net that predicts LAB ab from L."""

from importlib import metadata
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent  # the source tree (or the image's /app)


def _version(root: Path = _ROOT) -> str:
    """The version written once, in pyproject.toml: read from the pyproject.toml at ``root`` when it is this
    project's (a source tree, installed in editable mode or not, or the model image, which copies the file but
    installs nothing), else the installed distribution's metadata (a wheel); "0+unknown" when neither says.
    The file comes first because a source tree's metadata can be stale: an editable install, or a
    colorize.egg-info left in the tree, keeps the version of the last install."""
    try:
        import tomllib  # Python 3.11+

        project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
        if project["name"] == "colorize":
            return project["version"]
    except (ImportError, OSError, KeyError, ValueError):
        pass
    try:
        return metadata.version("colorize")
    except metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = _version()

# The default model (models/README.md is its card).
DEFAULT_CHECKPOINT = _ROOT / "models" / "colorizer.safetensors"
# Every model the repository ships, the default first: the model service loads them all when MODEL_CHECKPOINTS
# is not set, and fails at start-up, naming the file, if one is missing. unet_resnet34 is the paper's model
# (models/unet_resnet34.md).
SHIPPED_CHECKPOINTS: list[Path] = [DEFAULT_CHECKPOINT, DEFAULT_CHECKPOINT.with_name("unet_resnet34.safetensors")]

