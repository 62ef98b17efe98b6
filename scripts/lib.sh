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
