# Sourced by deploy.sh and batch.sh (needs PROJECT_ID and DRY_RUN): their messages and their gcloud calls.

say() { printf '\n== %s\n' "$*" >&2; }

# gcloud, or only its command line when DRY_RUN=1.
gc() {
    if [ "$DRY_RUN" = 1 ]; then
        printf 'gcloud'; printf ' %q' "$@"; printf '\n'
    else
        gcloud --project "$PROJECT_ID" --quiet "$@"
    fi
}

# Whether the resource exists (never, under DRY_RUN=1: a dry run prints every creating command).
exists() { [ "$DRY_RUN" != 1 ] && gcloud --project "$PROJECT_ID" "$@" >/dev/null 2>&1; }
