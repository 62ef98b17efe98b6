# Definitions shared by scripts/setup_k8s.sh (builds) and scripts/k8s/services.sh (runs the
# single-node cluster). Source it after scripts/lib.sh; do not run it.
#
# Binaries are cached in $MAAS_CACHE, each directory keyed by the version and a digest of the
# wrapper module and build flags that produced it (a changed go.sum or flag means a new build):
#
#   $MAAS_CACHE/kubernetes-<version>-<key>/bin/kube   multi-call: kube-apiserver, kubelet, ...
#                                         /bin/pause  the sandbox image's only file
#                                         /images/pause.tar  that image, an OCI archive
#   $MAAS_CACHE/coredns-<version>/bin/coredns
#   $MAAS_CACHE/pulumi-kubernetes-<version>-<key>/bin/pulumi-resource-kubernetes
#
# Cluster state (certificates, etcd data, containerd's images, the kubelet's pods) lives in
# $MAAS_K8S_HOME (default $MAAS_CACHE/k8s); runtime state (sockets, containerd's state) in
# $MAAS_K8S_RUN (default /run/maas-k8s).

K8S_VERSION=v1.34.4
COREDNS_VERSION=v1.14.7
PULUMI_K8S_VERSION=4.25.0
# the image the container runtime uses for pod sandboxes, imported from pause.tar
PAUSE_IMAGE=maas.local/pause:1

MAAS_K8S_HOME=${MAAS_K8S_HOME:-$MAAS_CACHE/k8s}
MAAS_K8S_RUN=${MAAS_K8S_RUN:-/run/maas-k8s}

K8S_GO_ENV=(GOPATH="$MAAS_CACHE/go" GOCACHE="$MAAS_CACHE/go/cache" GOFLAGS=-mod=readonly GOTOOLCHAIN=local)
K8S_GO=$(command -v go || echo /usr/local/go/bin/go)

# k8s_ldflags: the version stamp every component reports (kubectl version, the node's
# kubeletVersion, the API server's /version).
k8s_ldflags() {
    local flags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=34"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    printf '%s\n' "$flags"
}

pulumi_k8s_ldflags() {
    printf '%s\n' "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_K8S_VERSION"
}

# module_key DIR FLAGS: 12 hex digits over DIR's go.mod, go.sum and Go sources, and FLAGS.
module_key() {
    local dir=$1 flags=$2
    (cd "$dir" && { cat go.mod go.sum; find . -name '*.go' | LC_ALL=C sort | xargs cat; printf '%s\n' "$flags"; }) |
        sha256sum | cut -c1-12
}

k8s_dir() { printf '%s/kubernetes-%s-%s\n' "$MAAS_CACHE" "$K8S_VERSION" "$(module_key "$MAAS_ROOT/tools/kubernetes" "$(k8s_ldflags)")"; }
coredns_dir() { printf '%s/coredns-%s\n' "$MAAS_CACHE" "$COREDNS_VERSION"; }
pulumi_k8s_dir() { printf '%s/pulumi-kubernetes-%s-%s\n' "$MAAS_CACHE" "$PULUMI_K8S_VERSION" "$(module_key "$MAAS_ROOT/tools/pulumi-kubernetes" "$(pulumi_k8s_ldflags)")"; }

# the components the multi-call binary answers to (symbolic links to it in bin/)
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
