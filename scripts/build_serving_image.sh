#!/usr/bin/env bash
# Build the serving base image (maas/serving:2.21.0): the TF-Serving-compatible model server
# on maas/debian-python:bookworm, with tensorflow/serving's entrypoint, ports and environment.
#
#   scripts/build_serving_image.sh [--extra-ca FILE] [--online] [--no-push]
#
# The pinned wheels (tensorflow-cpu, grpcio, protobuf, tensorflow-serving-api, confluent-kafka
# for the Kafka bridge, and their dependencies) are downloaded on the host once into
# $MAAS_CACHE/wheels-<hash> and copied into the build context, so `docker build` needs no
# network. --extra-ca FILE adds a CA bundle for pip inside the build (with --online, for an
# index behind a TLS-intercepting proxy). The image is pushed to $MAAS_REGISTRY
# (default 127.0.0.1:5000) when that registry answers, unless --no-push.
#
# Environment: SERVING_TAG (maas/serving:2.21.0), SERVING_BASE (maas/debian-python:bookworm),
# MAAS_REGISTRY, MAAS_CACHE, PYTHON (the host interpreter with pip; default .venv/bin/python).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAG=${SERVING_TAG:-maas/serving:2.21.0}
BASE=${SERVING_BASE:-maas/debian-python:bookworm}
REGISTRY=${MAAS_REGISTRY:-127.0.0.1:5000}
PYTHON=${PYTHON:-$MAAS_ROOT/.venv/bin/python}
EXTRA_CA="" ONLINE=0 PUSH=1
while [ $# -gt 0 ]; do
    case $1 in
        --extra-ca) EXTRA_CA=$2; shift 2 ;;
        --extra-ca=*) EXTRA_CA=${1#*=}; shift ;;
        --online) ONLINE=1; shift ;;
        --no-push) PUSH=0; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[ -x "$PYTHON" ] || die "no Python with pip at $PYTHON: run scripts/setup first or set PYTHON"
[ -z "$EXTRA_CA" ] || [ -f "$EXTRA_CA" ] || die "--extra-ca: no such file: $EXTRA_CA"
docker image inspect "$BASE" >/dev/null 2>&1 || die "base image $BASE not found: build it first (scripts/build_base_images.sh)"

pin() { grep -iE "^$1==" "$MAAS_ROOT/$2" | head -n1; }
REQS=$(printf '%s\n' "$(pin tensorflow-cpu requirements.txt)" "$(pin grpcio requirements.txt)" "$(pin protobuf requirements.txt)" \
    "$(pin confluent-kafka requirements.txt)")
NODEPS=$(pin tensorflow-serving-api requirements-serving-api.txt)
PIP_PIN="pip==$("$PYTHON" -m pip --version | awk '{print $2}')"
# Debian bookworm: CPython 3.11, glibc 2.36 (pip does not widen an explicit --platform by itself).
PLATFORMS=""
for p in manylinux_2_36 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_17 \
         manylinux2014 manylinux2010 manylinux_2_12 manylinux1 manylinux_2_5; do
    PLATFORMS="$PLATFORMS --platform ${p}_x86_64"
done
TARGET="--only-binary=:all:$PLATFORMS --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none"
HASH=$(printf '%s\n' "$REQS" "$NODEPS" "$PIP_PIN" "$TARGET" | sha256sum | cut -c1-12)
WHEELS=$MAAS_CACHE/wheels-$HASH

download_wheels() {
    mkdir -p "$TMP_DEST"
    printf '%s\n' "$REQS" >"$TMP_DEST/requirements.txt"
    printf '%s\n' "$NODEPS" >"$TMP_DEST/requirements-no-deps.txt"
    # shellcheck disable=SC2086
    "$PYTHON" -m pip download -q -d "$TMP_DEST" $TARGET -r "$TMP_DEST/requirements.txt" &&
    "$PYTHON" -m pip download -q -d "$TMP_DEST" $TARGET --no-deps -r "$TMP_DEST/requirements-no-deps.txt" &&
    "$PYTHON" -m pip download -q -d "$TMP_DEST" --only-binary=:all: --no-deps "$PIP_PIN"
}
if [ ! -d "$WHEELS" ]; then
    step "download serving wheels into $WHEELS" install_atomically "$WHEELS" download_wheels ||
        die "could not download the serving wheels"
fi

CONTEXT=$(mktemp -d "${TMPDIR:-/tmp}/maas-serving-context.XXXXXX")
trap 'rm -rf "$CONTEXT"' EXIT
cp "$MAAS_ROOT/images/serving/Dockerfile" "$MAAS_ROOT/images/serving/entrypoint.sh" \
    "$MAAS_ROOT/images/serving/tensorflow_model_server" "$CONTEXT/"
mkdir -p "$CONTEXT/wheels" "$CONTEXT/certs" "$CONTEXT/app"
cp -l "$WHEELS"/* "$CONTEXT/wheels/" 2>/dev/null || cp "$WHEELS"/* "$CONTEXT/wheels/"
# Only the data plane goes into the image: its Python sources, nothing of the control plane.
(cd "$MAAS_ROOT" && find maas_dataplane -name "*.py" -exec cp --parents {} "$CONTEXT/app/" \;)
BUILD_ARGS=(--build-arg "BASE_IMAGE=$BASE" --build-arg "PIP_ONLINE=$ONLINE")
if [ -n "$EXTRA_CA" ]; then
    cp "$EXTRA_CA" "$CONTEXT/certs/extra-ca.pem"
    BUILD_ARGS+=(--build-arg "EXTRA_CA_BUNDLE=certs/extra-ca.pem")
fi

step "docker build $TAG" docker build --label "org.opencontainers.image.title=maas/serving" \
    --label "org.opencontainers.image.version=${TAG##*:}" "${BUILD_ARGS[@]}" -t "$TAG" "$CONTEXT" ||
    die "docker build of $TAG failed"
SIZE=$(docker image inspect -f '{{.Size}}' "$TAG")
printf '%s %s bytes (%s MB)\n' "$TAG" "$SIZE" "$((SIZE / 1000000))" | tee "$MAAS_LOGS/serving-image-size.txt"

if [ "$PUSH" = 1 ]; then
    if curl -fsS -m 3 "http://$REGISTRY/v2/" >/dev/null 2>&1; then
        docker tag "$TAG" "$REGISTRY/$TAG"
        step "docker push $REGISTRY/$TAG" docker push "$REGISTRY/$TAG" || die "push to $REGISTRY failed"
    else
        echo "registry $REGISTRY is not up: not pushed"
    fi
fi
