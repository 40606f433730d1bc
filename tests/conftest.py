"""Shared fixtures: small random-weight checkpoints and test images made on the fly (no ../shared)."""

from __future__ import annotations

import os
import signal
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image


def random_colour_model(name: str = "unet_resnet18", seed: int = 0, **config):
    """A model whose head is random (not zero), so it predicts visible colour."""
    from colorize.models import create_model

    torch.manual_seed(seed)
    model = create_model(name, **config)
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.05)
        model.head.bias.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:
    """A random-weight unet_resnet18 saved with save_model (fp16 storage keeps it small)."""
    from colorize.checkpoint import save_model

    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_model(random_colour_model(), path, {"training": {"data": "none (random weights, for tests)"}},
               dtype=torch.float16)
    return str(path)


SECOND_MODEL = "tiny-b"  # second_checkpoint's name (tiny_checkpoint's is its architecture's, unet_resnet18)


@pytest.fixture(scope="session")
def second_checkpoint(tmp_path_factory) -> str:
    """Another random-weight model, with other weights and a narrower decoder, named by its metadata's
    "model_name": served beside tiny_checkpoint, it colours a photo differently."""
    from colorize.checkpoint import save_model

    path = tmp_path_factory.mktemp("ckpt") / "tiny-b.safetensors"
    model = random_colour_model(seed=1, decoder_channels=(128, 64, 32, 16, 16))
    save_model(model, path, {"model_name": SECOND_MODEL, "training": {"data": "none (random weights, for tests)"}},
               dtype=torch.float16)
    return str(path)


VIVID_MODEL = "tiny-vivid"  # vivid_checkpoint's name: a model with a colour distribution


def random_distribution_model(seed: int = 0, vividness: float = 0.5):
    """A random-weight model with a distribution head over the sRGB ab bins (colorize.distribution): its
    logits vary with the photo, so vividness changes its answer."""
    from colorize.distribution import gamut_bins
    from colorize.models import create_model

    centres = torch.from_numpy(gamut_bins())
    torch.manual_seed(seed)
    model = create_model("unet_resnet18", colour_bins=len(centres), vividness=vividness)
    with torch.no_grad():
        model.class_head.centres.copy_(centres)
        model.class_head.log_weights.copy_(centres.norm(dim=1) / 40)  # a rebalancing tilt towards vivid bins
        for p in model.class_head.parameters():
            p.normal_(0.0, 0.5)
    return model.eval()


@pytest.fixture(scope="session")
def vivid_checkpoint(tmp_path_factory) -> str:
    """A random-weight distribution model (served vividness 0.5), named VIVID_MODEL."""
    from colorize.checkpoint import save_model

    path = tmp_path_factory.mktemp("ckpt") / "tiny-vivid.safetensors"
    save_model(random_distribution_model(), path, {"model_name": VIVID_MODEL, "training": {"data": "none"}},
               dtype=torch.float16)
    return str(path)


def natural_image(height: int = 96, width: int = 128, seed: int = 0) -> Image.Image:
    """A smooth, photo-like colour image: gradients, a disc and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 0.5 + 0.5 * np.sin(x / max(width, 1) * 3.0 + seed)
    g = 0.5 + 0.5 * np.cos(y / max(height, 1) * 2.0)
    b = ((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(height, width) / 3) ** 2).astype(np.float32)
    rgb = np.stack([r, g, 0.3 + 0.6 * b], -1) + rng.normal(0, 0.03, (height, width, 3))
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")


@pytest.fixture
def photo() -> Image.Image:
    return natural_image()


def stop_process_group(process, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop a service started with ``start_new_session=True``: ``sig`` to its whole process group, then
    SIGKILL to whatever of the group is left (a worker, or a child a native library forked), so no
    test leaves a process behind."""
    try:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
