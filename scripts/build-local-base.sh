#!/usr/bin/env bash
# Makes what the two images need on a machine that reaches PyPI and Debian's mirror but no container
# registry (this project's CI and dev machines):
#   colorize-base:bookworm   Debian bookworm (minbase) with Python 3.11 and venv, made with debootstrap
#                            and `docker import`; it stands in for python:3.11-slim-bookworm.
#   .whl/model  .whl/web     wheelhouses of requirements/model.txt and requirements/web.txt, fetched by
#                            the host's pip (pip inside `docker build` cannot verify TLS here).
# Each is reused when present and up to date; FORCE=1 makes both again.
# Usage: scripts/build-local-base.sh [all|base|wheels]   (needs root, debootstrap and a Docker engine)
# Then build with  --build-arg BASE_IMAGE=colorize-base:bookworm --build-arg WHEELHOUSE=.whl/model
# (or .whl/web), or: docker compose --env-file deploy/local.env up --build
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_TAG=${BASE_TAG:-colorize-base:bookworm}
WHEEL_ROOT=${WHEEL_ROOT:-.whl}
PYTHON=${PYTHON:-python3}
FORCE=${FORCE:-0}

ROOTFS=
trap 'rm -rf "${ROOTFS:-/nonexistent}" "${ROOTFS:-/nonexistent}.log"' EXIT

log() { printf '[build-local-base] %s\n' "$*" >&2; }

# The Debian mirror apt already uses (deb822 "URIs:" or one-line "deb" entries), else Debian's own.
debian_mirror() {
    local uri
    uri=$(grep -rhoE '^(URIs:|deb)[[:space:]]+[^[:space:]]+/debian/?([[:space:]]|$)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | awk '{print $2}' | head -n1 || true)
    echo "${DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}

build_base() {
    if [ "$FORCE" != 1 ] && docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
        log "reusing $BASE_TAG"
        return
    fi
    command -v debootstrap >/dev/null || { log "debootstrap is missing: apt-get install -y debootstrap"; exit 1; }
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d /var/tmp/colorize-rootfs.XXXXXX)
    ROOTFS=$rootfs  # removed on exit, whatever happens
    log "debootstrap bookworm from $mirror into $rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 1; }
    # Security and point-release updates, as the official python images carry them.
    local security=${mirror%/debian}/debian-security
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
    chroot "$rootfs" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive
        apt-get -o APT::Sandbox::User=root update -qq && apt-get -o APT::Sandbox::User=root upgrade -y -qq >/dev/null && apt-get clean' >&2
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/tmp/*
    # The engine provides these at run time; the build host's own must not ship in the image.
    rm -f "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
    log "importing $BASE_TAG"
    tar -C "$rootfs" --numeric-owner -c . | docker import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' \
        -m "Debian bookworm minbase + python3 (scripts/build-local-base.sh)" - "$BASE_TAG" >/dev/null
    docker run --rm "$BASE_TAG" python3 -c 'import sys, venv; assert sys.version_info[:2] == (3, 11), sys.version'
}

# pip downloads into the folder in place, so an unchanged wheel is never fetched twice.
build_wheels() {
    local dir=$WHEEL_ROOT/$1 lock=requirements/$1.txt want
    want=$(sha256sum "$lock" | cut -d' ' -f1)
    if [ "$FORCE" != 1 ] && [ "$(cat "$dir/.lock.sha256" 2>/dev/null)" = "$want" ]; then
        log "reusing $dir"
        return
    fi
    log "downloading the wheels of $lock into $dir"
    mkdir -p "$dir"
    rm -f "$dir/.lock.sha256"
    # The images run CPython 3.11 on x86_64 with bookworm's glibc 2.36: ask for wheels that fit them,
    # whatever runs this script (pip does not widen a --platform it is given, so list them all).
    local platforms=() v
    for v in $(seq 36 -1 5); do platforms+=(--platform "manylinux_2_${v}_x86_64"); done
    platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
    if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir" \
            --implementation cp --python-version 3.11 --abi cp311 "${platforms[@]}" -r "$lock" 2>&1 \
            | { grep -v "^WARNING: Location 'file:" || true; } >&2; then
        log "pip download failed for $lock"
        exit 1
    fi
    echo "$want" >"$dir/.lock.sha256"
}

case "${1:-all}" in
    base) build_base ;;
    wheels) build_wheels web; build_wheels model ;;
    all) build_wheels web; build_wheels model; build_base ;;
    *) echo "usage: $0 [all|base|wheels]" >&2; exit 2 ;;
esac
log "done"
