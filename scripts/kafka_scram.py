"""Creates or replaces a SCRAM-SHA-512 credential on the local broker and proves it with a login.

    kafka_scram.py --bootstrap 127.0.0.1:9092 --user admin --password-file FILE \
                   [--allow-prefix PREFIX] [--check 127.0.0.1:9094 --ca CA.crt]

The credential is set through --bootstrap, the PLAINTEXT listener, whose ANONYMOUS principal is a
super user (scripts/services). The password is read from FILE and never printed. With
--allow-prefix, the user may do everything with topics, consumer groups and transactional ids
whose names start with PREFIX (prefixed ACLs; the bridges are transactional producers) and
nothing else. With --check,
the user then logs in over SASL_SSL on that address, verifying the broker's certificate with CA.
Run by `scripts/services start kafka` after every start: a data dir formatted before the SASL_SSL
listener existed gets the admin's credential this way, and a changed password file takes effect.
"""

from __future__ import annotations

import argparse
import sys
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

ITERATIONS = 8192


def upsert(bootstrap: str, user: str, password: str, deadline: float) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000, "log_level": 4})
    alteration = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS), password.encode()
    )
    while True:
        try:
            admin.alter_user_scram_credentials([alteration], request_timeout=10)[user].result()
            return
        except KafkaException as exc:
            # the broker answers a moment before its metadata (and so the authorizer) is loaded
            if time.monotonic() > deadline:
                raise SystemExit(f"setting the SCRAM credential of {user} failed: {exc}") from None
            time.sleep(0.5)


def allow_prefix(bootstrap: str, user: str, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000, "log_level": 4})
    bindings = [
        AclBinding(kind, prefix, ResourcePatternType.PREFIXED, f"User:{user}", "*", AclOperation.ALL,
                   AclPermissionType.ALLOW)
        for kind in (ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID)
    ]
    for future in admin.create_acls(bindings, request_timeout=10).values():
        future.result()


def check(bootstrap: str, ca: str, user: str, password: str, deadline: float) -> None:
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": password,
            "ssl.ca.location": ca,
            "socket.timeout.ms": 5000,
            "log_level": 4,
        }
    )
    while True:
        try:
            admin.list_topics(timeout=10)
            return
        except KafkaException as exc:
            # a new credential takes a moment to reach the listener
            if time.monotonic() > deadline:
                raise SystemExit(f"SASL_SSL login as {user} on {bootstrap} failed: {exc}") from None
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--allow-prefix")
    parser.add_argument("--check")
    parser.add_argument("--ca")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().strip()
    if not password:
        raise SystemExit(f"{args.password_file} is empty")
    deadline = time.monotonic() + args.timeout
    upsert(args.bootstrap, args.user, password, deadline)
    print(f"SCRAM-SHA-512 credential of {args.user} set")
    if args.allow_prefix:
        allow_prefix(args.bootstrap, args.user, args.allow_prefix)
        print(f"{args.user} may use topics and groups {args.allow_prefix}*")
    if args.check:
        check(args.check, args.ca, args.user, password, deadline)
        print(f"SASL_SSL login as {args.user} on {args.check}: ok")


if __name__ == "__main__":
    sys.exit(main())
