# Shared helpers for the setup and service scripts. Source it; do not run it.
#
#   MAAS_CACHE  where built binaries, jars, wheels and images are cached
#               (default ~/.cache/maas-iac; outside the checkout so a fresh clone reuses them)
#   MAAS_RUN    pid files of the services this project started (default $MAAS_CACHE/run)
#   MAAS_LOGS   every log the scripts and services write (default $MAAS_CACHE/logs)

MAAS_ROOT=${MAAS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
MAAS_CACHE=${MAAS_CACHE:-$HOME/.cache/maas-iac}
MAAS_RUN=${MAAS_RUN:-$MAAS_CACHE/run}
MAAS_LOGS=${MAAS_LOGS:-$MAAS_CACHE/logs}
mkdir -p "$MAAS_CACHE" "$MAAS_RUN" "$MAAS_LOGS"

# step NAME COMMAND [ARGS...]
# Runs COMMAND with its output in $MAAS_LOGS/<slug>.log, prints the step's name and elapsed
# time, and on failure one line with the reason (the log's last line) and the log's path.
step() {
    local name=$1; shift
    local slug log start rc
    slug=$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '-' | tr -s '-')
    log="$MAAS_LOGS/$slug.log"
    start=$(date +%s.%N)
    printf '==> %s ... ' "$name"
    "$@" >"$log" 2>&1
    rc=$?
    local took
    took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
    if [ "$rc" -eq 0 ]; then
        printf 'ok (%ss)\n' "$took"
    else
        printf 'FAILED (%ss)\n' "$took"
        printf 'error: %s failed: %s (full log: %s)\n' "$name" \
            "$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)" "$log" >&2
    fi
    return "$rc"
}

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# install_atomically DEST COMMAND...: COMMAND builds into "$TMP_DEST" (exported); DEST only
# appears once COMMAND succeeded, so an interrupted build never leaves something half-built
# where the next run would trust it.
install_atomically() {
    local dest=$1; shift
    local tmp="$dest.partial.$$"
    rm -rf "$tmp"; mkdir -p "$(dirname "$dest")"
    if TMP_DEST="$tmp" "$@"; then
        rm -rf "$dest"; mv "$tmp" "$dest"
    else
        local rc=$?; rm -rf "$tmp"; return "$rc"
    fi
}

# Kafka: the version pinned in tools/kafka/pom.xml, and where its jars are cached
# ($MAAS_CACHE/kafka-<version>, libs/ + config/; pom.sha256 says which pom produced it).
kafka_version() {
    sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$MAAS_ROOT/tools/kafka/pom.xml"
}
kafka_home() { printf '%s/kafka-%s\n' "$MAAS_CACHE" "$(kafka_version)"; }
kafka_pom_digest() {
    cat "$MAAS_ROOT/tools/kafka/pom.xml" "$MAAS_ROOT/tools/kafka/log4j2.xml" | sha256sum | cut -d' ' -f1
}

# Daemons (dockerd, docker-registry's binary) live in sbin: make sure it is searched even when
# the caller's PATH (a minimal CI environment) leaves it out.
case ":$PATH:" in *":/usr/sbin:"*) ;; *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;; esac
export PATH

# ---------------------------------------------------------------- process handling
# For the service scripts (scripts/services, scripts/prodlike.sh): pid files in $MAAS_RUN,
# logs in $MAAS_LOGS, START_TIMEOUT seconds (default 90) to become healthy.

pidfile() { printf '%s/%s.pid\n' "$MAAS_RUN" "$1"; }

# our_pid NAME PATTERN: prints the pid from NAME's pid file when that process is alive and its
# command line matches PATTERN (so a recycled pid is never mistaken for our service).
our_pid() {
    local f pid
    f=$(pidfile "$1")
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
    printf '%s\n' "$pid"
}

# launch NAME COMMAND...: runs COMMAND detached (own session, no stdin), output appended to
# $MAAS_LOGS/NAME.log, pid in $MAAS_RUN/NAME.pid.
launch() {
    local name=$1; shift
    local log="$MAAS_LOGS/$name.log"
    [ -f "$log" ] && mv -f "$log" "$log.1"
    setsid "$@" </dev/null >>"$log" 2>&1 &
    echo $! >"$(pidfile "$name")"
}

# wait_healthy NAME CHECK_FN: polls CHECK_FN until it succeeds; fails with one line naming
# the log when the process died or START_TIMEOUT passed.
wait_healthy() {
    local name=$1 check=$2 i
    for ((i = 0; i < ${START_TIMEOUT:-90} * 4; i++)); do
        "$check" && return 0
        # Alive is enough here: until the launched child has exec'd, its command line is
        # still this script's, which PATTERN does not match.
        if ! kill -0 "$(cat "$(pidfile "$name")" 2>/dev/null)" 2>/dev/null; then
            echo "error: $name exited during start: $(last_log_line "$name") (log: $MAAS_LOGS/$name.log)" >&2
            return 1
        fi
        sleep 0.25
    done
    echo "error: $name not healthy after ${START_TIMEOUT:-90}s: $(last_log_line "$name") (log: $MAAS_LOGS/$name.log)" >&2
    return 1
}

last_log_line() { grep -v '^[[:space:]]*$' "$MAAS_LOGS/$1.log" 2>/dev/null | tail -n 1 | cut -c1-300; }

# alive PID: the process still runs. An exited daemon stays a zombie until the init process
# reaps it, which can take seconds: that counts as stopped. A zombie main thread whose other
# threads still run (a JVM shutting down) does not.
alive() {
    local state threads
    read -r state threads < <(awk '/^State:/ {s = $2} /^Threads:/ {t = $2} END {print s, t}' "/proc/$1/status" 2>/dev/null)
    [ -n "$state" ] || return 1
    [ "$state" != Z ] || [ "${threads:-1}" -gt 1 ]
}

# stop_pid NAME PATTERN [GRACE]: SIGTERM, then SIGKILL after GRACE seconds.
stop_pid() {
    local name=$1 pattern=$2 grace=${3:-30} pid i
    if ! pid=$(our_pid "$name" "$pattern"); then
        rm -f "$(pidfile "$name")"
        echo "$name: not started by this project, left alone"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 20; i++)); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        echo "$name: still running after ${grace}s, killing"
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$(pidfile "$name")"
    echo "$name: stopped"
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null; }

# ---------------------------------------------------------------- certificates and secrets
# One local CA signs the certificate that the Kafka SASL_SSL listeners and the TLS registry
# present. Everything lives in $MAAS_PKI (default $MAAS_CACHE/pki), made once and kept:
#
#   ca.crt                the CA clients trust (ssl.ca.location, certs.d/<host:port>/ca.crt)
#   ca.key                its key (0600)
#   server.crt/.key       the services' certificate (key 0600), SAN: $MAAS_TLS_SANS
#   server.p12            the same as a PKCS12 keystore for the broker (0600), password in
#                         server.p12.password (0600)
#
# Secrets (passwords) are files of 0600 in 0700 directories, generated with openssl rand and
# never printed.
MAAS_PKI=${MAAS_PKI:-$MAAS_CACHE/pki}
MAAS_SECRETS=${MAAS_SECRETS:-$MAAS_CACHE/secrets}
# The prodlike network namespace's veth pair (scripts/prodlike.sh): this side and the far side.
MAAS_PRODLIKE_HOST_IP=10.213.0.1
MAAS_PRODLIKE_NS_IP=10.213.0.2
# Every address a client may dial: loopback, and the host side of the prodlike namespace's veth.
MAAS_TLS_SANS=${MAAS_TLS_SANS:-IP:127.0.0.1,DNS:localhost,IP:$MAAS_PRODLIKE_HOST_IP}
KAFKA_ADMIN_USER=admin
KAFKA_ADMIN_PASSWORD_FILE=$MAAS_SECRETS/kafka-admin.password

# ensure_secret FILE: FILE holds a random password (32 hex digits) from now on; 0600.
ensure_secret() {
    local f=$1 tmp
    [ -s "$f" ] && { chmod 0600 "$f"; return 0; }
    mkdir -p "$(dirname "$f")" && chmod 0700 "$(dirname "$f")" || return 1
    tmp="$f.partial.$$"
    (umask 077 && openssl rand -hex 16 >"$tmp") && mv -f "$tmp" "$f"
}

# ensure_pki: the CA and the server certificate (re-issued when MAAS_TLS_SANS changed or it
# expires within 30 days); prints nothing when everything is there.
ensure_pki() {
    local d=$MAAS_PKI
    mkdir -p "$d" && chmod 0700 "$d" || return 1
    if [ ! -s "$d/ca.crt" ] || [ ! -s "$d/ca.key" ]; then
        (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca.key.partial") || return 1
        openssl req -x509 -new -key "$d/ca.key.partial" -sha256 -days 3650 -subj "/CN=maas-iac local CA" \
            -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$d/ca.crt.partial" || return 1
        mv -f "$d/ca.key.partial" "$d/ca.key" && mv -f "$d/ca.crt.partial" "$d/ca.crt" || return 1
        rm -f "$d/server.crt"   # a new CA: the server certificate must be issued again
        echo "made the CA: $d/ca.crt"
    fi
    if [ -s "$d/server.crt" ] && [ -s "$d/server.key" ] && [ -s "$d/server.p12" ] &&
       [ "$(cat "$d/server.sans" 2>/dev/null)" = "$MAAS_TLS_SANS" ] &&
       openssl x509 -in "$d/server.crt" -noout -checkend $((30 * 86400)) >/dev/null &&
       openssl verify -CAfile "$d/ca.crt" "$d/server.crt" >/dev/null 2>&1; then
        return 0
    fi
    ensure_secret "$d/server.p12.password" || return 1
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/server.key.partial") || return 1
    openssl req -new -key "$d/server.key.partial" -subj "/CN=localhost" -out "$d/server.csr" || return 1
    printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
        "$MAAS_TLS_SANS" >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -sha256 \
        -days 825 -extfile "$d/server.ext" -out "$d/server.crt.partial" 2>/dev/null || return 1
    (umask 077 && openssl pkcs12 -export -name server -in "$d/server.crt.partial" -inkey "$d/server.key.partial" \
        -certfile "$d/ca.crt" -passout "file:$d/server.p12.password" -out "$d/server.p12.partial") || return 1
    mv -f "$d/server.key.partial" "$d/server.key" && mv -f "$d/server.crt.partial" "$d/server.crt" &&
        mv -f "$d/server.p12.partial" "$d/server.p12" || return 1
    printf '%s\n' "$MAAS_TLS_SANS" >"$d/server.sans"
    rm -f "$d/server.csr" "$d/server.ext"
    echo "issued the server certificate ($MAAS_TLS_SANS): $d/server.crt"
}

# install_apt_packages PKG...: installs the Debian packages among PKG that are missing (as root),
# waiting for another install's dpkg lock. Package maintainer scripts must not start daemons
# (no init system here, and scripts/services runs each with this project's configuration): a
# policy-rc.d that denies every start, only for this install and only where the machine has none.
install_apt_packages() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all present: $*"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || { echo "need root to install: ${missing[*]}"; return 1; }
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local lock=(-o DPkg::Lock::Timeout=600) policy=/usr/sbin/policy-rc.d own_policy="" rc
    apt-get "${lock[@]}" update -q || return 1
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
    fi
    nice apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}"
    rc=$?
    [ -n "$own_policy" ] && rm -f "$policy"
    return "$rc"
}
