#!/usr/bin/env bash
# Deploys colorize to Cloud Run: builds both images with Cloud Build into Artifact Registry, then applies
# model-{gpu,cpu}.yaml and web.yaml with `gcloud run services replace`. Safe to run again (every step
# creates only what is missing). docs/deploy.md, "Deploy to Cloud Run", walks through it.
#
#   PROJECT_ID=my-project REGION=europe-west4 deploy/cloudrun/deploy.sh
#
# Env:
#   PROJECT_ID      (required) the Google Cloud project
#   REGION          europe-west4 (pick one with Cloud Run L4 GPUs for MODEL_VARIANT=gpu)
#   MODEL_VARIANT   gpu | cpu (default gpu)
#   REPOSITORY      Artifact Registry Docker repository (default colorize; made if missing)
#   TAG             image tag (default: the git commit, short)
#   MODEL_INGRESS   all (default: reachable by URL, but only with an ID token of an invoker) | internal
#                   (also only from your VPC: then give the web service VPC egress, see docs/deploy.md)
#   SKIP_BUILD=1    deploy images already pushed with this TAG
#   DRY_RUN=1       print the gcloud commands and write the filled-in manifests to $OUT_DIR; call nothing
#   OUT_DIR         where the filled-in manifests go (default: a new temporary folder)
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

: "${PROJECT_ID:?set PROJECT_ID to your Google Cloud project}"
REGION=${REGION:-europe-west4}
MODEL_VARIANT=${MODEL_VARIANT:-gpu}
REPOSITORY=${REPOSITORY:-colorize}
TAG=${TAG:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)}
MODEL_INGRESS=${MODEL_INGRESS:-all}
DRY_RUN=${DRY_RUN:-0}
OUT_DIR=${OUT_DIR:-$(mktemp -d)}
mkdir -p "$OUT_DIR"

case "$MODEL_VARIANT" in gpu|cpu) ;; *) echo "MODEL_VARIANT must be gpu or cpu" >&2; exit 2 ;; esac
case "$MODEL_INGRESS" in all|internal) ;; *) echo "MODEL_INGRESS must be all or internal" >&2; exit 2 ;; esac

REGISTRY=$REGION-docker.pkg.dev/$PROJECT_ID/$REPOSITORY
MODEL_IMAGE=$REGISTRY/colorize-model:$TAG
WEB_IMAGE=$REGISTRY/colorize-web:$TAG
MODEL_SERVICE_ACCOUNT=colorize-model@$PROJECT_ID.iam.gserviceaccount.com
WEB_SERVICE_ACCOUNT=colorize-web@$PROJECT_ID.iam.gserviceaccount.com
SECRET=colorize-secret-key

# say, gc (gcloud, or only its command line when DRY_RUN=1) and exists
. "$(dirname "${BASH_SOURCE[0]}")/gcloud.sh"

# Fill in the manifest's ${...} placeholders (only these; the names are fixed).
render() {
    sed -e "s|\${MODEL_IMAGE}|$MODEL_IMAGE|g" \
        -e "s|\${WEB_IMAGE}|$WEB_IMAGE|g" \
        -e "s|\${MODEL_SERVICE_ACCOUNT}|$MODEL_SERVICE_ACCOUNT|g" \
        -e "s|\${WEB_SERVICE_ACCOUNT}|$WEB_SERVICE_ACCOUNT|g" \
        -e "s|\${MODEL_INGRESS}|$MODEL_INGRESS|g" \
        -e "s|\${MODEL_SERVICE_URL}|${MODEL_SERVICE_URL:-}|g" \
        "$HERE/$1" >"$OUT_DIR/$1"
    if grep -nE '\$\{[A-Z_]+\}' "$OUT_DIR/$1" >&2; then echo "unfilled placeholders in $1" >&2; exit 1; fi
    echo "$OUT_DIR/$1"
}

say "APIs"
gc services enable run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com \
    secretmanager.googleapis.com iamcredentials.googleapis.com

say "Artifact Registry repository $REPOSITORY"
exists artifacts repositories describe "$REPOSITORY" --location "$REGION" ||
    gc artifacts repositories create "$REPOSITORY" --repository-format docker --location "$REGION"

say "service accounts (one per service, no roles beyond what follows)"
for account in colorize-model colorize-web; do
    exists iam service-accounts describe "$account@$PROJECT_ID.iam.gserviceaccount.com" ||
        gc iam service-accounts create "$account" --display-name "colorize ${account#colorize-}"
done

say "SECRET_KEY of the web app in Secret Manager ($SECRET)"
if ! exists secrets describe "$SECRET"; then
    if [ "$DRY_RUN" = 1 ]; then
        gc secrets create "$SECRET" --replication-policy automatic --data-file -
    else
        python3 -c 'import secrets; print(secrets.token_hex(32), end="")' |
            gc secrets create "$SECRET" --replication-policy automatic --data-file -
    fi
fi
gc secrets add-iam-policy-binding "$SECRET" \
    --member "serviceAccount:$WEB_SERVICE_ACCOUNT" --role roles/secretmanager.secretAccessor

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "images: $MODEL_IMAGE, $WEB_IMAGE (Cloud Build)"
    gc builds submit "$ROOT" --config "$HERE/cloudbuild.yaml" \
        --substitutions "_MODEL_IMAGE=$MODEL_IMAGE,_WEB_IMAGE=$WEB_IMAGE"
fi

say "model service ($MODEL_VARIANT, ingress $MODEL_INGRESS, not public)"
model_manifest=$(render "model-$MODEL_VARIANT.yaml")
gc run services replace "$model_manifest" --region "$REGION"
# Only the web app's account may call it: no allUsers binding, ever.
gc run services add-iam-policy-binding colorize-model --region "$REGION" \
    --member "serviceAccount:$WEB_SERVICE_ACCOUNT" --role roles/run.invoker
if [ "$DRY_RUN" = 1 ]; then
    MODEL_SERVICE_URL=https://colorize-model-PROJECT_NUMBER.$REGION.run.app
else
    MODEL_SERVICE_URL=$(gcloud --project "$PROJECT_ID" run services describe colorize-model \
        --region "$REGION" --format 'value(status.url)')
fi

say "web app (public), calling $MODEL_SERVICE_URL"
web_manifest=$(render web.yaml)
gc run services replace "$web_manifest" --region "$REGION"
gc run services add-iam-policy-binding colorize-web --region "$REGION" \
    --member allUsers --role roles/run.invoker

if [ "$DRY_RUN" = 1 ]; then
    say "dry run: manifests in $OUT_DIR"
else
    say "done: $(gcloud --project "$PROJECT_ID" run services describe colorize-web --region "$REGION" \
        --format 'value(status.url)')"
fi
