#!/usr/bin/env bash
# Stand-ins for the two images `make docker-check` cannot pull (no Docker Hub on the machines
# that run it), made from Debian bookworm's own packages and tagged with the names the
# Dockerfile and compose.yaml use, so both are used unchanged:
#
#   python:3.11-slim-bookworm  debootstrap --variant=minbase + python3 (3.11), venv, pip,
#                              ca-certificates. The official image's Python is in /usr/local,
#                              this one's in /usr; the Dockerfile only relies on `python3 -m venv`.
#   postgres:15                the above + Debian's postgresql-15, with an entrypoint that
#                              honours what compose.yaml relies on of the official image:
#                              POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on first start,
#                              the data directory /var/lib/postgresql/data (a volume), password
#                              logins over TCP, pg_isready on PATH, SIGTERM = fast shutdown.
#
# Made once: an image already there is kept (FORCE=1 remakes them). Needs root, debootstrap
# and a running docker daemon. Never push these: they only stand in on a test machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON_IMAGE="${PYTHON_IMAGE:-python:3.11-slim-bookworm}"
POSTGRES_IMAGE="${POSTGRES_IMAGE:-postgres:15}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORK="${STANDIN_WORK:-/var/tmp/picasso-standins}"

have() { docker image inspect "$1" >/dev/null 2>&1 && [ -z "${FORCE:-}" ]; }

if have "$PYTHON_IMAGE"; then
    echo "stand-in $PYTHON_IMAGE: already there"
else
    command -v debootstrap >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
    root="$WORK/python-rootfs"
    rm -rf "$root" && mkdir -p "$root"
    echo "stand-in $PYTHON_IMAGE: debootstrap bookworm into $root (a few minutes)"
    started=$(date +%s)
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
        bookworm "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    # What docker's own Debian images leave out: apt's caches and the package lists.
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/tmp/* \
        "$root"/var/log/*.log
    tar -C "$root" -c . | docker import \
        -c 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'CMD ["python3"]' - "$PYTHON_IMAGE" >/dev/null
    rm -rf "$root"
    echo "stand-in $PYTHON_IMAGE: made in $(( $(date +%s) - started )) s," \
        "$(docker image inspect -f '{{.Size}}' "$PYTHON_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
fi

if have "$POSTGRES_IMAGE"; then
    echo "stand-in $POSTGRES_IMAGE: already there"
else
    echo "stand-in $POSTGRES_IMAGE: Debian's postgresql-15 on $PYTHON_IMAGE"
    started=$(date +%s)
    docker build --network host -q -t "$POSTGRES_IMAGE" \
        --build-arg BASE="$PYTHON_IMAGE" --build-arg MIRROR="$MIRROR" \
        -f "$here/standin-postgres/Dockerfile" "$here/standin-postgres" >/dev/null
    echo "stand-in $POSTGRES_IMAGE: made in $(( $(date +%s) - started )) s"
fi
