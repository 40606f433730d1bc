"""Security properties of both services: uploads never touch the disk, weights load without pickle, the
containers are locked down (tests/deploy checks the rest: read-only root, /tmp tmpfs, user 10001), and
secrets come only from the environment."""

from __future__ import annotations

import io
import pickle
import re
import tempfile
from pathlib import Path

import pytest
import torch
import werkzeug.formparser
import yaml
from flask import Flask, request
from PIL import Image

from tests.conftest import natural_image
from tests.model_service.images import encode
from tests.reliability.conftest import MODEL_MAX_UPLOAD, REPO


class DiskWrite(AssertionError):
    """An upload was about to be written to a temporary file."""


def no_disk(*args, **kwargs):
    raise DiskWrite("an upload was spooled to a temporary file")


@pytest.fixture
def disk_forbidden(monkeypatch) -> None:
    """Every way Werkzeug (or anything else in this process) could make a temporary file now raises."""
    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    for name in ("SpooledTemporaryFile", "TemporaryFile"):  # Werkzeug keeps its own references
        if hasattr(werkzeug.formparser, name):
            monkeypatch.setattr(werkzeug.formparser, name, no_disk)


# 2.9 MB: far over the 500 kB Werkzeug keeps in memory before it spools a multipart file to disk, and
# under the reliability model service's upload limit (the middleware forwards to it).
BIG_BMP = encode(natural_image(980, 980), "BMP")
assert 2_500_000 < len(BIG_BMP) < MODEL_MAX_UPLOAD


def test_the_check_would_catch_werkzeugs_default_spooling(disk_forbidden):
    plain = Flask("plain")
    plain.testing = True
    plain.post("/")(lambda: str(len(request.files["image"].read())))
    with pytest.raises(DiskWrite):
        plain.test_client().post("/", data={"image": (io.BytesIO(BIG_BMP), "big.bmp")})


@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_model_service_uploads_never_touch_the_disk(tiny_checkpoint, disk_forbidden, how):
    from model_service import create_app

    app = create_app({"MODEL_CHECKPOINT": tiny_checkpoint, "DEFAULT_RENDER_SIZE": 64, "WARMUP": False,
                      "MODEL_THREADS": 1})
    app.extensions["model_service"].warm_up()
    client = app.test_client()
    if how == "multipart":
        response = client.post("/v1/colorize", data={"image": (io.BytesIO(BIG_BMP), "big.bmp")})
    else:
        response = client.post("/v1/colorize", data=BIG_BMP, content_type="image/bmp")
    assert response.status_code == 200, response.data[:300]
    assert Image.open(io.BytesIO(response.data)).size == (980, 980)


def test_middleware_uploads_never_touch_the_disk(model_service, disk_forbidden):
    from middleware import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "test", "MODEL_SERVICE_URL": model_service.url})
    response = app.test_client().post("/api/colorize?render_size=64",
                                      data={"image": (io.BytesIO(BIG_BMP), "big.bmp")})
    assert response.status_code == 200, response.data[:300]
    assert Image.open(io.BytesIO(response.data)).size == (980, 980)


def test_weights_load_without_pickle(tiny_checkpoint, monkeypatch):
    from colorize.checkpoint import load_model

    def forbidden(*args, **kwargs):
        raise AssertionError("a checkpoint was unpickled: pickle can run any code")

    for owner, name in ((torch, "load"), (torch.serialization, "load"), (pickle, "load"), (pickle, "loads"),
                        (pickle, "Unpickler")):
        monkeypatch.setattr(owner, name, forbidden)
    model, metadata = load_model(tiny_checkpoint, device="cpu")
    assert metadata["architecture"]["name"] == "unet_resnet18"
    assert sum(p.numel() for p in model.parameters()) > 1_000_000
    header_length = int.from_bytes(Path(tiny_checkpoint).read_bytes()[:8], "little")
    assert Path(tiny_checkpoint).read_bytes()[8:9] == b"{" and header_length > 0  # a safetensors file


def test_containers_drop_every_capability_and_privilege_escalation():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


SHIPPED = [*sorted((REPO / "middleware").glob("*.py")), *sorted((REPO / "model_service").glob("*.py")),
           *sorted((REPO / "deploy").rglob("*.yaml")), *sorted(REPO.glob("docker-compose*.yml")),
           REPO / "middleware" / "Dockerfile", REPO / "model_service" / "Dockerfile"]
# A name that says secret, then a literal value (not a reference such as ${VAR}, os.environ or secretKeyRef).
SECRET_LITERAL = re.compile(r"""(?i)\b\w*(secret|password|passwd|token|api_?key)\w*["']?\s*[:=]\s*["'][^"'${}\s]{6,}""")


def test_secrets_come_only_from_the_environment():
    found = [f"{path.relative_to(REPO)}: {m.group(0)}" for path in SHIPPED
             for m in SECRET_LITERAL.finditer(path.read_text())]
    assert not found
    web = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["web"]
    assert web["environment"]["SECRET_KEY"] == "${SECRET_KEY:-}"
    assert SECRET_LITERAL.search('SECRET_KEY = "hunter2hunter2"')  # the pattern does find a literal
