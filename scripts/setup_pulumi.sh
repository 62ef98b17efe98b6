#!/usr/bin/env bash
# The pinned Pulumi engine: the `pulumi` CLI, the Python language host and the two scripts the
# Python SDK needs next to them (pulumi-language-python-exec, pulumi-resource-pulumi-python).
#
# Uses `pulumi` from PATH when it is exactly the pinned version and has its Python language
# host beside it. Otherwise builds everything from the Go module proxy into
# $MAAS_CACHE/pulumi-<version>/bin (atomically; a cached run only checks the versions).
# GOPATH and GOCACHE live under $MAAS_CACHE/go, so a fresh clone reuses downloads and builds.
# Why the language host comes from an older sdk/v3: tools/README.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$MAAS_ROOT"

PULUMI_VERSION=v3.260.0
# The sdk/v3 version the language host is built from (tools/pulumi-language-python/go.mod).
LANGUAGE_HOST_VERSION=$(awk -v m=github.com/pulumi/pulumi/sdk/v3 \
    '$1 == "require" && $2 == m {print $3} $1 == m {print $2}' tools/pulumi-language-python/go.mod)
[ -n "$LANGUAGE_HOST_VERSION" ] || die "no sdk/v3 version in tools/pulumi-language-python/go.mod"
PULUMI_DIR="$MAAS_CACHE/pulumi-$PULUMI_VERSION"
VERSION_PKG=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

export GOPATH="$MAAS_CACHE/go" GOCACHE="$MAAS_CACHE/go/cache" GOFLAGS=-mod=readonly GOTOOLCHAIN=local
GO=$(command -v go || echo /usr/local/go/bin/go)

# is_complete DIR: DIR holds the pinned CLI and everything the Python runtime needs from it.
is_complete() {
    local dir=$1 f
    for f in pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python; do
        [ -x "$dir/$f" ] || return 1
    done
    [ "$("$dir/pulumi" version 2>/dev/null)" = "$PULUMI_VERSION" ]
}

build_engine() {
    local bin="$TMP_DEST/bin" sdk
    mkdir -p "$bin"
    (cd tools/pulumi-cli && nice "$GO" build -trimpath \
        -ldflags "-s -w -X $VERSION_PKG=$PULUMI_VERSION" \
        -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
    (cd tools/pulumi-language-python && nice "$GO" build -trimpath \
        -ldflags "-s -w -X $VERSION_PKG=$LANGUAGE_HOST_VERSION" \
        -o "$bin/pulumi-language-python" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python)
    # These two must match the Python SDK (pulumi==3.260.0), so they come from sdk/v3 v3.260.0.
    sdk=$(cd tools/pulumi-cli && "$GO" list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
    install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$sdk/python/dist/pulumi-resource-pulumi-python" "$bin/"
    printf 'pulumi %s\npulumi-language-python %s (sdk/v3)\nexec scripts from sdk/v3 %s\n' \
        "$PULUMI_VERSION" "$LANGUAGE_HOST_VERSION" "$PULUMI_VERSION" > "$TMP_DEST/VERSIONS"
    "$bin/pulumi" version
}

ambient=$(command -v pulumi || true)
if [ -n "$ambient" ] && is_complete "$(dirname "$ambient")"; then
    echo "==> pulumi: using $ambient ($PULUMI_VERSION)"
elif is_complete "$PULUMI_DIR/bin"; then
    echo "==> pulumi: $PULUMI_VERSION cached in $PULUMI_DIR"
else
    [ -x "$GO" ] || die "Go is needed to build pulumi $PULUMI_VERSION (install Go >= 1.26 into /usr/local/go)"
    step "pulumi: build $PULUMI_VERSION (CLI + Python language host $LANGUAGE_HOST_VERSION)" \
        install_atomically "$PULUMI_DIR" build_engine
fi
