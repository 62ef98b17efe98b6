#!/usr/bin/env bash
# Builds the base images locally (this machine reaches no container registry) and pushes them
# to the local registry:
#
#   maas/debian:bookworm          Debian bookworm minbase from debootstrap, slimmed like Debian's
#                                 -slim images (no docs, man pages, translations), `docker import`ed
#   maas/debian-python:bookworm   + python3, ca-certificates, tini          (images/debian-python)
#   maas/haproxy:2.6              + Debian's haproxy 2.6, official-image contract (images/haproxy)
#
# each also as 127.0.0.1:5000/<name>:<tag>. Needs dockerd and the registry (scripts/services start).
#
# Caching: the debootstrap rootfs is a tarball under $MAAS_CACHE/rootfs keyed by suite, variant,
# architecture and the recipe's revision (not by date: Debian point releases inside bookworm don't change the key;
# delete the tarball or set MAAS_REBUILD_BASE=1 to refresh it). An image is rebuilt only when
# its tag is missing or its `maas.source-digest` label differs from the digest of its inputs
# (rootfs tarball for the import; Dockerfile + context + base image id for the builds), and
# pushed only when the registry lacks that tag or the image was just (re)built.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=bookworm
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
# host_mirror SUFFIX: the first Debian archive URI this host's apt uses whose path ends in SUFFIX
# (/debian or /debian-security), so the image uses the same mirror as the host.
host_mirror() {
    grep -hoE '(URIs:|^deb)[[:space:]]+[^[:space:]]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -E "$1/?\$" | head -n 1
}
MIRROR=${MAAS_DEBIAN_MIRROR:-$(host_mirror /debian)}
SECURITY_MIRROR=${MAAS_DEBIAN_SECURITY_MIRROR:-$(host_mirror /debian-security)}
[ -n "$MIRROR" ] || die "no Debian mirror in this host's apt sources; set MAAS_DEBIAN_MIRROR"
[ -n "$SECURITY_MIRROR" ] || SECURITY_MIRROR=${MIRROR%/debian}/debian-security
REGISTRY=${MAAS_REGISTRY:-127.0.0.1:5000}
# bump ROOTFS_RECIPE when make_rootfs changes what goes into the tarball
ROOTFS_RECIPE=2
ROOTFS_TAR=$MAAS_CACHE/rootfs/debian-$SUITE-minbase-$ARCH-r$ROOTFS_RECIPE.tar
# Debian's docker.io (20.10) has no buildx: use the legacy builder explicitly, also when a newer
# docker CLI earlier on PATH would try BuildKit.
export DOCKER_BUILDKIT=0

command -v docker >/dev/null || die "docker CLI missing: run scripts/setup_services.sh"
docker version >/dev/null 2>&1 || die "no Docker engine answers: run scripts/services start"

image_label() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null; }
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null; }

# ---------------------------------------------------------------- rootfs

# slim_rootfs ROOT: removes what the docker-slim dpkg excludes keep out of later installs.
# Refuses anything but a debootstrap tree under $MAAS_CACHE (never the host's own /usr).
slim_rootfs() {
    local root=$1
    case $root in "$MAAS_CACHE"/rootfs/?*) ;; *) echo "refusing to slim $root"; return 1 ;; esac
    [ -f "$root/etc/debian_version" ] && [ -d "$root/usr/share" ] || { echo "not a rootfs: $root"; return 1; }
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    local d
    for d in man groff info lintian linda; do
        [ -d "$root/usr/share/$d" ] && find "$root/usr/share/$d" -mindepth 1 -delete
    done
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
}

make_rootfs() {
    # $TMP_DEST is the future tarball; the tree is built beside it and removed afterwards
    [ -n "${TMP_DEST:-}" ] || return 1
    local root="$TMP_DEST.root"
    rm -rf "$root"
    nice debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$root" "$MIRROR" || { rm -rf "$root"; return 1; }
    cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
    # What the official Debian images set up for life in a container: no service starts from
    # package scripts, no .deb kept after install, no translations downloaded.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    # Like Debian's -slim images: no documentation, manuals or translations, now or in later
    # installs (copyright files stay). Every model image is built on this, so it pays off.
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    slim_rootfs "$root"
    echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
           "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/dev/* "$root/etc/hostname" \
           "$root/etc/resolv.conf" "$root/etc/hosts"
    : >"$root/etc/machine-id" 2>/dev/null || true
    tar --numeric-owner --xattrs --sort=name -C "$root" -cf "$TMP_DEST" . || { rm -rf "$root"; return 1; }
    rm -rf "$root"
    ls -l "$TMP_DEST"
}

rootfs() {
    if [ -s "$ROOTFS_TAR" ] && [ -z "${MAAS_REBUILD_BASE:-}" ]; then
        echo "cached: $ROOTFS_TAR"; return 0
    fi
    # install_atomically works on directories; a plain file gets a .partial sibling the same way
    local tmp="$ROOTFS_TAR.partial.$$"
    mkdir -p "$(dirname "$ROOTFS_TAR")"
    if TMP_DEST="$tmp" make_rootfs; then
        sha256sum "$tmp" | cut -d' ' -f1 >"$ROOTFS_TAR.sha256" && mv -f "$tmp" "$ROOTFS_TAR"
    else
        rm -f "$tmp"; return 1
    fi
}

# ---------------------------------------------------------------- images

import_debian() {
    local ref=maas/debian:$SUITE digest
    # the digest is written beside the tarball when it is made (hashing 80 MB every run is slow)
    [ -s "$ROOTFS_TAR.sha256" ] || sha256sum "$ROOTFS_TAR" | cut -d' ' -f1 >"$ROOTFS_TAR.sha256"
    digest=$(cat "$ROOTFS_TAR.sha256")
    if [ "$(image_label "$ref" maas.source-digest)" = "$digest" ]; then
        echo "cached: $ref ($(image_id "$ref"))"; return 0
    fi
    docker import \
        --change "LABEL maas.source-digest=$digest org.opencontainers.image.title=maas/debian org.opencontainers.image.version=$SUITE" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        "$ROOTFS_TAR" "$ref" || return 1
    BUILT+=("$ref")
}

# build_image REF DIR: docker build DIR on top of maas/debian:$SUITE
build_image() {
    local ref=$1 dir=$MAAS_ROOT/$2 base=maas/debian:$SUITE digest
    digest=$( (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; image_id "$base") \
              | sha256sum | cut -d' ' -f1)
    if [ "$(image_label "$ref" maas.source-digest)" = "$digest" ]; then
        echo "cached: $ref ($(image_id "$ref"))"; return 0
    fi
    nice docker build --pull=false --rm --force-rm --build-arg "BASE=$base" \
        --label "maas.source-digest=$digest" \
        --label "org.opencontainers.image.title=${ref%%:*}" \
        --label "org.opencontainers.image.base.name=$base" \
        -t "$ref" "$dir" || return 1
    BUILT+=("$ref")
}

registry_has() {
    local name=${1%%:*} tag=${1##*:}
    curl -fsS -o /dev/null -m 10 -I \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REGISTRY/v2/$name/manifests/$tag"
}

push_image() {
    local ref=$1 remote=$REGISTRY/$1 b
    local rebuilt=""
    for b in "${BUILT[@]}"; do [ "$b" = "$ref" ] && rebuilt=1; done
    if [ -z "$rebuilt" ] && registry_has "$ref" \
        && [ "$(image_id "$remote")" = "$(image_id "$ref")" ]; then
        echo "cached: $remote already in the registry"; return 0
    fi
    docker tag "$ref" "$remote" && docker push "$remote"
}

BUILT=()
IMAGES=("maas/debian:$SUITE" "maas/debian-python:$SUITE" "maas/haproxy:2.6")

step "debian $SUITE rootfs (debootstrap)" rootfs || exit 1
step "image maas/debian:$SUITE (import)" import_debian || exit 1
step "image maas/debian-python:$SUITE" build_image "maas/debian-python:$SUITE" images/debian-python || exit 1
step "image maas/haproxy:2.6" build_image "maas/haproxy:2.6" images/haproxy || exit 1
for ref in "${IMAGES[@]}"; do
    step "push $REGISTRY/$ref" push_image "$ref" || exit 1
done
for ref in "${IMAGES[@]}"; do
    printf '    %-36s %s  %s MB\n' "$REGISTRY/$ref" "$(image_id "$ref" | cut -c8-19)" \
        "$(docker image inspect -f '{{.Size}}' "$ref" | awk '{printf "%.1f", $1/1e6}')"
done
