"""The bucket-colouring jobs: deploy/gke/batch (a Kubernetes Indexed Job) and deploy/cloudrun/batch.sh with
batch-job.yaml (Cloud Run Jobs). They render, validate against their schemas, run the model service's image
as a hardened user, and their command lines are ones `colorize predict` accepts, giving each completion
index or task its own shard of every photo."""

from __future__ import annotations

import re

import pytest
import yaml

from colorize import cli
from colorize.batch import shard_from_env
from tests.deploy.manifests import (
    GKE,
    ROOT,
    deploy_cloudrun_dry_run,
    quantity,
    render_kustomization,
    run_cloudrun_script,
    validate_cloudrun_job,
    validate_kubernetes,
)

BUCKET_SETTINGS = {"BUCKET": "family-archive", "INPUT_PREFIX": "scans/1920s", "OUTPUT_PREFIX": "colorized/1920s"}


def gke_objects(path: str) -> dict[tuple[str, str], dict]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in render_kustomization(GKE / path)}


@pytest.fixture(scope="module")
def job() -> dict:
    return gke_objects("batch")[("Job", "colorize-batch")]


def only_container(pod: dict) -> dict:
    (box,) = pod["containers"]
    return box


def predict_args(box: dict):
    """The container's command line as `colorize predict` parses it (argparse exits on an unknown flag)."""
    assert box["command"][:4] == ["python", "-m", "colorize", "predict"]
    return cli.get_parser().parse_args(box["command"][3:] + box.get("args", []))


# ---- GKE ----------------------------------------------------------------------------------------------------

def test_gke_batch_renders_and_validates_against_kubernetes_schemas():
    docs = render_kustomization(GKE / "batch")
    assert {(doc["kind"], doc["metadata"]["name"]) for doc in docs} == {("ServiceAccount", "colorize-batch"),
                                                                         ("Job", "colorize-batch")}
    for doc in docs:
        validate_kubernetes(doc)
        assert doc["metadata"]["namespace"] == "colorize"


def test_gke_validation_rejects_a_misspelt_job_field(job):
    broken = {**job, "spec": {**job["spec"], "completionsMode": "Indexed"}}
    with pytest.raises(AssertionError, match="completionsMode"):
        validate_kubernetes(broken)


def test_the_job_is_indexed_and_each_index_takes_its_own_shard(job):
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert 1 <= spec["parallelism"] <= spec["completions"]
    assert spec["backoffLimitPerIndex"] >= 1 and spec["template"]["spec"]["restartPolicy"] == "Never"
    args = predict_args(only_container(spec["template"]["spec"]))
    assert args.shard_count == spec["completions"] and args.shard_index is None  # the index: from Kubernetes
    shards = [shard_from_env(args.shard_index, args.shard_count, {"JOB_COMPLETION_INDEX": str(i)})
              for i in range(spec["completions"])]
    assert shards == [(i, spec["completions"]) for i in range(spec["completions"])]
    (fail_index,) = [r for r in spec["podFailurePolicy"]["rules"] if r["action"] == "FailIndex"]
    # Exit code 2 is a wrong setting (a retry cannot help); 1, some photos failed, is retried.
    assert fail_index["onExitCodes"] == {"containerName": "colorize", "operator": "In", "values": [2]}


def test_the_job_runs_the_model_deployments_image(job):
    """The same image name as the base Deployment, set to the same registry image as the overlays: `kustomize
    edit set image colorize-model=...` points both at one build."""
    base = gke_objects("base")[("Deployment", "colorize-model")]["spec"]["template"]["spec"]
    raw = yaml.safe_load((GKE / "batch" / "job.yaml").read_text())["spec"]["template"]["spec"]
    assert only_container(raw)["image"] == only_container(base)["image"] == "colorize-model"
    image = only_container(job["spec"]["template"]["spec"])["image"]
    for overlay in ("overlays/cpu", "overlays/gpu"):
        deployment = gke_objects(overlay)[("Deployment", "colorize-model")]["spec"]["template"]["spec"]
        assert image == only_container(deployment)["image"]


def test_the_job_is_hardened_and_sized_like_the_model_service(job):
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    box = only_container(pod)
    assert box["securityContext"]["readOnlyRootFilesystem"] is True
    assert box["securityContext"]["allowPrivilegeEscalation"] is False
    assert box["securityContext"]["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in box["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    model = only_container(gke_objects("base")[("Deployment", "colorize-model")]["spec"]["template"]["spec"])
    for kind in ("requests", "limits"):
        for resource, value in model["resources"][kind].items():
            assert quantity(box["resources"][kind][resource]) == quantity(value), (kind, resource)
    # Torch threads per job: the CPU limit shared between the --jobs workers.
    threads = int(next(e["value"] for e in box["env"] if e["name"] == "OMP_NUM_THREADS"))
    assert threads * predict_args(box).jobs == quantity(box["resources"]["limits"]["cpu"])


def test_the_bucket_is_mounted_by_the_gcs_fuse_driver_for_the_workload_identity(job):
    template = job["spec"]["template"]
    pod, box = template["spec"], only_container(template["spec"])
    assert template["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"
    (bucket,) = [v for v in pod["volumes"] if "csi" in v]
    assert bucket["csi"]["driver"] == "gcsfuse.csi.storage.gke.io" and bucket["csi"]["volumeAttributes"]["bucketName"]
    options = bucket["csi"]["volumeAttributes"]["mountOptions"].split(",")
    uid = pod["securityContext"]["runAsUser"]
    assert f"uid={uid}" in options and "implicit-dirs" in options  # the user may write; uploaded folders show
    (mount,) = [m for m in box["volumeMounts"] if m["name"] == bucket["name"]]
    args = predict_args(box)
    inputs, out = args.inputs[0], str(args.out)
    assert len(args.inputs) == 1 and inputs.startswith(mount["mountPath"] + "/") and out.startswith(
        mount["mountPath"] + "/")
    assert not (out + "/").startswith(inputs + "/") and inputs != out
    assert ("ServiceAccount", pod["serviceAccountName"]) in gke_objects("batch")


def test_the_model_image_has_the_command_line_and_the_models():
    dockerfile = (ROOT / "model_service" / "Dockerfile").read_text()
    assert "COPY colorize/ colorize/" in dockerfile and "WORKDIR /app" in dockerfile  # python -m colorize
    assert "PATH=/opt/venv/bin" in dockerfile and "models/" in dockerfile
    lock = (ROOT / "requirements" / "model.txt").read_text()
    assert re.search(r"^tqdm==", lock, re.M) and re.search(r"^pillow==", lock, re.M)  # the CLI's own imports


# ---- Cloud Run Jobs -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cloudrun(tmp_path_factory):
    commands, manifests = deploy_cloudrun_dry_run(tmp_path_factory.mktemp("batch"), "batch.sh", TASKS="12",
                                                  PARALLELISM="4", **BUCKET_SETTINGS)
    return commands, manifests["batch-job.yaml"]


def task_spec(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["template"]["spec"]


def test_cloudrun_job_validates_against_the_cloud_run_admin_api_schema(cloudrun):
    _, job = cloudrun
    validate_cloudrun_job(job)
    broken = yaml.safe_load(yaml.safe_dump(job))
    task_spec(broken)["maxRetry"] = 3
    with pytest.raises(AssertionError, match="maxRetry"):
        validate_cloudrun_job(broken)


def test_cloudrun_tasks_take_their_shards_from_cloud_run(cloudrun):
    _, job = cloudrun
    execution = job["spec"]["template"]["spec"]
    assert execution["taskCount"] == 12 and execution["parallelism"] == 4
    args = predict_args(only_container(task_spec(job)))
    assert args.shard_index is None and args.shard_count is None  # CLOUD_RUN_TASK_INDEX/COUNT give both
    shards = [shard_from_env(None, None, {"CLOUD_RUN_TASK_INDEX": str(i), "CLOUD_RUN_TASK_COUNT": "12"})
              for i in range(12)]
    assert shards == [(i, 12) for i in range(12)]


def test_cloudrun_job_runs_the_model_image_deploy_sh_deploys(cloudrun, tmp_path):
    _, job = cloudrun
    _, services = deploy_cloudrun_dry_run(tmp_path, MODEL_VARIANT="cpu")
    model = services["model-cpu.yaml"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert only_container(task_spec(job))["image"] == model


def test_cloudrun_job_mounts_the_bucket_and_may_touch_nothing_else(cloudrun):
    commands, job = cloudrun
    spec = task_spec(job)
    (volume,) = spec["volumes"]
    assert volume["csi"]["driver"] == "gcsfuse.run.googleapis.com"
    assert volume["csi"]["volumeAttributes"]["bucketName"] == "family-archive"
    (mount,) = only_container(spec)["volumeMounts"]
    args = predict_args(only_container(spec))
    assert args.inputs == [f"{mount['mountPath']}/scans/1920s"]
    assert str(args.out) == f"{mount['mountPath']}/colorized/1920s"
    assert spec["serviceAccountName"] == "colorize-batch@demo-project.iam.gserviceaccount.com"
    (binding,) = [line for line in commands.splitlines() if "add-iam-policy-binding" in line]
    assert "buckets add-iam-policy-binding gs://family-archive" in binding
    assert "serviceAccount:colorize-batch@" in binding and "roles/storage.objectUser" in binding
    assert "gcloud run jobs replace" in commands and "run jobs execute colorize-batch" in commands


@pytest.mark.parametrize(("settings", "message"), [
    ({"OUTPUT_PREFIX": "scans/1920s"}, "must differ"),
    ({"INPUT_PREFIX": "scans|x"}, "unsupported"),
    ({"TASKS": "0"}, "at least 1"),
    ({"BUCKET": ""}, "set BUCKET"),
])
def test_batch_sh_refuses_what_it_cannot_fill_in(tmp_path, settings, message):
    result = run_cloudrun_script(tmp_path, "batch.sh", **{**BUCKET_SETTINGS, **settings})
    assert result.returncode != 0 and message in result.stderr
