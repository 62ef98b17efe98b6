#!/usr/bin/env bash
# The single-node Kubernetes cluster, run by `scripts/services start|stop|status --k8s`:
#
#   etcd                     etcd-server (Debian) on https://127.0.0.1:12379 (peer 12380),
#                            client certificates required, data in $MAAS_K8S_HOME/etcd
#   kube-apiserver           https://127.0.0.1:6443
#   kube-controller-manager  https://127.0.0.1:10257, no leader election
#   kube-scheduler           https://127.0.0.1:10259, no leader election
#   containerd               its own instance: socket, state in $MAAS_K8S_RUN/containerd,
#                            images in $MAAS_K8S_HOME/containerd (Docker's containerd untouched);
#                            pulls 127.0.0.1:5000 over http
#   kubelet                  on that containerd, API 127.0.0.1:10250, healthz 127.0.0.1:10248
#   kube-proxy               iptables mode, NodePorts on 127.0.0.1 only, healthz 127.0.0.1:10256
#   coredns                  cluster DNS on the pod bridge's gateway 10.244.0.1:53, health
#                            127.0.0.1:10054, readiness 127.0.0.1:10055
#
# Pods get addresses from 10.244.0.0/24 on the bridge cni0 (CNI bridge + host-local), Services
# from 10.96.0.0/16; neither meets Docker's 172.17.0.0/16 or the project's Docker networks.
# Docker sets the FORWARD policy to DROP and bridged frames pass iptables, so the CNI firewall
# plugin accepts each pod's traffic (its CNI-FORWARD chain), or pods could not reach each other.
# Certificates come from a CA made once in $MAAS_K8S_HOME/pki. The cluster-admin kubeconfig is
# $MAAS_K8S_HOME/kubeconfig. Logs: $MAAS_LOGS/k8s-<part>.log; pids: $MAAS_RUN/k8s-<part>.pid.
#
# start is idempotent (running parts are kept); stop ends every part by its pid, removes the
# pods (network namespaces, veths, addresses) through the runtime, then the mounts under the
# cluster's directories, the KUBE-* and CNI-* iptables chains, cni0 and the pods' cgroups.
# Nothing of Docker's (dockerd, its containerd, docker0, DOCKER* chains) is touched.
#
# Needs root. start runs scripts/setup_k8s.sh first when what the cluster runs is missing.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib.sh"
. "$here/common.sh"

H=$MAAS_K8S_HOME
R=$MAAS_K8S_RUN
PKI=$H/pki
CONF=$H/conf
BIN=$(k8s_dir)/bin
COREDNS=$(coredns_dir)/bin/coredns
KUBECONFIG_ADMIN=$H/kubeconfig
CONTAINERD_SOCK=$R/containerd/containerd.sock
CRI_ENDPOINT=unix://$CONTAINERD_SOCK

ETCD_ADDR=127.0.0.1:12379
ETCD_PEER_ADDR=127.0.0.1:12380
APISERVER_ADDR=127.0.0.1:6443
CONTROLLER_MANAGER_ADDR=127.0.0.1:10257
SCHEDULER_ADDR=127.0.0.1:10259
KUBELET_ADDR=127.0.0.1:10250
KUBELET_HEALTHZ=127.0.0.1:10248
PROXY_HEALTHZ=127.0.0.1:10256
PROXY_METRICS=127.0.0.1:10249
COREDNS_HEALTH=127.0.0.1:10054
COREDNS_READY=127.0.0.1:10055
REGISTRY=${MAAS_REGISTRY:-127.0.0.1:5000}

POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
POD_GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
BRIDGE=cni0
CNI_NETWORK=maas-k8s
START_TIMEOUT=${MAAS_START_TIMEOUT:-90}

# The node is named after the machine when that name resolves to a loopback address (the API
# server reaches the kubelet by the node's host name, and the kubelet listens on 127.0.0.1);
# otherwise "localhost".
node_name() {
    local h
    h=$(hostname | tr 'A-Z' 'a-z')
    if getent ahostsv4 "$h" 2>/dev/null | awk '{print $1}' | grep -q '^127\.'; then
        printf '%s\n' "$h"
    else
        printf 'localhost\n'
    fi
}
NODE=$(node_name)

PARTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy coredns)

# ---------------------------------------------------------------- processes

pidfile() { printf '%s/k8s-%s.pid\n' "$MAAS_RUN" "$1"; }
logfile() { printf '%s/k8s-%s.log\n' "$MAAS_LOGS" "$1"; }

# our_pid PART: the pid from PART's pid file while that process runs the binary PART was
# started from (a recycled pid is never taken for ours).
our_pid() {
    local f pid exe
    f=$(pidfile "$1")
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)
    case "$1" in
        etcd) [ "${exe##*/}" = etcd ] ;;
        containerd) [ "${exe##*/}" = containerd ] ;;
        coredns) [ "${exe##*/}" = coredns ] ;;
        *) [ "${exe##*/}" = "$1" ] ;;
    esac || return 1
    printf '%s\n' "$pid"
}

# launch PART COMMAND...: detached (own session, no stdin), output to PART's log.
launch() {
    local part=$1; shift
    local log
    log=$(logfile "$part")
    [ -f "$log" ] && mv -f "$log" "$log.1"
    setsid "$@" </dev/null >>"$log" 2>&1 &
    echo $! >"$(pidfile "$part")"
}

last_log_line() { grep -v '^[[:space:]]*$' "$(logfile "$1")" 2>/dev/null | tail -n 1 | cut -c1-300; }

# wait_for PART CHECK: polls CHECK until it succeeds, PART's process ends or START_TIMEOUT.
wait_for() {
    local part=$1 check=$2 i
    for ((i = 0; i < START_TIMEOUT * 4; i++)); do
        "$check" && return 0
        if ! kill -0 "$(cat "$(pidfile "$part")" 2>/dev/null)" 2>/dev/null; then
            echo "error: $part exited during start: $(last_log_line "$part") (log: $(logfile "$part"))" >&2
            return 1
        fi
        sleep 0.25
    done
    echo "error: $part not healthy after ${START_TIMEOUT}s: $(last_log_line "$part") (log: $(logfile "$part"))" >&2
    return 1
}

stop_part() {
    local part=$1 grace=${2:-20} pid i
    if ! pid=$(our_pid "$part"); then
        rm -f "$(pidfile "$part")"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 4; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$part: still running after ${grace}s, killing"
        kill -KILL "$pid" 2>/dev/null
        sleep 0.5
    fi
    rm -f "$(pidfile "$part")"
    echo "$part: stopped"
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null; }

kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# ---------------------------------------------------------------- certificates

# issue NAME CN O SAN USAGE: NAME.crt/NAME.key signed by the cluster CA, once. O and SAN may be
# empty; USAGE is serverAuth, clientAuth or serverAuth,clientAuth.
issue() {
    local name=$1 cn=$2 org=$3 san=$4 usage=$5 subj ext
    [ -f "$PKI/$name.crt" ] && [ -f "$PKI/$name.key" ] && return 0
    subj="/CN=$cn"
    [ -n "$org" ] && subj="/O=$org$subj"
    ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
    [ -n "$san" ] && ext+="
subjectAltName=$san"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null || return 1
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
        -extfile <(printf '%s\n' "$ext") -out "$PKI/$name.crt" 2>/dev/null || return 1
    rm -f "$PKI/$name.csr"
    chmod 0600 "$PKI/$name.key"
}

# kubeconfig FILE USER CERT: a kubeconfig for the API server with CERT's client certificate.
kubeconfig() {
    local file=$1 user=$2 cert=$3
    cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: maas-k8s
  cluster:
    server: https://$APISERVER_ADDR
    certificate-authority: $PKI/ca.crt
users:
- name: $user
  user:
    client-certificate: $PKI/$cert.crt
    client-key: $PKI/$cert.key
contexts:
- name: maas
  context:
    cluster: maas-k8s
    user: $user
current-context: maas
EOF
    chmod 0600 "$file.tmp" && mv -f "$file.tmp" "$file"
}

make_pki() {
    mkdir -p "$PKI" "$CONF" && chmod 0700 "$PKI" || return 1
    if [ ! -f "$PKI/ca.crt" ]; then
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$PKI/ca.key" -subj "/CN=maas-k8s-ca" -days 3650 -sha256 \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$PKI/ca.crt" 2>/dev/null || { echo "error: openssl could not make the CA" >&2; return 1; }
        chmod 0600 "$PKI/ca.key"
    fi
    if [ ! -f "$PKI/sa.key" ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$PKI/sa.key" 2>/dev/null &&
            openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null && chmod 0600 "$PKI/sa.key" || return 1
    fi
    local loop="DNS:localhost,IP:127.0.0.1"
    issue etcd-server etcd "" "$loop" serverAuth,clientAuth &&
        issue apiserver-etcd-client kube-apiserver-etcd-client "" "" clientAuth &&
        issue apiserver kube-apiserver "" "$loop,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1" serverAuth &&
        issue apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" clientAuth &&
        issue control-plane-serving kube-control-plane "" "$loop" serverAuth &&
        issue admin kubernetes-admin system:masters "" clientAuth &&
        issue controller-manager system:kube-controller-manager "" "" clientAuth &&
        issue scheduler system:kube-scheduler "" "" clientAuth &&
        issue "kubelet-$NODE" "system:node:$NODE" system:nodes "" clientAuth &&
        issue "kubelet-serving-$NODE" "system:node:$NODE" system:nodes "DNS:$NODE,$loop" serverAuth &&
        issue kube-proxy system:kube-proxy "" "" clientAuth &&
        issue coredns maas:coredns "" "" clientAuth || { echo "error: openssl could not issue the certificates" >&2; return 1; }
    kubeconfig "$KUBECONFIG_ADMIN" kubernetes-admin admin &&
        kubeconfig "$CONF/controller-manager.kubeconfig" system:kube-controller-manager controller-manager &&
        kubeconfig "$CONF/scheduler.kubeconfig" system:kube-scheduler scheduler &&
        kubeconfig "$CONF/kubelet.kubeconfig" "system:node:$NODE" "kubelet-$NODE" &&
        kubeconfig "$CONF/kube-proxy.kubeconfig" system:kube-proxy kube-proxy &&
        kubeconfig "$CONF/coredns.kubeconfig" maas:coredns coredns
}

# curl with the cluster CA and the admin certificate
kcurl() { curl -fsS -m 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"; }

# ---------------------------------------------------------------- health checks

etcd_healthy() {
    curl -fsS -m 3 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" --key "$PKI/apiserver-etcd-client.key" \
        "https://$ETCD_ADDR/health" 2>/dev/null | grep -q '"health":"true"'
}
kube-apiserver_healthy() { [ "$(kcurl "https://$APISERVER_ADDR/readyz" 2>/dev/null)" = ok ]; }
kube-controller-manager_healthy() { [ "$(kcurl "https://$CONTROLLER_MANAGER_ADDR/healthz" 2>/dev/null)" = ok ]; }
kube-scheduler_healthy() { [ "$(kcurl "https://$SCHEDULER_ADDR/healthz" 2>/dev/null)" = ok ]; }
containerd_healthy() { [ -S "$CONTAINERD_SOCK" ] && ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; }
kubelet_healthy() { [ "$(curl -fsS -m 3 "http://$KUBELET_HEALTHZ/healthz" 2>/dev/null)" = ok ]; }
kube-proxy_healthy() { curl -fsS -m 3 -o /dev/null "http://$PROXY_HEALTHZ/healthz" 2>/dev/null; }
coredns_healthy() { [ "$(curl -fsS -m 3 "http://$COREDNS_READY/ready" 2>/dev/null)" = OK ]; }

node_ready() {
    [ "$(kubectl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# node_ready_since EPOCH: Ready, as reported by a kubelet heartbeat at or after EPOCH: the node
# object of an earlier run may still say Ready from before a stop (a freshly started kubelet
# reports its status at once; a running one only on changes)
node_ready_since() {
    local out beat
    out=$(kubectl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null) || return 1
    [ "${out%% *}" = True ] || return 1
    beat=$(date -d "${out#* }" +%s 2>/dev/null) || return 1
    [ "$beat" -ge "$1" ]
}

# ---------------------------------------------------------------- configuration files

containerd_config() {
    cat <<EOF
# generated by scripts/k8s/services.sh: this cluster's own containerd, apart from Docker's
version = 2
root = "$H/containerd"
state = "$R/containerd"
oom_score = 0

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$R/containerd/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$H/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # The machine does not grant CAP_SYS_RESOURCE: lowering a container's OOM score adjustment
  # below containerd's own would fail every container start.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$H/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$H/containerd/certs.d"
EOF
}

# the local registry over plain http (it listens on loopback only)
registry_hosts() {
    cat <<EOF
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
}

cni_config() {
    cat <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$H/cni/ipam"
      }
    },
    {
      "type": "firewall",
      "backend": "iptables"
    }
  ]
}
EOF
}

kubelet_config() {
    cat <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: ${KUBELET_HEALTHZ%:*}
healthzPort: ${KUBELET_HEALTHZ##*:}
tlsCertFile: $PKI/kubelet-serving-$NODE.crt
tlsPrivateKeyFile: $PKI/kubelet-serving-$NODE.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
containerRuntimeEndpoint: $CRI_ENDPOINT
imageServiceEndpoint: $CRI_ENDPOINT
clusterDomain: cluster.local
clusterDNS:
- $POD_GATEWAY
failSwapOn: false
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
evictionHard:
  memory.available: 200Mi
  nodefs.available: 5%
  imagefs.available: 5%
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
EOF
}

corefile() {
    cat <<EOF
.:53 {
    bind $POD_GATEWAY
    errors
    health $COREDNS_HEALTH
    ready $COREDNS_READY
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $CONF/coredns.kubeconfig maas
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
EOF
}

coredns_rbac() {
    cat <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: maas:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: maas:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: maas:coredns
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: maas:coredns
EOF
}

# ---------------------------------------------------------------- start

# already_up PART: true (with a message) when PART answers; an answer from a process this
# project did not start is an error, its address is taken.
already_up() {
    local part=$1
    "${part}_healthy" || return 1
    if our_pid "$part" >/dev/null; then
        echo "$part: already running (pid $(cat "$(pidfile "$part")"))"
        return 0
    fi
    echo "error: $part answers but was not started by this project (pid file $(pidfile "$part"))" >&2
    return 2
}

# ensure PART ADDR COMMAND...: starts PART unless it is up; ADDR must be free otherwise.
ensure() {
    local part=$1 addr=$2; shift 2
    already_up "$part"
    case $? in 0) return 0 ;; 2) return 1 ;; esac
    if our_pid "$part" >/dev/null; then
        # ours but unhealthy: let it finish starting, else restart it
        wait_for "$part" "${part}_healthy" 2>/dev/null && { echo "$part: running"; return 0; }
        stop_part "$part" 10 >/dev/null
    fi
    if [ -n "$addr" ] && tcp_open "$addr"; then
        echo "error: $addr ($part) is taken by another process" >&2
        return 1
    fi
    launch "$part" "$@"
    wait_for "$part" "${part}_healthy" || return 1
    echo "$part: started (pid $(cat "$(pidfile "$part")"))"
}

start_etcd() {
    mkdir -p "$H/etcd" && chmod 0700 "$H/etcd"
    ensure etcd "$ETCD_ADDR" etcd --name maas-k8s --data-dir "$H/etcd" \
        --listen-client-urls "https://$ETCD_ADDR" --advertise-client-urls "https://$ETCD_ADDR" \
        --listen-peer-urls "https://$ETCD_PEER_ADDR" --initial-advertise-peer-urls "https://$ETCD_PEER_ADDR" \
        --initial-cluster "maas-k8s=https://$ETCD_PEER_ADDR" --initial-cluster-state new \
        --cert-file "$PKI/etcd-server.crt" --key-file "$PKI/etcd-server.key" \
        --trusted-ca-file "$PKI/ca.crt" --client-cert-auth \
        --peer-cert-file "$PKI/etcd-server.crt" --peer-key-file "$PKI/etcd-server.key" \
        --peer-trusted-ca-file "$PKI/ca.crt" --peer-client-cert-auth \
        --listen-metrics-urls "" --logger zap --log-level warn
}

start_kube-apiserver() {
    ensure kube-apiserver "$APISERVER_ADDR" "$BIN/kube-apiserver" \
        --bind-address=127.0.0.1 --secure-port="${APISERVER_ADDR##*:}" --advertise-address=127.0.0.1 \
        --endpoint-reconciler-type=none \
        --etcd-servers="https://$ETCD_ADDR" --etcd-cafile="$PKI/ca.crt" \
        --etcd-certfile="$PKI/apiserver-etcd-client.crt" --etcd-keyfile="$PKI/apiserver-etcd-client.key" \
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --client-ca-file="$PKI/ca.crt" \
        --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority="$PKI/ca.crt" \
        --kubelet-preferred-address-types=Hostname \
        --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
        --allow-privileged=true --profiling=false
}

start_kube-controller-manager() {
    local kc=$CONF/controller-manager.kubeconfig
    ensure kube-controller-manager "$CONTROLLER_MANAGER_ADDR" "$BIN/kube-controller-manager" \
        --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
        --bind-address=127.0.0.1 --secure-port="${CONTROLLER_MANAGER_ADDR##*:}" \
        --tls-cert-file="$PKI/control-plane-serving.crt" --tls-private-key-file="$PKI/control-plane-serving.key" \
        --client-ca-file="$PKI/ca.crt" \
        --leader-elect=false --use-service-account-credentials=true \
        --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
        --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$CLUSTER_CIDR" \
        --allocate-node-cidrs=false --profiling=false
}

start_kube-scheduler() {
    local kc=$CONF/scheduler.kubeconfig
    ensure kube-scheduler "$SCHEDULER_ADDR" "$BIN/kube-scheduler" \
        --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
        --bind-address=127.0.0.1 --secure-port="${SCHEDULER_ADDR##*:}" \
        --tls-cert-file="$PKI/control-plane-serving.crt" --tls-private-key-file="$PKI/control-plane-serving.key" \
        --client-ca-file="$PKI/ca.crt" \
        --leader-elect=false --profiling=false
}

# The pod bridge exists before the first pod, with its gateway address, so CoreDNS can listen
# there; the CNI bridge plugin takes it over as it is.
ensure_bridge() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge || return 1
    fi
    if ! ip -4 addr show dev "$BRIDGE" | grep -q "inet $POD_GATEWAY/"; then
        ip addr add "$POD_GATEWAY/${POD_CIDR#*/}" dev "$BRIDGE" || return 1
    fi
    ip link set "$BRIDGE" up
}

start_containerd() {
    mkdir -p "$H/containerd/certs.d/$REGISTRY" "$H/cni/net.d" "$H/cni/ipam" "$R/containerd" || return 1
    containerd_config >"$CONF/containerd.toml"
    registry_hosts >"$H/containerd/certs.d/$REGISTRY/hosts.toml"
    cni_config >"$H/cni/net.d/10-$CNI_NETWORK.conflist"
    ensure_bridge || { echo "error: could not set up the bridge $BRIDGE" >&2; return 1; }
    ensure containerd "" containerd --config "$CONF/containerd.toml" || return 1
    if ! ctr --address "$CONTAINERD_SOCK" -n k8s.io images check "name==$PAUSE_IMAGE" 2>/dev/null | grep -q complete; then
        ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$(k8s_dir)/images/pause.tar" >/dev/null || {
            echo "error: could not import $PAUSE_IMAGE into containerd" >&2; return 1; }
        echo "containerd: imported $PAUSE_IMAGE"
    fi
}

# when the kubelet was started by this run (0: it was running already)
KUBELET_STARTED=0

start_kubelet() {
    mkdir -p "$H/kubelet" || return 1
    kubelet_config >"$CONF/kubelet.yaml"
    kubelet_healthy || KUBELET_STARTED=$(date +%s)
    ensure kubelet "$KUBELET_ADDR" "$BIN/kubelet" --config="$CONF/kubelet.yaml" \
        --kubeconfig="$CONF/kubelet.kubeconfig" --root-dir="$H/kubelet" \
        --hostname-override="$NODE"
}

start_kube-proxy() {
    # kube-proxy turns route_localnet on for NodePorts on 127.0.0.1; stop puts it back
    [ -f "$MAAS_RUN/k8s-route_localnet" ] || cat /proc/sys/net/ipv4/conf/all/route_localnet >"$MAAS_RUN/k8s-route_localnet"
    ensure kube-proxy "$PROXY_HEALTHZ" "$BIN/kube-proxy" \
        --kubeconfig="$CONF/kube-proxy.kubeconfig" --hostname-override="$NODE" \
        --proxy-mode=iptables --cluster-cidr="$CLUSTER_CIDR" \
        --nodeport-addresses=127.0.0.1/32 \
        --healthz-bind-address="$PROXY_HEALTHZ" --metrics-bind-address="$PROXY_METRICS" \
        --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
        --profiling=false
}

start_coredns() {
    corefile >"$CONF/Corefile"
    coredns_rbac | kubectl apply -f - >/dev/null || { echo "error: could not apply the CoreDNS RBAC rules" >&2; return 1; }
    ensure coredns "$COREDNS_READY" "$COREDNS" -conf "$CONF/Corefile"
}

start_all() {
    local t0 i
    t0=$(date +%s.%N)
    [ "$(id -u)" -eq 0 ] || { echo "error: the cluster needs root" >&2; return 1; }
    if ! { [ -x "$BIN/kube" ] && [ -x "$COREDNS" ] && command -v etcd >/dev/null && command -v containerd >/dev/null; }; then
        # what the cluster runs is installed (or built) first; cached, so a no-op once done
        "$here/../setup_k8s.sh" || { echo "error: could not install the cluster (scripts/setup_k8s.sh)" >&2; return 1; }
    fi
    mkdir -p "$H" "$R" && chmod 0700 "$H" || return 1
    make_pki || return 1
    for part in "${PARTS[@]}"; do
        "start_$part" || return 1
    done
    for ((i = 0; i < START_TIMEOUT * 4; i++)); do
        node_ready_since "$KUBELET_STARTED" && break
        sleep 0.25
    done
    node_ready_since "$KUBELET_STARTED" || { echo "error: node $NODE not Ready after ${START_TIMEOUT}s (log: $(logfile kubelet))" >&2; return 1; }
    printf 'node %s Ready (%ss); kubeconfig %s\n' "$NODE" \
        "$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')" "$KUBECONFIG_ADMIN"
}

# ---------------------------------------------------------------- status

status_all() {
    local rc=0 part addr pid
    for part in "${PARTS[@]}"; do
        case $part in
            etcd) addr=https://$ETCD_ADDR ;;
            kube-apiserver) addr=https://$APISERVER_ADDR ;;
            kube-controller-manager) addr=https://$CONTROLLER_MANAGER_ADDR ;;
            kube-scheduler) addr=https://$SCHEDULER_ADDR ;;
            containerd) addr=unix://$CONTAINERD_SOCK ;;
            kubelet) addr=https://$KUBELET_ADDR ;;
            kube-proxy) addr=http://$PROXY_HEALTHZ ;;
            coredns) addr=dns://$POD_GATEWAY:53 ;;
        esac
        pid=""
        our_pid "$part" >/dev/null && pid=" (pid $(cat "$(pidfile "$part")"))"
        if "${part}_healthy"; then
            printf '%-24s %-48s up%s\n' "$part" "$addr" "$pid"
        else
            printf '%-24s %-48s DOWN (log: %s)\n' "$part" "$addr" "$(logfile "$part")"
            rc=1
        fi
    done
    if node_ready; then
        printf '%-24s %-48s Ready (%s)\n' "node $NODE" "kubeconfig $KUBECONFIG_ADMIN" \
            "$(kubectl get node "$NODE" -o 'jsonpath={.status.nodeInfo.kubeletVersion}' 2>/dev/null)"
    else
        printf '%-24s %-48s NOT Ready\n' "node $NODE" "kubeconfig $KUBECONFIG_ADMIN"
        rc=1
    fi
    return "$rc"
}

# ---------------------------------------------------------------- stop

# mounts under the cluster's own directories, deepest first
our_mounts() {
    findmnt -rn -o TARGET 2>/dev/null | sed 's/\\x20/ /g' |
        awk -v h="$H/" -v r="$R/" 'index($0 "/", h) == 1 || index($0 "/", r) == 1 || $0 "/" == h || $0 "/" == r' |
        awk '{print length($0) "\t" $0}' | sort -rn | cut -f2-
}

remove_mounts() {
    local m n=0
    while IFS= read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "warning: could not unmount $m"
        n=$((n + 1))
    done < <(our_mounts)
    [ "$n" -eq 0 ] || echo "mounts: $n removed"
}

# CNI network namespaces (containerd names them cni-<uuid>) with no process left in them
remove_netns() {
    local ns n=0
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'); do
        [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] || continue
        ip netns delete "$ns" 2>/dev/null && n=$((n + 1))
    done
    [ "$n" -eq 0 ] || echo "network namespaces: $n removed"
}

# remove_chains IPTABLES: every KUBE-* and CNI-* chain of every table, and the rules of other
# chains (the built-in ones) that jump to them. Other chains (DOCKER*, ...) stay as they are.
remove_chains() {
    local ipt=$1 table rule chain n=0
    command -v "$ipt" >/dev/null || return 0
    for table in filter nat mangle raw; do
        "$ipt" -w -t "$table" -S >/dev/null 2>&1 || continue
        # jumps to ours from a chain that is not ours (FORWARD, OUTPUT, ...): deleted by number,
        # highest first, since their text may hold quoted comments with spaces
        for chain in $("$ipt" -w -t "$table" -S 2>/dev/null |
            awk '$1 == "-A" && $2 !~ /^(KUBE-|CNI-)/ && $0 ~ / -j (KUBE-|CNI-)/ {print $2}' | sort -u); do
            for rule in $("$ipt" -w -t "$table" -L "$chain" -n --line-numbers 2>/dev/null |
                awk 'NR > 2 && $2 ~ /^(KUBE-|CNI-)/ {print $1}' | sort -rn); do
                "$ipt" -w -t "$table" -D "$chain" "$rule" 2>/dev/null
            done
        done
        for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print $2}'); do
            "$ipt" -w -t "$table" -F "$chain" 2>/dev/null
        done
        for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print $2}'); do
            "$ipt" -w -t "$table" -X "$chain" 2>/dev/null && n=$((n + 1))
        done
    done
    [ "$n" -eq 0 ] || echo "$ipt: $n chains removed"
}

# the kubelet's cgroups (kubepods and below), deepest first, in every v1 hierarchy
remove_cgroups() {
    local d
    for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice /sys/fs/cgroup/kubepods; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
}

stop_all() {
    [ "$(id -u)" -eq 0 ] || { echo "error: stopping the cluster needs root" >&2; return 1; }
    stop_part coredns 10
    stop_part kube-proxy 10
    # the kubelet first, so that it does not start the pods again, then the pods themselves
    # through the runtime (CNI removes their network namespaces and addresses)
    stop_part kubelet 20
    if containerd_healthy && our_pid containerd >/dev/null; then
        "$BIN/kube" cri-reset "$CRI_ENDPOINT" | sed 's/^/containerd: /'
    fi
    stop_part containerd 20
    stop_part kube-scheduler 10
    stop_part kube-controller-manager 10
    stop_part kube-apiserver 20
    stop_part etcd 20
    # leftovers: the shims of pods the runtime could not remove, their mounts and namespaces
    local pid
    for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null && echo "containerd-shim $pid: killed"
    done
    remove_mounts
    remove_netns
    [ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >>"$(logfile kube-proxy-cleanup)" 2>&1
    remove_chains iptables
    remove_chains ip6tables
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link delete "$BRIDGE" && echo "$BRIDGE: removed"
    fi
    remove_cgroups
    rm -rf "$H/cni/ipam"
    if [ -f "$MAAS_RUN/k8s-route_localnet" ]; then
        cat "$MAAS_RUN/k8s-route_localnet" >/proc/sys/net/ipv4/conf/all/route_localnet 2>/dev/null
        rm -f "$MAAS_RUN/k8s-route_localnet"
    fi
    rm -rf "$R"
    echo "k8s: stopped"
}

# ---------------------------------------------------------------- main

usage() { echo "usage: scripts/services start|stop|status --k8s" >&2; exit 2; }

cmd=""
for a in "$@"; do
    case $a in
        --k8s) ;;
        start|stop|status) cmd=$a ;;
        *) usage ;;
    esac
done
case $cmd in
    start) start_all ;;
    stop) stop_all ;;
    status) status_all ;;
    *) usage ;;
esac
