"""The film-colouring jobs: deploy/gke/batch-video (a Kubernetes Indexed Job) and `MEDIA=films
deploy/cloudrun/batch.sh` with batch-video-job.yaml (Cloud Run Jobs). They render, validate against their
schemas, run the model service's image as a hardened user, and their command lines are ones `colorize predict`
accepts, giving each completion index or task one film of the bucket."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from colorize.batch import plan, select_shard, shard_from_env
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
from tests.deploy.test_batch import gke_objects, only_container, predict_args, task_spec

FILM_SETTINGS = {"BUCKET": "film-archive", "INPUT_PREFIX": "reels/1950s", "OUTPUT_PREFIX": "colorized/1950s",
                 "MEDIA": "films"}


@pytest.fixture(scope="module")
def job() -> dict:
    return gke_objects("batch-video")[("Job", "colorize-batch-video")]


def film_bucket(root: Path, films: int) -> Path:
    """A bucket's folder of ``films`` films in sub-folders (their bytes do not matter: the listing goes by
    suffix), with a poster and a note beside them."""
    for n in range(films):
        film = root / f"reel{n % 3}" / f"film{n}.{('mp4', 'mov', 'mkv')[n % 3]}"
        film.parent.mkdir(parents=True, exist_ok=True)
        film.write_bytes(b"")
    (root / "poster.png").write_bytes(b"")
    (root / "notes.txt").write_text("reel 2 is scratched")
    return root


def films_per_shard(root: Path, shards: list[tuple[int, int]]) -> list[list[str]]:
    items = plan([root], root.parent / "out", "png")
    return [[item.key for item in select_shard(items, *shard) if item.video] for shard in shards]


# ---- GKE ----------------------------------------------------------------------------------------------------

def test_gke_film_job_renders_and_validates_against_kubernetes_schemas(job):
    docs = render_kustomization(GKE / "batch-video")
    assert {(doc["kind"], doc["metadata"]["name"]) for doc in docs} == {
        ("ServiceAccount", "colorize-batch-video"), ("Job", "colorize-batch-video")}
    for doc in docs:
        validate_kubernetes(doc)
        assert doc["metadata"]["namespace"] == "colorize"
    broken = {**job, "spec": {**job["spec"], "backoffLimitsPerIndex": 1}}
    with pytest.raises(AssertionError, match="backoffLimitsPerIndex"):
        validate_kubernetes(broken)


def test_neither_batch_kustomization_starts_the_other():
    photos, films = gke_objects("batch"), gke_objects("batch-video")
    assert ("Job", "colorize-batch-video") not in photos and ("Job", "colorize-batch") not in films
    assert not {name for kind, name in photos if kind == "ServiceAccount"} & {
        name for kind, name in films if kind == "ServiceAccount"}  # deleting one keeps the other's identity


def test_each_index_colours_one_film_and_a_bad_film_fails_only_its_own(job, tmp_path):
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and 1 <= spec["parallelism"] <= spec["completions"]
    assert spec["backoffLimitPerIndex"] >= 1 and spec["template"]["spec"]["restartPolicy"] == "Never"
    assert "maxFailedIndexes" not in spec  # however many films fail, the others are all coloured
    (fail_index,) = [r for r in spec["podFailurePolicy"]["rules"] if r["action"] == "FailIndex"]
    assert fail_index["onExitCodes"] == {"containerName": "colorize", "operator": "In", "values": [2]}
    args = predict_args(only_container(spec["template"]["spec"]))
    assert args.shard_count == spec["completions"] and args.shard_index is None  # the index: from Kubernetes
    assert args.stabilize is True and args.overwrite is False  # steady colours; a run again resumes
    shards = [shard_from_env(args.shard_index, args.shard_count, {"JOB_COMPLETION_INDEX": str(i)})
              for i in range(spec["completions"])]
    per_index = films_per_shard(film_bucket(tmp_path / "films", spec["completions"]), shards)
    assert [len(films) for films in per_index] == [1] * spec["completions"]
    assert len({film for films in per_index for film in films}) == spec["completions"]


def test_the_film_job_runs_the_image_of_the_model_and_of_the_photo_batch(job):
    raw = yaml.safe_load((GKE / "batch-video" / "job.yaml").read_text())["spec"]["template"]["spec"]
    assert only_container(raw)["image"] == "colorize-model"  # the name `kustomize edit set image` replaces
    photos = gke_objects("batch")[("Job", "colorize-batch")]["spec"]["template"]["spec"]
    assert only_container(job["spec"]["template"]["spec"])["image"] == only_container(photos)["image"]
    for path in ("batch", "batch-video"):
        assert "colorize-model" in (GKE / path / "kustomization.yaml").read_text()


def test_the_film_job_is_hardened_and_has_a_whole_machine_for_one_film(job):
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    box = only_container(pod)
    assert box["securityContext"]["readOnlyRootFilesystem"] is True
    assert box["securityContext"]["allowPrivilegeEscalation"] is False
    assert box["securityContext"]["capabilities"]["drop"] == ["ALL"]
    resources = box["resources"]
    assert resources["requests"] == resources["limits"]  # Guaranteed: the last pod evicted, hours into a film
    assert quantity(resources["limits"]["memory"]) >= 2 * 2**30  # a 1080p film peaks at 1.8 GiB
    threads = int(next(e["value"] for e in box["env"] if e["name"] == "OMP_NUM_THREADS"))
    assert threads == quantity(resources["limits"]["cpu"])  # one film at a time, with every core


def test_the_bucket_is_mounted_with_a_write_buffer_that_holds_a_film(job):
    template = job["spec"]["template"]
    pod, box = template["spec"], only_container(template["spec"])
    assert template["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"
    volumes = {v["name"]: v for v in pod["volumes"]}
    (bucket,) = [v for v in volumes.values() if "csi" in v]
    assert bucket["csi"]["driver"] == "gcsfuse.csi.storage.gke.io"
    options = bucket["csi"]["volumeAttributes"]["mountOptions"].split(",")
    assert f"uid={pod['securityContext']['runAsUser']}" in options and "implicit-dirs" in options
    # The FUSE sidecar stages a written file until it is closed: the whole MP4, on the pod's own disk.
    claim = volumes["gke-gcsfuse-buffer"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert quantity(claim["resources"]["requests"]["storage"]) >= 32 * 2**30
    assert pod["securityContext"]["fsGroup"] > 0  # a custom buffer needs it
    (mount,) = [m for m in box["volumeMounts"] if m["name"] == bucket["name"]]
    args = predict_args(box)
    (inputs,), out = args.inputs, str(args.out)
    assert inputs.startswith(mount["mountPath"] + "/") and out.startswith(mount["mountPath"] + "/")
    assert not (out + "/").startswith(inputs + "/") and inputs != out
    assert "emptyDir" in volumes[next(m["name"] for m in box["volumeMounts"] if m["mountPath"] == "/tmp")]
    assert ("ServiceAccount", pod["serviceAccountName"]) in gke_objects("batch-video")


def test_the_model_image_has_the_video_libraries():
    """The CLI's videos need PyAV (FFmpeg, x264, AAC) and OpenCV (the optical flow) in the image's lock."""
    lock = (ROOT / "requirements" / "model.txt").read_text()
    for package in ("av", "opencv-python-headless"):
        assert re.search(rf"^{package}==", lock, re.M), f"requirements/model.txt has no {package}"


# ---- Cloud Run Jobs -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cloudrun(tmp_path_factory):
    commands, manifests = deploy_cloudrun_dry_run(tmp_path_factory.mktemp("films"), "batch.sh", TASKS="12",
                                                  PARALLELISM="3", **FILM_SETTINGS)
    assert set(manifests) == {"batch-video-job.yaml"}
    return commands, manifests["batch-video-job.yaml"]


def test_cloudrun_film_job_validates_against_the_cloud_run_admin_api_schema(cloudrun):
    _, job = cloudrun
    validate_cloudrun_job(job)
    assert job["metadata"]["name"] == "colorize-batch-video"


def test_cloudrun_tasks_take_one_film_each(cloudrun, tmp_path):
    commands, job = cloudrun
    execution = job["spec"]["template"]["spec"]
    assert execution["taskCount"] == 12 and execution["parallelism"] == 3
    task = task_spec(job)
    assert task["maxRetries"] >= 1 and int(task["timeoutSeconds"]) <= 7 * 24 * 3600  # Cloud Run's longest
    args = predict_args(only_container(task))
    assert args.shard_index is None and args.shard_count is None  # CLOUD_RUN_TASK_INDEX/COUNT give both
    shards = [shard_from_env(None, None, {"CLOUD_RUN_TASK_INDEX": str(i), "CLOUD_RUN_TASK_COUNT": "12"})
              for i in range(12)]
    assert [len(films) for films in films_per_shard(film_bucket(tmp_path / "films", 12), shards)] == [1] * 12
    assert "run jobs execute colorize-batch-video" in commands and "execute colorize-batch " not in commands


def test_cloudrun_film_job_runs_the_model_image_and_mounts_only_the_films_bucket(cloudrun, tmp_path):
    commands, job = cloudrun
    spec = task_spec(job)
    _, services = deploy_cloudrun_dry_run(tmp_path, MODEL_VARIANT="cpu")
    assert only_container(spec)["image"] == services["model-cpu.yaml"]["spec"]["template"]["spec"][
        "containers"][0]["image"]
    (volume,) = spec["volumes"]
    assert volume["csi"]["driver"] == "gcsfuse.run.googleapis.com"
    assert volume["csi"]["volumeAttributes"]["bucketName"] == "film-archive"
    (mount,) = only_container(spec)["volumeMounts"]
    args = predict_args(only_container(spec))
    assert args.inputs == [f"{mount['mountPath']}/reels/1950s"]
    assert str(args.out) == f"{mount['mountPath']}/colorized/1950s"
    (binding,) = [line for line in commands.splitlines() if "add-iam-policy-binding" in line]
    assert "buckets add-iam-policy-binding gs://film-archive" in binding and "roles/storage.objectUser" in binding
    # The output film is staged in the task's memory until it is closed: far more than the pipeline's 2 GiB.
    box = only_container(spec)
    assert quantity(box["resources"]["limits"]["memory"]) >= 16 * 2**30
    threads = int(next(e["value"] for e in box["env"] if e["name"] == "OMP_NUM_THREADS"))
    assert threads == quantity(box["resources"]["limits"]["cpu"])


@pytest.mark.parametrize(("settings", "message"), [
    ({"MEDIA": "songs"}, "MEDIA must be photos or films"),
    ({"OUTPUT_PREFIX": "reels/1950s"}, "must differ"),
])
def test_batch_sh_refuses_film_settings_it_cannot_use(tmp_path, settings, message):
    result = run_cloudrun_script(tmp_path, "batch.sh", **{**FILM_SETTINGS, **settings})
    assert result.returncode != 0 and message in result.stderr
