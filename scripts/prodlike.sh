#!/usr/bin/env bash
# The production-shaped environment of the `prodlike` stack (stacks/Pulumi.prodlike.yaml): what
# a real deployment has, on this machine.
#
#   netns      network namespace maas-prodlike, veth maaspl0 10.213.0.1/30 (here) <->
#              maaspl1 10.213.0.2/30 (there); no default route: the namespace reaches only this host
#   sshd       Debian's OpenSSH server in the namespace on 10.213.0.2:22, public-key only (root,
#              key $MAAS_CACHE/prodlike/id_ed25519); its sessions get
#              DOCKER_HOST=unix:///run/maas-prodlike/docker.sock
#   engine     a second Docker engine in the namespace, reachable only over that ssh
#              (ssh://root@10.213.0.2): own containerd, data root, exec root, pid file, socket,
#              bridge 10.213.1.1/24 and address pools 10.213.64.0/18; trusts the TLS registry
#   registry   docker-registry with TLS (certificate of $MAAS_CACHE/pki) and htpasswd (bcrypt)
#              on 127.0.0.1:5443, forwarded from 10.213.0.1:5443 for the namespace
#   kafka      the local broker's SASL_SSL listener (scripts/services start kafka): 127.0.0.1:9094,
#              and 10.213.0.1:9094 for the namespace, forwarded to the broker's 127.0.0.1:9095
#
#   scripts/prodlike.sh setup    keys, passwords, configuration files (scripts/setup_services.sh)
#   scripts/prodlike.sh start    start what is not running; idempotent (scripts/services start --prodlike)
#   scripts/prodlike.sh status   one line per part with its address; exit 1 when one is down
#   scripts/prodlike.sh stop     stop what start started, delete the namespace and the veth;
#                                the first engine and the broker are left alone
#   scripts/prodlike.sh env      export lines for a shell that talks to the second engine
#                                (eval "$(scripts/prodlike.sh env)")
#   scripts/prodlike.sh seed     push the locally built base images (first engine) into the TLS
#                                registry, as 10.213.0.1:5443/maas/...
#   scripts/prodlike.sh stack    create the prodlike stack in this checkout's backend with the
#                                generated passphrase and set its Kafka password as a secret
#
# Everything secret lives in $MAAS_CACHE/prodlike (0700; keys and passwords 0600), never printed:
#   id_ed25519                  the client key for root@10.213.0.2
#   ssh_host_ed25519_key        sshd's host key; known_hosts holds its public half
#   ssh_config                  Host 10.213.0.2 with that key and known_hosts, strict checking
#   bin/ssh                     ssh -F ssh_config, for clients that run `ssh` (docker CLI, SDK)
#   registry.password           the registry user's password; registry.htpasswd its bcrypt hash
#   kafka.password              SCRAM password of the stack's Kafka user maas-prodlike
#   docker-client/              DOCKER_CONFIG with the registry login, for `seed`
#   passphrase                  PULUMI_CONFIG_PASSPHRASE_FILE of the prodlike stack
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

NETNS=maas-prodlike
VETH_HOST=maaspl0
VETH_NS=maaspl1
HOST_IP=$MAAS_PRODLIKE_HOST_IP
NS_IP=$MAAS_PRODLIKE_NS_IP
PREFIX=30
SSH_PORT=22
SSH_USER=root
PL=$MAAS_CACHE/prodlike
PL_RUN=/run/maas-prodlike
ENGINE_SOCK=$PL_RUN/docker.sock
ENGINE_BIP=10.213.1.1/24
ENGINE_POOL=10.213.64.0/18
CONTAINERD_SOCK=$PL_RUN/containerd/containerd.sock
REGISTRY_TLS_ADDR=127.0.0.1:5443
REGISTRY_NS_ADDR=$HOST_IP:5443
REGISTRY_USER=maas
KAFKA_USER=maas-prodlike
# the stack's topics and consumer groups: <stack>.<model>.requests and so on
KAFKA_PREFIX=prodlike.
STACK=prodlike
SEED_IMAGES=(maas/debian:bookworm maas/debian-python:bookworm maas/haproxy:2.6 maas/serving:2.21.0)
KAFKA_SASL_ADDR=127.0.0.1:9094
KAFKA_NS_ADDR=$HOST_IP:9094
KAFKA_NS_TARGET=127.0.0.1:9095
START_TIMEOUT=${MAAS_START_TIMEOUT:-90}

ns() { ip netns exec "$NETNS" "$@"; }
# a namespace file that is no longer a mount (made in a mount namespace that is gone) is unusable
netns_exists() { [ -e "/run/netns/$NETNS" ] && mountpoint -q "/run/netns/$NETNS"; }
# ssh_pl ARGS...: ssh to the namespace with the generated configuration (key, known_hosts)
ssh_pl() { ssh -F "$PL/ssh_config" "$NS_IP" "$@"; }
engine_ping() { [ -S "$ENGINE_SOCK" ] && [ "$(curl -fsS -m 3 --unix-socket "$ENGINE_SOCK" http://docker/_ping 2>/dev/null)" = OK ]; }
registry_code() {
    curl -sS -m 3 --cacert "$MAAS_PKI/ca.crt" -o /dev/null -w '%{http_code}' "https://$1/v2/" 2>/dev/null
}

# ---------------------------------------------------------------- setup (once)

# write_file FILE MODE: stdin to FILE atomically with MODE
write_file() {
    local tmp="$1.partial.$$"
    (umask 077 && cat >"$tmp") && chmod "$2" "$tmp" && mv -f "$tmp" "$1"
}

setup() {
    command -v sshd >/dev/null && command -v socat >/dev/null && command -v htpasswd >/dev/null &&
        command -v dockerd >/dev/null && command -v containerd >/dev/null &&
        command -v docker-registry >/dev/null ||
        { echo "sshd, socat, htpasswd, dockerd, containerd or docker-registry missing: run scripts/setup_services.sh"; return 1; }
    mkdir -p "$PL" "$PL/bin" && chmod 0700 "$PL" || return 1
    ensure_pki || return 1
    ensure_secret "$KAFKA_ADMIN_PASSWORD_FILE" || return 1

    # ssh: the client's key, sshd's host key, and the files that tie them together
    local k
    for k in id_ed25519 ssh_host_ed25519_key; do
        if [ ! -s "$PL/$k" ] || [ ! -s "$PL/$k.pub" ]; then
            rm -f "$PL/$k" "$PL/$k.pub"
            ssh-keygen -q -t ed25519 -N '' -C "maas-prodlike-$k" -f "$PL/$k" || return 1
            echo "made $PL/$k"
        fi
        chmod 0600 "$PL/$k"
    done
    # restrict: no pty, no forwarding of any kind; the docker CLI only needs a command's stdio
    printf 'restrict %s\n' "$(cat "$PL/id_ed25519.pub")" | write_file "$PL/authorized_keys" 0600 || return 1
    printf '%s %s\n' "$NS_IP" "$(cut -d' ' -f1,2 "$PL/ssh_host_ed25519_key.pub")" | write_file "$PL/known_hosts" 0644 || return 1
    write_file "$PL/ssh_config" 0644 <<EOF || return 1
# generated by scripts/prodlike.sh setup: the prodlike Docker engine's ssh endpoint
Host $NS_IP
    User $SSH_USER
    Port $SSH_PORT
    IdentityFile "$PL/id_ed25519"
    IdentitiesOnly yes
    UserKnownHostsFile "$PL/known_hosts"
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    PasswordAuthentication no
    KbdInteractiveAuthentication no
    BatchMode yes
    ConnectTimeout 10
    ServerAliveInterval 30
EOF
    # `ssh` for programs that run it by name (docker CLI, Docker SDK with use_ssh_client=True)
    write_file "$PL/bin/ssh" 0755 <<EOF || return 1
#!/bin/sh
# generated by scripts/prodlike.sh setup: ssh with the prodlike configuration
exec /usr/bin/ssh -F '$PL/ssh_config' "\$@"
EOF
    write_file "$PL/sshd_config" 0600 <<EOF || return 1
# generated by scripts/prodlike.sh setup; sshd runs in network namespace $NETNS
ListenAddress $NS_IP:$SSH_PORT
HostKey $PL/ssh_host_ed25519_key
PidFile $PL_RUN/sshd.pid
AuthorizedKeysFile $PL/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $SSH_USER
UsePAM no
PermitUserEnvironment no
# the remote docker CLI (docker system dial-stdio) talks to the namespace's engine
SetEnv DOCKER_HOST=unix://$ENGINE_SOCK
AllowTcpForwarding no
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
StrictModes yes
LogLevel INFO
EOF

    # registry: one user with a generated password, stored as a bcrypt hash
    ensure_secret "$PL/registry.password" || return 1
    if [ ! -s "$PL/registry.htpasswd" ] || ! htpasswd -v -i "$PL/registry.htpasswd" "$REGISTRY_USER" \
            <"$PL/registry.password" >/dev/null 2>&1; then
        local tmp="$PL/registry.htpasswd.partial.$$"
        (umask 077 && htpasswd -B -C 10 -i -c "$tmp" "$REGISTRY_USER" <"$PL/registry.password" 2>/dev/null) &&
            mv -f "$tmp" "$PL/registry.htpasswd" || return 1
        echo "made $PL/registry.htpasswd (user $REGISTRY_USER)"
    fi
    chmod 0600 "$PL/registry.htpasswd"
    write_file "$PL/registry.yml" 0600 <<EOF || return 1
# generated by scripts/prodlike.sh setup
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $PL/registry-data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY_TLS_ADDR
  tls:
    certificate: $MAAS_PKI/server.crt
    key: $MAAS_PKI/server.key
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: maas-prodlike
    path: $PL/registry.htpasswd
EOF

    # the second engine: its configuration and the registry CA, in a directory that is mounted
    # over /etc/docker for that engine only (its own mount namespace), so the first engine's
    # /etc/docker/certs.d and daemon.json stay untouched
    mkdir -p "$PL/docker-etc/certs.d/$REGISTRY_NS_ADDR" "$PL/docker-data" "$PL/containerd-root" || return 1
    cp "$MAAS_PKI/ca.crt" "$PL/docker-etc/certs.d/$REGISTRY_NS_ADDR/ca.crt" || return 1
    write_file "$PL/docker-etc/daemon.json" 0644 <<EOF || return 1
{
  "hosts": ["unix://$ENGINE_SOCK"],
  "data-root": "$PL/docker-data",
  "exec-root": "$PL_RUN/exec",
  "pidfile": "$PL_RUN/docker.pid",
  "containerd": "$CONTAINERD_SOCK",
  "bip": "$ENGINE_BIP",
  "default-address-pools": [{"base": "$ENGINE_POOL", "size": 24}],
  "cgroup-parent": "/maas-prodlike",
  "iptables": true,
  "ip-forward": true,
  "log-level": "warn"
}
EOF
    write_file "$PL/containerd.toml" 0644 <<EOF || return 1
# generated by scripts/prodlike.sh setup: the second engine's own containerd
version = 2
root = "$PL/containerd-root"
state = "$PL_RUN/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$PL/containerd-opt"
EOF

    # the prodlike stack's secrets passphrase (PULUMI_CONFIG_PASSPHRASE_FILE), its Kafka user
    ensure_secret "$PL/passphrase" || return 1
    ensure_secret "$PL/kafka.password" || return 1
    echo "prodlike keys and configuration in $PL"
}

# ---------------------------------------------------------------- network namespace

start_netns() {
    if ! netns_exists; then
        rm -f "/run/netns/$NETNS"
        ip netns add "$NETNS" || return 1
    fi
    ns ip link set lo up || return 1
    if ! ip link show "$VETH_HOST" >/dev/null 2>&1; then
        ip link add "$VETH_HOST" type veth peer name "$VETH_NS" netns "$NETNS" || return 1
    fi
    ip addr replace "$HOST_IP/$PREFIX" dev "$VETH_HOST" || return 1
    ip link set "$VETH_HOST" up || return 1
    ns ip addr replace "$NS_IP/$PREFIX" dev "$VETH_NS" || return 1
    ns ip link set "$VETH_NS" up || return 1
    # IPv4 is usable once the link is up at both ends
    local i
    for ((i = 0; i < 40; i++)); do
        ip -br link show "$VETH_HOST" | grep -q LOWER_UP && break
        sleep 0.1
    done
    echo "netns: $NETNS, $VETH_HOST $HOST_IP/$PREFIX <-> $VETH_NS $NS_IP/$PREFIX"
}

stop_netns() {
    if ip link show "$VETH_HOST" >/dev/null 2>&1; then
        ip link del "$VETH_HOST" || return 1
    fi
    if netns_exists; then
        ip netns del "$NETNS" || return 1
        echo "netns: $NETNS deleted"
    else
        echo "netns: $NETNS not there"
    fi
}

status_netns() {
    if netns_exists && ns ip -br link show "$VETH_NS" 2>/dev/null | grep -q LOWER_UP &&
       ip -br addr show "$VETH_HOST" 2>/dev/null | grep -q "$HOST_IP/$PREFIX"; then
        printf '%-9s %-30s up (%s %s/%s <-> %s)\n' netns "$NETNS" "$VETH_HOST" "$HOST_IP" "$PREFIX" "$NS_IP"
    else
        printf '%-9s %-30s DOWN\n' netns "$NETNS"
        return 1
    fi
}

# ---------------------------------------------------------------- forwarders (socat)
# The broker and the registry listen on 127.0.0.1 (they exist without the namespace, and the
# veth address appears only with it); these carry the namespace's connections to them, TLS
# untouched, listening only on the veth address.

forward_pattern() { printf 'TCP-LISTEN:%s,bind=%s' "${1##*:}" "${1%:*}"; }

start_forward() {
    local name=$1 listen=$2 target=$3 pattern
    pattern=$(forward_pattern "$listen")
    if our_pid "$name" "$pattern" >/dev/null; then
        echo "$name: already running ($listen -> $target)"; return 0
    fi
    launch "$name" socat "$pattern,reuseaddr,fork" "TCP:$target"
    local i
    for ((i = 0; i < 40; i++)); do
        tcp_open "$listen" && { echo "$name: $listen -> $target (pid $(cat "$(pidfile "$name")"))"; return 0; }
        kill -0 "$(cat "$(pidfile "$name")")" 2>/dev/null || break
        sleep 0.25
    done
    echo "error: $name did not listen on $listen: $(last_log_line "$name") (log: $MAAS_LOGS/$name.log)" >&2
    return 1
}

# ---------------------------------------------------------------- TLS registry

PL_REGISTRY_PATTERN="docker-registry serve $PL/registry.yml"

start_registry() {
    if our_pid prodlike-registry "$PL_REGISTRY_PATTERN" >/dev/null && [ "$(registry_code "$REGISTRY_TLS_ADDR")" = 401 ]; then
        echo "registry: already running on https://$REGISTRY_TLS_ADDR"; return 0
    fi
    if tcp_open "$REGISTRY_TLS_ADDR"; then
        echo "error: $REGISTRY_TLS_ADDR is taken by another process" >&2; return 1
    fi
    mkdir -p "$PL/registry-data"
    launch prodlike-registry docker-registry serve "$PL/registry.yml"
    registry_up() { [ "$(registry_code "$REGISTRY_TLS_ADDR")" = 401 ]; }
    wait_healthy prodlike-registry registry_up || return 1
    echo "registry: started on https://$REGISTRY_TLS_ADDR (htpasswd, user $REGISTRY_USER, pid $(cat "$(pidfile prodlike-registry)"))"
}

# ---------------------------------------------------------------- sshd

PL_SSHD_PATTERN="sshd -D -e -f $PL/sshd_config"

start_sshd() {
    if our_pid prodlike-sshd "$PL_SSHD_PATTERN" >/dev/null && tcp_open "$NS_IP:$SSH_PORT"; then
        echo "sshd: already running on $NS_IP:$SSH_PORT"; return 0
    fi
    # privilege separation directory, normally made by the init system
    mkdir -p /run/sshd && chmod 0755 /run/sshd
    /usr/sbin/sshd -t -f "$PL/sshd_config" || return 1
    launch prodlike-sshd ip netns exec "$NETNS" /usr/sbin/sshd -D -e -f "$PL/sshd_config"
    sshd_up() { tcp_open "$NS_IP:$SSH_PORT"; }
    wait_healthy prodlike-sshd sshd_up || return 1
    echo "sshd: started in $NETNS on $NS_IP:$SSH_PORT (pid $(cat "$(pidfile prodlike-sshd)"))"
}

# ---------------------------------------------------------------- the second engine

PL_ENGINE_PATTERN="dockerd --config-file $PL/docker-etc/daemon.json"
PL_CONTAINERD_PATTERN="containerd --config $PL/containerd.toml"

mount_cgroups_like_pid1() {
    local mp fstype src opts
    while read -r mp fstype src opts; do
        case $mp in /sys/fs/cgroup | /sys/fs/cgroup/*) ;; *) continue ;; esac
        case $fstype in tmpfs | cgroup | cgroup2) ;; *) continue ;; esac
        mkdir -p "$mp" && mount -t "$fstype" -o "$opts" "$src" "$mp" || return 1
    done < <(awk '{for (i = 7; i <= NF; i++) if ($i == "-") { print $5, $(i+1), $(i+2), $(i+3); break }}' /proc/1/mountinfo)
}

# _engine: runs inside the namespace (ip netns exec, which gives it a mount namespace of its
# own): /etc/docker becomes the engine's own directory, containerd starts in the same mount
# namespace (it must see the engine's layer mounts), then dockerd replaces this shell.
engine_inside() {
    [ -d /etc/docker ] || { echo "error: /etc/docker missing (docker.io not installed?)" >&2; exit 1; }
    mount --bind "$PL/docker-etc" /etc/docker || exit 1
    # ip netns exec mounted a fresh /sys for the namespace, without the cgroup file systems
    # below it; the engine needs the machine's: the same hierarchies, mounted again as pid 1's
    # mount namespace has them (a v1 hierarchy mounted twice is the same hierarchy)
    mountpoint -q /sys/fs/cgroup || mount_cgroups_like_pid1 || exit 1
    mkdir -p "$PL_RUN/containerd" "$PL_RUN/exec"
    containerd --config "$PL/containerd.toml" --log-level warn &
    echo $! >"$(pidfile prodlike-containerd)"
    local i
    for ((i = 0; i < 120; i++)); do
        [ -S "$CONTAINERD_SOCK" ] && break
        kill -0 "$(cat "$(pidfile prodlike-containerd)")" 2>/dev/null || { echo "error: containerd exited" >&2; exit 1; }
        sleep 0.25
    done
    exec dockerd --config-file "$PL/docker-etc/daemon.json"
}

storage_driver() {
    if [ -n "${MAAS_DOCKER_STORAGE_DRIVER:-}" ]; then echo "$MAAS_DOCKER_STORAGE_DRIVER"; return; fi
    local t
    t=$(mktemp -d "$PL/.overlay-probe.XXXXXX")
    mkdir -p "$t/l" "$t/u" "$t/w" "$t/m"
    if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
        umount "$t/m"; rm -rf "$t"; echo overlay2; return
    fi
    rm -rf "$t"; echo vfs
}

start_engine() {
    if our_pid prodlike-engine "$PL_ENGINE_PATTERN" >/dev/null && engine_ping; then
        echo "engine: already running (unix://$ENGINE_SOCK in $NETNS)"; return 0
    fi
    our_pid prodlike-engine "$PL_ENGINE_PATTERN" >/dev/null && stop_pid prodlike-engine "$PL_ENGINE_PATTERN" 10 >/dev/null
    our_pid prodlike-containerd "$PL_CONTAINERD_PATTERN" >/dev/null && stop_pid prodlike-containerd "$PL_CONTAINERD_PATTERN" 10 >/dev/null
    mkdir -p "$PL_RUN" && chmod 0711 "$PL_RUN"
    # leftovers of a killed engine would make the new one refuse to start
    rm -f "$ENGINE_SOCK" "$PL_RUN/docker.pid" "$CONTAINERD_SOCK"
    # the storage driver goes into daemon.json (dockerd refuses a flag that the file also sets)
    local driver tmp
    driver=$(storage_driver)
    tmp=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["storage-driver"]=sys.argv[2]; print(json.dumps(c, indent=2))' \
        "$PL/docker-etc/daemon.json" "$driver") && printf '%s\n' "$tmp" | write_file "$PL/docker-etc/daemon.json" 0644 || return 1
    launch prodlike-engine ip netns exec "$NETNS" "$here/prodlike.sh" _engine
    wait_healthy prodlike-engine engine_ping || return 1
    echo "engine: started in $NETNS on unix://$ENGINE_SOCK (storage $driver, pid $(cat "$(pidfile prodlike-engine)"), containerd pid $(cat "$(pidfile prodlike-containerd)"))"
}

stop_engine() {
    stop_pid prodlike-engine "$PL_ENGINE_PATTERN" 30 | sed 's/^prodlike-engine/engine/'
    stop_pid prodlike-containerd "$PL_CONTAINERD_PATTERN" 15 | sed 's/^prodlike-containerd/containerd/'
    rm -f "$ENGINE_SOCK" "$CONTAINERD_SOCK"
    # the engine's cgroup parent, left empty once its containers are gone
    local d
    for d in /sys/fs/cgroup/maas-prodlike /sys/fs/cgroup/*/maas-prodlike; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    return 0
}

# ---------------------------------------------------------------- kafka

start_kafka() {
    # the broker is the local one (scripts/services): start it when it is not running
    "$here/services" start kafka | grep -v '^    (' || return 1
    tcp_open "$KAFKA_SASL_ADDR" || {
        echo "error: the broker has no SASL_SSL listener on $KAFKA_SASL_ADDR: scripts/services stop kafka && scripts/services start kafka" >&2
        return 1; }
    # the stack's own user: SCRAM credential and prefixed ACLs, then a SASL_SSL login to prove it
    "$MAAS_ROOT/.venv/bin/python" "$here/kafka_scram.py" --bootstrap 127.0.0.1:9092 --user "$KAFKA_USER" \
        --password-file "$PL/kafka.password" --allow-prefix "$KAFKA_PREFIX" \
        --check "$KAFKA_SASL_ADDR" --ca "$MAAS_PKI/ca.crt" || return 1
}

# ---------------------------------------------------------------- commands

timed() {
    local name=$1; shift
    local start rc
    start=$(date +%s.%N)
    "$@"; rc=$?
    printf '    (%s: %ss)\n' "$name" "$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')"
    return "$rc"
}

start_all() {
    [ "$(id -u)" -eq 0 ] || { echo "error: --prodlike needs root (network namespace, engine)" >&2; return 1; }
    [ -s "$PL/sshd_config" ] && [ -s "$PL/docker-etc/daemon.json" ] ||
        { echo "error: $PL is not set up: run scripts/setup_services.sh" >&2; return 1; }
    local t0
    t0=$(date +%s.%N)
    timed kafka start_kafka || return 1
    timed netns start_netns || return 1
    timed registry start_registry || return 1
    timed forwards start_forward prodlike-fwd-registry "$REGISTRY_NS_ADDR" "$REGISTRY_TLS_ADDR" || return 1
    timed forwards start_forward prodlike-fwd-kafka "$KAFKA_NS_ADDR" "$KAFKA_NS_TARGET" || return 1
    timed sshd start_sshd || return 1
    timed engine start_engine || return 1
    # the way clients come in: docker over ssh, host key checked against known_hosts
    local v
    v=$(PATH="$PL/bin:$PATH" DOCKER_HOST="ssh://$SSH_USER@$NS_IP" docker version --format '{{.Server.Version}}' 2>&1) || {
        echo "error: docker over ssh://$SSH_USER@$NS_IP failed: $v" >&2; return 1; }
    echo "docker over ssh://$SSH_USER@$NS_IP: engine $v"
    printf '==> prodlike up in %ss\n' "$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')"
}

rss() { [ -r "/proc/$1/status" ] && awk '/^VmRSS/ {printf "%d MB", $2 / 1024}' "/proc/$1/status"; }

status_all() {
    local rc=0 pid
    status_netns || rc=1
    if pid=$(our_pid prodlike-sshd "$PL_SSHD_PATTERN") && ssh_pl true 2>/dev/null; then
        printf '%-9s %-30s up (key-only, host key pinned; pid %s, %s)\n' sshd "$SSH_USER@$NS_IP:$SSH_PORT" "$pid" "$(rss "$pid")"
    else
        printf '%-9s %-30s DOWN (log: %s)\n' sshd "$NS_IP:$SSH_PORT" "$MAAS_LOGS/prodlike-sshd.log"; rc=1
    fi
    local info
    if pid=$(our_pid prodlike-engine "$PL_ENGINE_PATTERN") &&
       info=$(PATH="$PL/bin:$PATH" DOCKER_HOST="ssh://$SSH_USER@$NS_IP" docker info --format '{{.ServerVersion}}, storage {{.Driver}}, {{.Containers}} containers, {{.Images}} images' 2>/dev/null); then
        local cpid
        cpid=$(our_pid prodlike-containerd "$PL_CONTAINERD_PATTERN")
        printf '%-9s %-30s up (%s; dockerd pid %s, %s; containerd pid %s, %s)\n' engine "ssh://$SSH_USER@$NS_IP" "$info" \
            "$pid" "$(rss "$pid")" "$cpid" "$(rss "$cpid")"
    else
        printf '%-9s %-30s DOWN (log: %s)\n' engine "ssh://$SSH_USER@$NS_IP" "$MAAS_LOGS/prodlike-engine.log"; rc=1
    fi
    if pid=$(our_pid prodlike-registry "$PL_REGISTRY_PATTERN") && [ "$(registry_code "$REGISTRY_TLS_ADDR")" = 401 ]; then
        printf '%-9s %-30s up (TLS, htpasswd user %s; pid %s, %s)\n' registry "https://$REGISTRY_TLS_ADDR" "$REGISTRY_USER" "$pid" "$(rss "$pid")"
    else
        printf '%-9s %-30s DOWN (log: %s)\n' registry "https://$REGISTRY_TLS_ADDR" "$MAAS_LOGS/prodlike-registry.log"; rc=1
    fi
    if our_pid prodlike-fwd-registry "$(forward_pattern "$REGISTRY_NS_ADDR")" >/dev/null && [ "$(registry_code "$REGISTRY_NS_ADDR")" = 401 ]; then
        printf '%-9s %-30s up (forwarded to %s)\n' registry "https://$REGISTRY_NS_ADDR" "$REGISTRY_TLS_ADDR"
    else
        printf '%-9s %-30s DOWN\n' registry "https://$REGISTRY_NS_ADDR"; rc=1
    fi
    if tcp_open "$KAFKA_SASL_ADDR"; then
        printf '%-9s %-30s up (SASL_SSL, SCRAM-SHA-512, user %s)\n' kafka "$KAFKA_SASL_ADDR" "$KAFKA_ADMIN_USER"
    else
        printf '%-9s %-30s DOWN (scripts/services start kafka)\n' kafka "$KAFKA_SASL_ADDR"; rc=1
    fi
    if our_pid prodlike-fwd-kafka "$(forward_pattern "$KAFKA_NS_ADDR")" >/dev/null && tcp_open "$KAFKA_NS_ADDR" &&
       tcp_open "$KAFKA_NS_TARGET"; then
        printf '%-9s %-30s up (forwarded to %s)\n' kafka "$KAFKA_NS_ADDR" "$KAFKA_NS_TARGET"
    else
        printf '%-9s %-30s DOWN\n' kafka "$KAFKA_NS_ADDR"; rc=1
    fi
    return "$rc"
}

stop_all() {
    # reverse order; the broker is the local stack's and stays
    stop_engine
    stop_pid prodlike-sshd "$PL_SSHD_PATTERN" 10 | sed 's/^prodlike-sshd/sshd/'
    stop_pid prodlike-fwd-kafka "$(forward_pattern "$KAFKA_NS_ADDR")" 5 | sed 's/^prodlike-//'
    stop_pid prodlike-fwd-registry "$(forward_pattern "$REGISTRY_NS_ADDR")" 5 | sed 's/^prodlike-//'
    stop_pid prodlike-registry "$PL_REGISTRY_PATTERN" 10 | sed 's/^prodlike-//'
    stop_netns
    rm -rf "$PL_RUN"
    echo "kafka: the local broker is left running (scripts/services stop kafka)"
}

env_lines() {
    printf 'export PATH=%q\n' "$PL/bin:$PATH"
    printf 'export DOCKER_HOST=%q\n' "ssh://$SSH_USER@$NS_IP"
    printf 'export PULUMI_CONFIG_PASSPHRASE_FILE=%q\n' "$PL/passphrase"
    printf 'unset PULUMI_CONFIG_PASSPHRASE\n'
    printf 'export MAAS_REGISTRY=%q\n' "$REGISTRY_NS_ADDR"
    printf 'export MAAS_KAFKA_SASL_BOOTSTRAP=%q\n' "$KAFKA_SASL_ADDR"
}

# seed: the locally built base images, copied from the first engine into the second (over the
# ssh transport, like every client) and pushed by the second engine into the TLS registry as
# 10.213.0.1:5443/<repository>, with a login kept in $PL/docker-client. The second engine checks
# the registry's certificate against the CA of its own certs.d.
seed() {
    [ "$(registry_code "$REGISTRY_TLS_ADDR")" = 401 ] || { echo "error: the TLS registry is down: scripts/services start --prodlike" >&2; return 1; }
    mkdir -p "$PL/docker-client" && chmod 0700 "$PL/docker-client"
    local first=(docker -H unix:///var/run/docker.sock)
    local second=(env PATH="$PL/bin:$PATH" docker --config "$PL/docker-client" -H "ssh://$SSH_USER@$NS_IP")
    local ref id
    # (the login is stored in $PL/docker-client, 0700; docker's warning about that is dropped)
    local out
    out=$("${second[@]}" login --username "$REGISTRY_USER" --password-stdin "$REGISTRY_NS_ADDR" <"$PL/registry.password" 2>&1) ||
        { echo "error: docker login $REGISTRY_NS_ADDR: $out" >&2; return 1; }
    for ref in "${SEED_IMAGES[@]}"; do
        id=$("${first[@]}" image inspect --format '{{.Id}}' "$ref" 2>/dev/null) ||
            { echo "error: $ref missing on the first engine: scripts/build_base_images.sh" >&2; return 1; }
        if [ "$("${second[@]}" image inspect --format '{{.Id}}' "$ref" 2>/dev/null)" != "$id" ]; then
            "${first[@]}" save "$ref" | "${second[@]}" load -q >/dev/null || return 1
        fi
        "${second[@]}" tag "$ref" "$REGISTRY_NS_ADDR/$ref" && "${second[@]}" push -q "$REGISTRY_NS_ADDR/$ref" >/dev/null || return 1
        echo "seeded $REGISTRY_NS_ADDR/$ref"
    done
}

# stack: the prodlike stack in this checkout's backend (scripts/env), with the passphrase file;
# the Kafka and registry passwords go in as Pulumi secrets through stdin, never on a command line.
stack() {
    cd "$MAAS_ROOT" || return 1
    export PULUMI_CONFIG_PASSPHRASE_FILE=$PL/passphrase
    unset PULUMI_CONFIG_PASSPHRASE
    eval "$("$here/env")" || return 1
    command -v pulumi >/dev/null || { echo "error: pulumi missing: scripts/setup_pulumi.sh" >&2; return 1; }
    pulumi stack select --create "$STACK" >/dev/null || return 1
    set_secret maas:kafka.saslPassword "$PL/kafka.password" || return 1
    set_secret maas:registryAuth.password "$PL/registry.password" || return 1
}

# set_secret KEY FILE: the stack's secret KEY (a --path) is FILE's text, set through stdin.
set_secret() {
    if [ "$(pulumi config get --stack "$STACK" --path "$1" 2>/dev/null)" != "$(cat "$2")" ]; then
        pulumi config set --stack "$STACK" --secret --path "$1" <"$2" || return 1
        echo "stack $STACK: $1 set (secret) in stacks/Pulumi.$STACK.yaml"
    else
        echo "stack $STACK: $1 already set"
    fi
}

case "${1:-}" in
    setup) setup ;;
    start) start_all ;;
    stop) stop_all ;;
    status) status_all ;;
    env) env_lines ;;
    seed) seed ;;
    stack) stack ;;
    _engine) engine_inside ;;
    *) echo "usage: $0 setup|start|stop|status|env|seed|stack" >&2; exit 2 ;;
esac
