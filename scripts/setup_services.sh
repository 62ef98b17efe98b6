#!/usr/bin/env bash
# Installs what the local services need, once per machine; safe to run again (each step
# returns at once when its result is already there).
#
#   Debian packages: docker.io (dockerd 20.10, legacy builder), docker-registry, debootstrap,
#                    iptables (container NAT), fuse-overlayfs (storage fallback), default-jre-headless,
#                    openssl; for --prodlike openssh-server, socat, apache2-utils (htpasswd -B)
#   Kafka:           the broker jars of tools/kafka/pom.xml in $MAAS_CACHE/kafka-<version>/libs
#   TLS and secrets: the local CA and the services' certificate ($MAAS_CACHE/pki), the Kafka
#                    admin's SCRAM password ($MAAS_CACHE/secrets), and the prodlike environment's
#                    keys and passwords ($MAAS_CACHE/prodlike, scripts/prodlike.sh setup)
#
# The services themselves are started by scripts/services start.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APT_PACKAGES=(docker.io docker-registry debootstrap debian-archive-keyring iptables fuse-overlayfs curl
              default-jre-headless maven openssl openssh-server socat apache2-utils)

copy_kafka_libs() {
    # $TMP_DEST is the future $MAAS_CACHE/kafka-<version>
    mkdir -p "$TMP_DEST/libs" "$TMP_DEST/config" || return 1
    (cd "$MAAS_ROOT/tools/kafka" && nice mvn -q -B dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$TMP_DEST/libs") || return 1
    cp "$MAAS_ROOT/tools/kafka/log4j2.xml" "$TMP_DEST/config/log4j2.xml" || return 1
    # the classpath must be able to start the broker's storage tool
    java -cp "$TMP_DEST/libs/*" kafka.tools.StorageTool --help >/dev/null 2>&1 \
        || java -cp "$TMP_DEST/libs/*" kafka.tools.StorageTool random-uuid >/dev/null || return 1
    kafka_pom_digest >"$TMP_DEST/pom.sha256"
}

install_kafka() {
    local home
    home=$(kafka_home)
    if [ -f "$home/pom.sha256" ] && [ "$(cat "$home/pom.sha256")" = "$(kafka_pom_digest)" ]; then
        echo "cached: $home"
        return 0
    fi
    command -v mvn >/dev/null || { echo "mvn not found"; return 1; }
    install_atomically "$home" copy_kafka_libs || return 1
    echo "installed: $home ($(ls "$home/libs" | wc -l) jars)"
}

step "apt packages" install_apt_packages "${APT_PACKAGES[@]}" || exit 1
step "kafka $(kafka_version) jars" install_kafka || exit 1

pki_and_secrets() { ensure_pki && ensure_secret "$KAFKA_ADMIN_PASSWORD_FILE"; }
step "certificates and the kafka admin password" pki_and_secrets || exit 1
step "prodlike keys, passwords and configuration" "$(dirname "${BASH_SOURCE[0]}")/prodlike.sh" setup || exit 1
