#!/usr/bin/env bash
# Colours a whole bucket prefix on Cloud Run Jobs with the model image deploy.sh built: applies
# batch-job.yaml (photos, in shards) or batch-video-job.yaml (MEDIA=films: one film per task) with
# `gcloud run jobs replace` and runs it. Running it again resumes: what has an output is skipped.
# docs/deploy.md, "Colouring a whole bucket" and "Colouring a bucket of films", walk through it.
#
#   PROJECT_ID=my-project BUCKET=my-photo-archive INPUT_PREFIX=scans OUTPUT_PREFIX=colorized \
#       deploy/cloudrun/batch.sh
#   PROJECT_ID=my-project BUCKET=my-film-archive INPUT_PREFIX=films OUTPUT_PREFIX=colorized-films \
#       MEDIA=films TASKS=$(gcloud storage ls 'gs://my-film-archive/films/**' | wc -l) deploy/cloudrun/batch.sh
#
# Env:
#   PROJECT_ID, BUCKET, INPUT_PREFIX, OUTPUT_PREFIX   (required) the photos are gs://BUCKET/INPUT_PREFIX/...,
#                   their results go to gs://BUCKET/OUTPUT_PREFIX/... with the same folder tree
#   MEDIA           photos (default): job colorize-batch; films: job colorize-batch-video, where TASKS
#                   should be the number of films (task I colours the I-th)
#   REGION          europe-west4;  REPOSITORY  colorize;  TAG  the git commit, short (as deploy.sh)
#   TASKS           shards (default 10);  PARALLELISM  tasks at once (default 5)
#   WAIT=0          start the execution and return (default: wait for it to finish)
#   DRY_RUN=1       print the gcloud commands and write the filled-in manifest to $OUT_DIR; call nothing
#   OUT_DIR         where the filled-in manifest goes (default: a new temporary folder)
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

: "${PROJECT_ID:?set PROJECT_ID to your Google Cloud project}"
: "${BUCKET:?set BUCKET to the bucket that holds the photos}"
: "${INPUT_PREFIX:?set INPUT_PREFIX to the folder of photos in the bucket}"
: "${OUTPUT_PREFIX:?set OUTPUT_PREFIX to the folder for the results in the bucket}"
REGION=${REGION:-europe-west4}
REPOSITORY=${REPOSITORY:-colorize}
TAG=${TAG:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)}
TASKS=${TASKS:-10}
PARALLELISM=${PARALLELISM:-5}
MEDIA=${MEDIA:-photos}
case "$MEDIA" in
    photos) MANIFEST=batch-job.yaml; JOB=colorize-batch ;;
    films) MANIFEST=batch-video-job.yaml; JOB=colorize-batch-video ;;
    *) echo "MEDIA must be photos or films, not '$MEDIA'" >&2; exit 2 ;;
esac
DRY_RUN=${DRY_RUN:-0}
OUT_DIR=${OUT_DIR:-$(mktemp -d)}
mkdir -p "$OUT_DIR"
INPUT_PREFIX=${INPUT_PREFIX%/}
OUTPUT_PREFIX=${OUTPUT_PREFIX%/}

case "$TASKS$PARALLELISM" in *[!0-9]*) echo "TASKS and PARALLELISM must be whole numbers" >&2; exit 2 ;; esac
if [ "$TASKS" -lt 1 ] || [ "$PARALLELISM" -lt 1 ]; then echo "TASKS and PARALLELISM must be at least 1" >&2; exit 2; fi
# The names go into the manifest as they are: keep them to what a bucket's object names commonly use.
for value in "$BUCKET" "$INPUT_PREFIX" "$OUTPUT_PREFIX"; do
    case "$value" in ""|*[!A-Za-z0-9._/-]*|*..*) echo "unsupported bucket or prefix: '$value'" >&2; exit 2 ;; esac
done
if [ "$INPUT_PREFIX" = "$OUTPUT_PREFIX" ]; then echo "INPUT_PREFIX and OUTPUT_PREFIX must differ" >&2; exit 2; fi

MODEL_IMAGE=$REGION-docker.pkg.dev/$PROJECT_ID/$REPOSITORY/colorize-model:$TAG
BATCH_SERVICE_ACCOUNT=colorize-batch@$PROJECT_ID.iam.gserviceaccount.com

# say, gc (gcloud, or only its command line when DRY_RUN=1) and exists
. "$(dirname "${BASH_SOURCE[0]}")/gcloud.sh"

say "service account colorize-batch: objects of gs://$BUCKET only"
exists iam service-accounts describe "$BATCH_SERVICE_ACCOUNT" ||
    gc iam service-accounts create colorize-batch --display-name "colorize batch"
gc storage buckets add-iam-policy-binding "gs://$BUCKET" \
    --member "serviceAccount:$BATCH_SERVICE_ACCOUNT" --role roles/storage.objectUser

say "job $JOB: $TASKS tasks, $PARALLELISM at once, image $MODEL_IMAGE"
sed -e "s|\${MODEL_IMAGE}|$MODEL_IMAGE|g" \
    -e "s|\${BATCH_SERVICE_ACCOUNT}|$BATCH_SERVICE_ACCOUNT|g" \
    -e "s|\${BUCKET}|$BUCKET|g" \
    -e "s|\${INPUT_PREFIX}|$INPUT_PREFIX|g" \
    -e "s|\${OUTPUT_PREFIX}|$OUTPUT_PREFIX|g" \
    -e "s|\${TASKS}|$TASKS|g" \
    -e "s|\${PARALLELISM}|$PARALLELISM|g" \
    "$HERE/$MANIFEST" >"$OUT_DIR/$MANIFEST"
if grep -nE '\$\{[A-Z_]+\}' "$OUT_DIR/$MANIFEST" >&2; then echo "unfilled placeholders" >&2; exit 1; fi
gc run jobs replace "$OUT_DIR/$MANIFEST" --region "$REGION"

say "run: gs://$BUCKET/$INPUT_PREFIX -> gs://$BUCKET/$OUTPUT_PREFIX"
if [ "${WAIT:-1}" = 1 ]; then
    gc run jobs execute "$JOB" --region "$REGION" --wait
else
    gc run jobs execute "$JOB" --region "$REGION" --async
fi
