#!/usr/bin/env bash
# Build the kernel image once per content. The image is tagged by a hash of this folder, so a
# second run with nothing changed only re-tags it. When no registry answers, the Debian base
# is bootstrapped from Debian packages (debootstrap) and imported under the tag the
# Dockerfile expects.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tag=${1:-${KERNELBOX_IMAGE:-kernelbox/kernel:latest}}
base=${KERNELBOX_BASE_IMAGE:-kernelbox/debian-base:bookworm}
suite=bookworm
mirror=${KERNELBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { printf 'kernel-image: %s\n' "$*" >&2; }

content_hash() {
    (cd "$here" &&
        cat Dockerfile kernelbox-kernel.py kernelbox_files.py kernelbox_startup.py kernelbox_paths.py \
            kernelbox_messages.py build.sh &&
        printf '%s' "$base") |
        sha256sum | cut -c1-16
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

bootstrap_base() {
    if [ "$(id -u)" -ne 0 ]; then
        say "building the Debian base needs root (debootstrap); run: sudo $0"
        exit 1
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    local root
    root=$(mktemp -d /var/tmp/kernelbox-base.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$root'" EXIT
    say "bootstrapping Debian $suite from $mirror (once)"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
        tail -20 "$root.log" >&2
        rm -f "$root.log"
        exit 1
    }
    rm -f "$root.log"
    # Drop what a container never needs and what would only make the layer non-reproducible.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
    tar --numeric-owner -C "$root" -c . |
        docker import --change 'CMD ["/bin/bash"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            - "$base" >/dev/null
    rm -rf "$root"
    trap - EXIT
    say "imported $base"
}

ensure_base() {
    have_image "$base" && return 0
    if docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
        docker tag debian:bookworm-slim "$base"
        say "using debian:bookworm-slim from the registry as $base"
        return 0
    fi
    say "no registry reachable; building $base from Debian packages"
    bootstrap_base
}

hash=$(content_hash)
hashed="${tag%:*}:$hash"
if have_image "$hashed"; then
    docker tag "$hashed" "$tag"
    say "$tag is up to date ($hashed)"
    exit 0
fi

ensure_base
say "building $hashed"
DOCKER_BUILDKIT=0 docker build -q \
    --build-arg "BASE_IMAGE=$base" \
    --label "kernelbox.image.hash=$hash" \
    -t "$hashed" -t "$tag" "$here" >/dev/null
say "built $tag ($hashed)"
