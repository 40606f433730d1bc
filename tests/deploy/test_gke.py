"""deploy/gke: each kustomization renders with kustomize, validates against the Kubernetes schemas, and
holds together (selectors, ports, probes, hardening, the GPU scheduling)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.deploy.manifests import GKE, env_of, quantity, render_kustomization, validate_kubernetes

KUSTOMIZATIONS = ["base", "overlays/cpu", "overlays/gpu"]
EXPECTED_KINDS = {"Namespace", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                  "Ingress", "NetworkPolicy", "PersistentVolumeClaim"}


def objects(path: str) -> dict[tuple[str, str], dict]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in render_kustomization(GKE / path)}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_renders_and_validates_against_kubernetes_schemas(path):
    docs = render_kustomization(GKE / path)
    assert {doc["kind"] for doc in docs} == EXPECTED_KINDS
    for doc in docs:
        validate_kubernetes(doc)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "colorize"


def test_validation_rejects_a_misspelt_field():
    """The schemas are strict: a typo is an error, not an ignored field."""
    deployment = dict(objects("overlays/cpu")[("Deployment", "colorize-model")])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(AssertionError, match="replica"):
        validate_kubernetes(deployment)


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_services_autoscalers_and_budgets_point_at_the_deployments(path):
    objs = objects(path)
    deployments = {name: d for (kind, name), d in objs.items() if kind == "Deployment"}
    assert set(deployments) == {"colorize-model", "colorize-web"}
    for name, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
        service = objs[("Service", name)]
        assert matches(service["spec"]["selector"], pod_labels)
        ports = {p["name"] for p in container(deployment)["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
        assert matches(objs[("PodDisruptionBudget", name)]["spec"]["selector"]["matchLabels"], pod_labels)
        hpa = objs[("HorizontalPodAutoscaler", name)]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    backend = objs[("Ingress", "colorize")]["spec"]["defaultBackend"]["service"]
    web_ports = {p["name"] for p in objs[("Service", backend["name"])]["spec"]["ports"]}
    assert backend["name"] == "colorize-web" and backend["port"]["name"] in web_ports


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_pods_are_hardened_and_write_only_to_their_volumes(path):
    for (kind, name), deployment in objects(path).items():
        if kind != "Deployment":
            continue
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the images' user
        assert pod["automountServiceAccountToken"] is False
        box = container(deployment)["securityContext"]
        assert box["readOnlyRootFilesystem"] is True and box["allowPrivilegeEscalation"] is False
        assert box["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_every_model_pod_shares_one_video_jobs_folder(path):
    objs = objects(path)
    model = objs[("Deployment", "colorize-model")]
    mounts = {m["mountPath"]: m["name"] for m in container(model)["volumeMounts"]}
    jobs_dir = env_of(container(model))["VIDEO_JOBS_DIR"]
    volume = {v["name"]: v for v in model["spec"]["template"]["spec"]["volumes"]}[mounts[jobs_dir]]
    claim = objs[("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])]["spec"]
    # a status or result request may reach any pod, and a pod takes up the jobs of one that died
    assert claim["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_web_pods_spool_video_uploads_to_disk(path):
    web = objects(path)[("Deployment", "colorize-web")]
    mounts = {m["mountPath"]: m["name"] for m in container(web)["volumeMounts"]}
    volume = {v["name"]: v for v in web["spec"]["template"]["spec"]["volumes"]}[
        mounts[env_of(container(web))["FLASK_VIDEO_SPOOL_DIR"]]]
    assert volume["emptyDir"].get("medium") != "Memory"  # a 2 GiB upload must not count as the pod's memory
    assert quantity(volume["emptyDir"]["sizeLimit"]) >= 2 * quantity("2Gi")


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_probes_and_resources(path):
    objs = objects(path)
    model = container(objs[("Deployment", "colorize-model")])
    assert model["startupProbe"]["httpGet"]["path"] == "/readyz"  # warm before traffic
    assert model["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert model["livenessProbe"]["httpGet"]["path"] == "/healthz"
    web = container(objs[("Deployment", "colorize-web")])
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"  # stays up while the model is down
    for box in (model, web):
        requests, limits = box["resources"]["requests"], box["resources"]["limits"]
        assert quantity(requests["memory"]) <= quantity(limits["memory"])
        assert quantity(requests["cpu"]) > 0


def test_web_reaches_the_model_service_by_its_cluster_name():
    objs = objects("overlays/cpu")
    url = urlparse(env_of(container(objs[("Deployment", "colorize-web")]))["MODEL_SERVICE_URL"])
    service = objs[("Service", url.hostname)]
    assert url.port in {p["port"] for p in service["spec"]["ports"]}
    assert service["spec"]["type"] == "ClusterIP"  # never exposed outside the cluster
    assert env_of(container(objs[("Deployment", "colorize-web")]))["SECRET_KEY"]["secretKeyRef"]


def test_only_the_web_pods_may_call_the_model_service():
    objs = objects("overlays/cpu")
    policy = objs[("NetworkPolicy", "colorize-model-from-web-only")]["spec"]
    model_pods = objs[("Deployment", "colorize-model")]["spec"]["template"]["metadata"]["labels"]
    web_pods = objs[("Deployment", "colorize-web")]["spec"]["template"]["metadata"]["labels"]
    assert matches(policy["podSelector"]["matchLabels"], model_pods)
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert matches(peer["podSelector"]["matchLabels"], web_pods)


def test_gpu_overlay_puts_the_model_on_an_l4_node_pool():
    model = objects("overlays/gpu")[("Deployment", "colorize-model")]["spec"]["template"]["spec"]
    assert model["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in model["tolerations"]
    (box,) = model["containers"]
    assert box["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert env_of(box)["MODEL_DEVICE"] == "cuda"
    web = objects("overlays/gpu")[("Deployment", "colorize-web")]["spec"]["template"]["spec"]
    assert "nodeSelector" not in web and "tolerations" not in web  # the web app stays on CPU nodes


def test_cpu_overlay_asks_for_no_gpu():
    model = container(objects("overlays/cpu")[("Deployment", "colorize-model")])
    assert "nvidia.com/gpu" not in model["resources"]["limits"]
    assert env_of(model)["MODEL_DEVICE"] == "cpu"


@pytest.mark.parametrize("path", ["overlays/cpu", "overlays/gpu"])
def test_overlays_set_registry_images(path):
    for (kind, _), doc in objects(path).items():
        if kind == "Deployment":
            image = container(doc)["image"]
            assert image.startswith("europe-west4-docker.pkg.dev/") and image.endswith(":latest"), image
