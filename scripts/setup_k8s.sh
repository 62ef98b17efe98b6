#!/usr/bin/env bash
# Installs what the single-node Kubernetes cluster (scripts/services start --k8s) needs;
# idempotent, each step returns at once when its result is already there:
#
#   Debian packages: containerd, runc, containernetworking-plugins (CNI bridge, host-local,
#                    loopback), etcd-server, iptables, conntrack (kube-proxy), openssl
#   Kubernetes:      kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#                    kube-proxy and kubectl as one binary from tools/kubernetes (Go module
#                    proxy), plus the static pause program and its image (pause.tar)
#   CoreDNS:         `go install github.com/coredns/coredns@<version>`
#   Pulumi plugin:   pulumi-resource-kubernetes from tools/pulumi-kubernetes, installed into
#                    $PULUMI_HOME with `pulumi plugin install` when `pulumi plugin ls` lacks it
#
# Every build lands in $MAAS_CACHE atomically (scripts/k8s/common.sh has the layout); Go
# builds run at nice 19. Run by `scripts/setup --k8s`, or alone.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/k8s/common.sh"

APT_PACKAGES=(containerd runc containernetworking-plugins etcd-server iptables conntrack openssl)

# pause_image DIR: packs DIR/bin/pause as the only file of an OCI image archive,
# DIR/images/pause.tar, named $PAUSE_IMAGE (for `ctr images import`).
pause_image() {
    local dir=$1 work
    work=$(mktemp -d) || return 1
    mkdir -p "$work/rootfs" "$work/oci/blobs/sha256" "$dir/images"
    install -m 0755 "$dir/bin/pause" "$work/rootfs/pause"
    # reproducible layer: fixed owner and time stamp, no gzip name or time
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" pause
    gzip -n -9 <"$work/layer.tar" >"$work/layer.tar.gz"
    local diff_id layer layer_size config config_size manifest manifest_size
    diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    layer=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
    layer_size=$(stat -c %s "$work/layer.tar.gz")
    cp "$work/layer.tar.gz" "$work/oci/blobs/sha256/$layer"
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$diff_id" >"$work/config.json"
    config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
    config_size=$(stat -c %s "$work/config.json")
    cp "$work/config.json" "$work/oci/blobs/sha256/$config"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
    manifest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
    manifest_size=$(stat -c %s "$work/manifest.json")
    cp "$work/manifest.json" "$work/oci/blobs/sha256/$manifest"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
        "$manifest" "$manifest_size" "$PAUSE_IMAGE" "${PAUSE_IMAGE##*:}" >"$work/oci/index.json"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/oci" -cf "$dir/images/pause.tar" oci-layout index.json blobs
    rm -rf "$work"
}

build_kubernetes() {
    local bin="$TMP_DEST/bin" c
    mkdir -p "$bin"
    (cd "$MAAS_ROOT/tools/kubernetes" &&
        env "${K8S_GO_ENV[@]}" nice -n 19 "$K8S_GO" build -trimpath -ldflags "$(k8s_ldflags)" -o "$bin/kube" . &&
        env "${K8S_GO_ENV[@]}" CGO_ENABLED=0 nice -n 19 "$K8S_GO" build -trimpath -ldflags "-s -w" -o "$bin/pause" ./pause) || return 1
    for c in "${K8S_COMPONENTS[@]}"; do ln -s kube "$bin/$c"; done
    pause_image "$TMP_DEST" || return 1
    "$bin/kube-apiserver" --version && "$bin/kubectl" version --client
}

build_coredns() {
    mkdir -p "$TMP_DEST/bin"
    env "${K8S_GO_ENV[@]}" GOBIN="$TMP_DEST/bin" nice -n 19 "$K8S_GO" install -trimpath -ldflags "-s -w" \
        "github.com/coredns/coredns@$COREDNS_VERSION" || return 1
    "$TMP_DEST/bin/coredns" -version
}

# The provider's main embeds its schema and Terraform mapping, generated from the provider
# module's own schema.json (version set to the plugin's) and terraform-mapping.json into a
# copy of tools/pulumi-kubernetes.
build_pulumi_kubernetes() {
    local src="$TMP_DEST/src" gen
    mkdir -p "$TMP_DEST/bin" "$src"
    cp "$MAAS_ROOT/tools/pulumi-kubernetes/go.mod" "$MAAS_ROOT/tools/pulumi-kubernetes/go.sum" \
        "$MAAS_ROOT/tools/pulumi-kubernetes/main.go" "$src/" || return 1
    # `go list -m` names the module's directory only once it is in the module cache
    gen=$(cd "$src" && env "${K8S_GO_ENV[@]}" "$K8S_GO" mod download github.com/pulumi/pulumi-kubernetes/provider/v4 &&
        env "${K8S_GO_ENV[@]}" "$K8S_GO" list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4) || return 1
    [ -n "$gen" ] && [ -f "$gen/cmd/pulumi-resource-kubernetes/schema.json" ] ||
        { echo "the provider module has no cmd/pulumi-resource-kubernetes/schema.json (dir: ${gen:-none})"; return 1; }
    gen="$gen/cmd/pulumi-resource-kubernetes"
    python3 - "$gen" "$src" "$PULUMI_K8S_VERSION" <<'EOF' || return 1
import json, sys
gen, out, version = sys.argv[1:]
with open(f"{gen}/schema.json") as f:
    schema = json.load(f)
schema["version"] = version
with open(f"{out}/schema-embed.json", "w") as f:
    json.dump(schema, f, separators=(",", ":"))
with open(f"{gen}/terraform-mapping.json") as f:
    mapping = json.load(f)
with open(f"{out}/terraform-mapping-embed.json", "w") as f:
    json.dump(mapping, f, separators=(",", ":"))
EOF
    (cd "$src" && env "${K8S_GO_ENV[@]}" nice -n 19 "$K8S_GO" build -trimpath -ldflags "$(pulumi_k8s_ldflags)" \
        -o "$TMP_DEST/bin/pulumi-resource-kubernetes" .) || return 1
    rm -rf "$src"
    ls -l "$TMP_DEST/bin/pulumi-resource-kubernetes"
}

# cached_build NAME DIR CHECK FN: builds with FN into DIR unless CHECK (a file) is there.
cached_build() {
    local name=$1 dir=$2 check=$3 fn=$4
    if [ -x "$dir/$check" ]; then
        echo "==> $name: cached in $dir"
        return 0
    fi
    [ -x "$K8S_GO" ] || die "Go is needed to build $name (install Go into /usr/local/go)"
    step "$name: build" install_atomically "$dir" "$fn"
}

plugin_installed() {
    pulumi plugin ls 2>/dev/null | awk -v v="$PULUMI_K8S_VERSION" '$1 == "kubernetes" && $2 == "resource" && $3 == v {f=1} END {exit !f}'
}

install_plugin() {
    pulumi plugin install resource kubernetes "$PULUMI_K8S_VERSION" --file "$(pulumi_k8s_dir)/bin/pulumi-resource-kubernetes" &&
        plugin_installed
}

step "k8s apt packages" install_apt_packages "${APT_PACKAGES[@]}" || exit 1
cached_build "kubernetes $K8S_VERSION" "$(k8s_dir)" bin/kube build_kubernetes || exit 1
cached_build "coredns $COREDNS_VERSION" "$(coredns_dir)" bin/coredns build_coredns || exit 1
cached_build "pulumi-resource-kubernetes $PULUMI_K8S_VERSION" "$(pulumi_k8s_dir)" \
    bin/pulumi-resource-kubernetes build_pulumi_kubernetes || exit 1

eval "$("$here/env")"
command -v pulumi >/dev/null || die "pulumi not on PATH: run scripts/setup_pulumi.sh first"
if plugin_installed; then
    echo "==> pulumi plugin kubernetes $PULUMI_K8S_VERSION: installed in $PULUMI_HOME"
else
    step "pulumi plugin kubernetes $PULUMI_K8S_VERSION: install" install_plugin || exit 1
fi
