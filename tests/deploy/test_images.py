"""docker-compose.yml, the Dockerfiles and the image locks, checked without Docker (tests/integration
builds and runs them)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from packaging.requirements import Requirement

from tests.deploy.manifests import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

DOCKERFILES = {"model": ROOT / "model_service" / "Dockerfile", "web": ROOT / "middleware" / "Dockerfile"}
LOCKS = {"model": ROOT / "requirements" / "model.txt", "web": ROOT / "requirements" / "web.txt"}


def compose(*files: str) -> dict:
    merged: dict = {}
    for name in files:
        for service, spec in yaml.safe_load((ROOT / name).read_text())["services"].items():
            merged.setdefault(service, {}).update(spec)
    return merged


def lock(name: str) -> dict[str, str]:
    pins = {}
    for line in LOCKS[name].read_text().splitlines():
        if line and not line.startswith("#"):
            package, version = re.fullmatch(r"([a-z0-9][a-z0-9._-]*)==([^\s;]+)", line).groups()
            pins[package] = version
    return pins


def extra(name: str) -> list[Requirement]:
    """An optional-dependency group of pyproject.toml, colorize[...] self-references expanded."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    found = []
    for spec in groups[name]:
        req = Requirement(spec)
        found += [r for e in req.extras for r in extra(e)] if req.name == "colorize" else [req]
    return found


def test_model_is_internal_and_web_waits_for_it():
    services = compose("docker-compose.yml")
    assert set(services) == {"model", "web"}
    model, web = services["model"], services["web"]
    assert "ports" not in model  # reachable from web only
    assert "/readyz" in " ".join(model["healthcheck"]["test"])
    assert web["depends_on"] == {"model": {"condition": "service_healthy"}}
    assert web["environment"]["MODEL_SERVICE_URL"] == "http://model:8001"
    assert any(port.endswith(":8000") for port in web["ports"])
    for name, service in services.items():
        assert service["init"] is True and service["restart"], name
        assert service["read_only"] is True and "/tmp" in service["tmpfs"], name
        assert service["deploy"]["resources"]["limits"]["memory"], name


def test_video_jobs_and_uploads_live_on_volumes_not_in_memory():
    services = compose("docker-compose.yml")
    volumes = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["volumes"]
    for service, setting in (("model", "VIDEO_JOBS_DIR"), ("web", "FLASK_VIDEO_SPOOL_DIR")):
        folder = services[service]["environment"][setting]
        (mount,) = [v for v in services[service]["volumes"] if v.endswith(":" + folder)]
        assert mount.split(":")[0] in volumes, service  # a named volume: on disk, kept across restarts
        assert not folder.startswith("/tmp"), service  # /tmp is a tmpfs, counted as the container's memory
        # the image makes the folder for its user, so a fresh named volume is writable by it
        assert f"install -d -o 10001 -g 10001 {folder}" in DOCKERFILES[service].read_text(), service


def test_gpu_override_reserves_an_nvidia_device():
    model = compose("docker-compose.yml", "docker-compose.gpu.yml")["model"]
    (device,) = model["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == 1
    assert model["environment"]["MODEL_DEVICE"] == "cuda"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI to run `docker compose config`")
def test_compose_files_pass_compose_own_validation():
    base = ["docker", "compose", "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml")]
    if subprocess.run(base[:2] + ["version"], capture_output=True).returncode != 0:
        pytest.skip("no Docker Compose v2 plugin (scripts/ci-docker.sh installs one)")
    for extra_file in ([], ["-f", str(ROOT / "docker-compose.gpu.yml")]):
        result = subprocess.run(base + extra_file + ["config", "--quiet"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_builds_offline_or_online_and_runs_unprivileged(name):
    text = DOCKERFILES[name].read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text
    assert re.search(r"--no-index --find-links /tmp/wheels", text)  # WHEELHOUSE=...: no network
    assert f"requirements/{name}.txt" in text and "--no-deps" in text  # exactly the lock
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*urllib\.request", text, re.M) and "curl" not in text
    assert not re.search(r"^COPY .*training", text, re.M)  # the service never ships the trainer


def test_dockerignore_sends_no_training_code_or_virtualenv():
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*"  # ignore everything, then allow what the images copy
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert {"colorize", "model_service", "middleware", "templates", "static", "requirements"} <= allowed
    assert not allowed & {"training", ".venv", "tests", "experiments"}


@pytest.mark.parametrize("name, group", [("model", "serve"), ("web", "web")])
def test_locks_satisfy_pyproject(name, group):
    pins = lock(name)
    for req in extra(group):
        key = req.name.lower().replace("_", "-")
        assert key in pins, f"{req.name} is missing from {LOCKS[name].name}"
        assert req.specifier.contains(pins[key], prereleases=True), f"{key}=={pins[key]} vs {req}"


def test_web_image_never_gets_torch():
    assert not {p for p in lock("web") if p.startswith(("torch", "nvidia", "triton"))}
    assert lock("model")["torch"] == "2.14.1" and lock("model")["torchvision"] == "0.29.1"


def imported_distributions(*packages: str) -> set[str]:
    """The PyPI distributions that the packages' modules import (stdlib and first-party left out)."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    first_party = {"colorize", "model_service", "middleware"}
    modules = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    modules -= first_party | set(sys.stdlib_module_names)
    dists = packages_distributions()
    missing = {m for m in modules if m not in dists}
    assert not missing, f"imported but not installed here: {missing}"
    return {dists[m][0].lower().replace("_", "-") for m in modules}


@pytest.mark.parametrize("name, packages", [("model", ("colorize", "model_service")), ("web", ("middleware",))])
def test_locks_hold_everything_the_image_code_imports(name, packages):
    assert imported_distributions(*packages) <= set(lock(name))
