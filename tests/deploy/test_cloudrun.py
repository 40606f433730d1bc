"""deploy/cloudrun: deploy.sh fills in its manifests (run dry), they validate against Knative Serving's
Service schema, and they meet Cloud Run's rules for GPUs, probes, timeouts and private services."""

from __future__ import annotations

import re

import pytest

from middleware import DEFAULTS as WEB_DEFAULTS
from tests.deploy.manifests import deploy_cloudrun_dry_run, env_of, quantity, validate_knative_service

CLOUD_RUN_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
STARTUP_PROBE_LIMIT_S = 240  # Cloud Run: failureThreshold x periodSeconds of a startup probe


@pytest.fixture(scope="module", params=["gpu", "cpu"])
def deployment(request, tmp_path_factory):
    commands, manifests = deploy_cloudrun_dry_run(tmp_path_factory.mktemp(request.param),
                                                  MODEL_VARIANT=request.param)
    return request.param, commands, manifests


def containers(service: dict) -> list[dict]:
    return service["spec"]["template"]["spec"]["containers"]


def test_deploy_script_renders_the_chosen_model_variant(deployment):
    variant, _, manifests = deployment
    assert set(manifests) == {f"model-{variant}.yaml", "web.yaml"}


def test_manifests_validate_against_the_knative_service_schema(deployment):
    _, _, manifests = deployment
    for service in manifests.values():
        validate_knative_service(service)


def test_validation_rejects_a_misspelt_field(deployment):
    _, _, manifests = deployment
    service = manifests["web.yaml"]
    broken = {**service, "spec": {"template": {**service["spec"]["template"],
                                               "spec": {**service["spec"]["template"]["spec"],
                                                        "containerConcurency": 4}}}}
    with pytest.raises(AssertionError, match="containerConcurency"):
        validate_knative_service(broken)


def test_images_and_accounts_are_filled_in(deployment):
    _, _, manifests = deployment
    for name, service in manifests.items():
        (box,) = containers(service)
        assert box["image"].startswith("europe-west4-docker.pkg.dev/demo-project/colorize/"), name
        assert box["image"].endswith(":test"), name
        assert service["spec"]["template"]["spec"]["serviceAccountName"].endswith(
            "@demo-project.iam.gserviceaccount.com")
        for labels in (service["metadata"]["labels"], service["spec"]["template"]["metadata"]["labels"]):
            assert all(CLOUD_RUN_LABEL.match(k) and CLOUD_RUN_LABEL.match(v) for k, v in labels.items())


def test_model_service_is_private_and_called_with_an_id_token(deployment):
    _, commands, manifests = deployment
    model = next(m for n, m in manifests.items() if n.startswith("model-"))
    assert model["metadata"]["annotations"]["run.googleapis.com/ingress"] in {"all", "internal"}
    bindings = [line for line in commands.splitlines() if "add-iam-policy-binding colorize-model" in line]
    assert bindings and all("allUsers" not in b and "allAuthenticatedUsers" not in b for b in bindings)
    assert all("serviceAccount:colorize-web@" in b for b in bindings)
    web_env = env_of(containers(manifests["web.yaml"])[0])
    assert web_env["MODEL_SERVICE_URL"].startswith("https://colorize-model-")
    assert web_env["MODEL_SERVICE_AUTH"] == "gcp-id-token"
    assert web_env["SECRET_KEY"]["secretKeyRef"]["name"] == "colorize-secret-key"


def test_model_service_fits_cloud_run_and_the_service_limits(deployment):
    variant, _, manifests = deployment
    model = manifests[f"model-{variant}.yaml"]
    spec = model["spec"]["template"]["spec"]
    (box,) = containers(model)
    env = env_of(box)
    limits = box["resources"]["limits"]
    assert box["ports"] == [{"name": "http1", "containerPort": 8001}]
    # More concurrent requests than the service admits (running + queued) would be answered 503.
    assert spec["containerConcurrency"] <= int(env["MAX_CONCURRENT_INFERENCES"]) + int(env["MAX_QUEUE"])
    # The web app waits MODEL_SERVICE_READ_TIMEOUT for an answer; Cloud Run must not cut in sooner.
    assert spec["timeoutSeconds"] >= WEB_DEFAULTS["MODEL_SERVICE_READ_TIMEOUT"]
    startup = box["startupProbe"]
    assert startup["httpGet"]["path"] == "/readyz"
    assert startup["failureThreshold"] * startup["periodSeconds"] <= STARTUP_PROBE_LIMIT_S
    assert box["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert env["MODEL_DEVICE"] == {"gpu": "cuda", "cpu": "cpu"}[variant]
    if variant == "gpu":
        annotations = model["spec"]["template"]["metadata"]["annotations"]
        assert spec["nodeSelector"] == {"run.googleapis.com/accelerator": "nvidia-l4"}
        assert limits["nvidia.com/gpu"] == "1"
        assert quantity(limits["cpu"]) >= 4 and quantity(limits["memory"]) >= 16 * 2**30
        assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    else:
        assert "nodeSelector" not in spec and "nvidia.com/gpu" not in limits


def test_web_app_outwaits_its_own_model_timeout(deployment):
    _, _, manifests = deployment
    web = manifests["web.yaml"]
    (box,) = containers(web)
    assert web["metadata"]["annotations"]["run.googleapis.com/ingress"] == "all"
    assert web["spec"]["template"]["spec"]["timeoutSeconds"] > WEB_DEFAULTS["MODEL_SERVICE_READ_TIMEOUT"]
    assert box["ports"] == [{"name": "http1", "containerPort": 8000}]
    assert box["startupProbe"]["httpGet"]["path"] == "/healthz"
