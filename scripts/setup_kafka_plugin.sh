#!/usr/bin/env bash
# The kafka resource plugin (pulumi-resource-kafka 3.12.3) that the Python SDK pulumi_kafka==3.12.3
# drives: built from the Go module proxy through the wrapper module tools/pulumi-kafka/provider
# (the Terraform provider Mongey/terraform-provider-kafka under the Pulumi Terraform bridge),
# then installed into $PULUMI_HOME with `pulumi plugin install`.
#
# The build lands in $MAAS_CACHE/pulumi-kafka-<version>-<hash of the wrapper module>/
# (atomically); a cached run only checks that `pulumi plugin ls` lists the plugin and that the
# installed binary is the cached one. With no build cache, a plugin that `pulumi plugin ls`
# already lists is not built again. Needs the pinned pulumi (scripts/setup_pulumi.sh).
# GOPATH and GOCACHE live under $MAAS_CACHE/go, shared with setup_pulumi.sh. tools/README.md
# has the versions, the build steps and their cost.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$MAAS_ROOT"
# PATH with the pinned pulumi, and PULUMI_HOME, exactly as the rest of the tooling sees them.
eval "$("$MAAS_ROOT/scripts/env")"

PLUGIN_VERSION=3.12.3
MODULE=tools/pulumi-kafka/provider
VERSION_VAR=github.com/maas-iac/tools/pulumi-kafka/provider.Version
# The cache key: the wrapper module's files and this script (it holds the build recipe).
module_hash=$( (cd "$MODULE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    sha256sum < "$MAAS_ROOT/scripts/setup_kafka_plugin.sh") | sha256sum | cut -c1-16)
PLUGIN_DIR="$MAAS_CACHE/pulumi-kafka-$PLUGIN_VERSION-$module_hash"
PLUGIN_BIN="$PLUGIN_DIR/bin/pulumi-resource-kafka"
INSTALLED_BIN="$PULUMI_HOME/plugins/resource-kafka-v$PLUGIN_VERSION/pulumi-resource-kafka"

export GOPATH="$MAAS_CACHE/go" GOCACHE="$MAAS_CACHE/go/cache" GOFLAGS=-mod=readonly GOTOOLCHAIN=local
GO=$(command -v go || echo /usr/local/go/bin/go)

# build_plugin: tfgen, the schema it writes, and the plugin that embeds that schema. The build
# runs in a copy of the module, so the generated schema.json never lands in the checkout; the
# copy is named `provider` like the original, for tfgen (below).
build_plugin() {
    local src="$TMP_DEST/provider" ldflags="-s -w -X $VERSION_VAR=$PLUGIN_VERSION"
    mkdir -p "$TMP_DEST/bin" && cp -R "$MODULE" "$src" || return
    (cd "$src" && nice -n 10 "$GO" build -trimpath -ldflags "$ldflags" \
        -o "$src/pulumi-tfgen-kafka" ./cmd/pulumi-tfgen-kafka) || return
    # PULUMI_CONVERT=0: tfgen's default example conversion would start a converter plugin it
    # downloads first. The docs come from the Terraform provider's module: tfgen runs
    # `go mod download` for it in its working directory, which must be named `provider`.
    (cd "$src" && PULUMI_CONVERT=0 PULUMI_MISSING_DOCS_ERROR=false \
        "$src/pulumi-tfgen-kafka" schema --out "$src/cmd/pulumi-resource-kafka") || return
    (cd "$src" && nice -n 10 "$GO" build -trimpath -ldflags "$ldflags" \
        -o "$TMP_DEST/bin/pulumi-resource-kafka" ./cmd/pulumi-resource-kafka) || return
    cp "$src/cmd/pulumi-resource-kafka/schema.json" "$TMP_DEST/schema.json" && rm -rf "$src" || return
    printf 'pulumi-resource-kafka %s\nmodule %s (content sha256 %s)\n%s\n' \
        "$PLUGIN_VERSION" "$MODULE" "$module_hash" "$("$GO" version)" > "$TMP_DEST/VERSIONS"
    ls -l "$TMP_DEST/bin/pulumi-resource-kafka"
}

install_plugin() {
    pulumi plugin install resource kafka "$PLUGIN_VERSION" --file "$PLUGIN_BIN" --reinstall
    pulumi plugin ls
}

command -v pulumi >/dev/null || die "pulumi is not on PATH: run scripts/setup_pulumi.sh first"
listed() {
    pulumi plugin ls 2>/dev/null | awk -v v="$PLUGIN_VERSION" \
        '$1 == "kafka" && $2 == "resource" && $3 == v {f = 1} END {exit !f}'
}

if [ -x "$PLUGIN_BIN" ]; then
    echo "==> kafka plugin: $PLUGIN_VERSION cached in $PLUGIN_DIR"
elif listed; then
    # Installed already (e.g. a PULUMI_HOME kept while the build cache was cleared): the engine
    # has what it needs, so no build.
    echo "==> kafka plugin: kafka $PLUGIN_VERSION listed by pulumi plugin ls; build skipped"
    exit 0
else
    [ -x "$GO" ] || die "Go is needed to build the kafka plugin $PLUGIN_VERSION (install Go >= 1.26 into /usr/local/go)"
    step "kafka plugin: build pulumi-resource-kafka $PLUGIN_VERSION" \
        install_atomically "$PLUGIN_DIR" build_plugin
fi

if listed && cmp -s "$PLUGIN_BIN" "$INSTALLED_BIN"; then
    echo "==> kafka plugin: kafka $PLUGIN_VERSION installed in $PULUMI_HOME"
else
    step "kafka plugin: install kafka $PLUGIN_VERSION into $PULUMI_HOME" install_plugin
fi
