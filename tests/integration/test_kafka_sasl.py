"""The broker's SASL_SSL listener really authenticates and authorizes: TLS with the project's CA,
SCRAM-SHA-512 logins, the StandardAuthorizer with no access without an ACL.

Needs `scripts/services start kafka` (run by `make setup`). The CA and the admin's password are the
files scripts/services made ($MAAS_CACHE/pki/ca.crt, $MAAS_CACHE/secrets/kafka-admin.password);
MAAS_KAFKA_SASL_BOOTSTRAP points the tests at another SASL_SSL address (e.g. 10.213.0.1:9094 from
the prodlike namespace).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

pytestmark = pytest.mark.integration

CACHE = Path(os.environ.get("MAAS_CACHE", Path.home() / ".cache" / "maas-iac"))
SASL_BOOTSTRAP = os.environ.get("MAAS_KAFKA_SASL_BOOTSTRAP", "127.0.0.1:9094")
PLAINTEXT_BOOTSTRAP = os.environ.get("MAAS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
CA = CACHE / "pki" / "ca.crt"
ADMIN_PASSWORD_FILE = CACHE / "secrets" / "kafka-admin.password"
ADMIN = "admin"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _sasl(user: str, password: str, **extra: object) -> dict[str, object]:
    return {
        "bootstrap.servers": SASL_BOOTSTRAP,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": str(CA),
        "socket.timeout.ms": 10000,
        **extra,
    }


def _eventually(check: Callable[[], object], what: str, timeout: float = 30) -> object:
    """ACLs and credentials travel through the metadata log: retry until they took effect."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, KafkaException) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {timeout}s: {exc}") from exc
            time.sleep(0.5)


def _produce(config: dict[str, object], topic: str, value: bytes) -> KafkaError | None:
    """Produces one message; returns the delivery error (None when delivered)."""
    producer = Producer({**config, "message.timeout.ms": 10000})
    errors: list[KafkaError | None] = []
    producer.produce(topic, value, on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(20)
    assert errors, "no delivery report within 20s"
    return errors[0]


def _consume_one(config: dict[str, object], topic: str, group: str) -> bytes:
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            return msg.value()
        raise AssertionError(f"nothing consumed from {topic} within 30s")
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def admin_password() -> str:
    for f in (CA, ADMIN_PASSWORD_FILE):
        if not f.is_file():
            pytest.fail(f"{f} missing; run scripts/services start kafka", pytrace=False)
    return ADMIN_PASSWORD_FILE.read_text().strip()


@pytest.fixture(scope="module")
def admin(admin_password: str) -> AdminClient:
    client = AdminClient(_sasl(ADMIN, admin_password))
    try:
        client.list_topics(timeout=15)
    except KafkaException as exc:
        pytest.fail(
            f"no SASL_SSL login as {ADMIN} on {SASL_BOOTSTRAP} ({exc}); "
            "run scripts/services stop kafka && scripts/services start kafka",
            pytrace=False,
        )
    return client


@pytest.fixture
def topic(admin: AdminClient) -> Iterator[str]:
    name = _unique("maas-test-sasl")
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.fixture
def scram_user(admin: AdminClient) -> Iterator[tuple[str, str]]:
    """A second SCRAM user, made through the admin API, without any ACL; removed afterwards
    with every ACL naming it."""
    name = _unique("maas-test-user")
    password = uuid.uuid4().hex
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    admin.alter_user_scram_credentials([UserScramCredentialUpsertion(name, info, password.encode())])[name].result(30)
    yield name, password
    acls = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{name}", None, AclOperation.ANY, AclPermissionType.ANY
    )
    for future in admin.delete_acls([acls]).values():
        future.result(30)
    admin.alter_user_scram_credentials([UserScramCredentialDeletion(name, ScramMechanism.SCRAM_SHA_512)])[name].result(30)


def test_admin_creates_a_topic_produces_and_consumes_over_sasl_ssl(admin_password: str, topic: str) -> None:
    config = _sasl(ADMIN, admin_password)
    assert _produce(config, topic, b"over TLS") is None
    assert _consume_one(config, topic, _unique("maas-test-group")) == b"over TLS"


def test_a_wrong_password_is_refused(admin: AdminClient) -> None:
    client = AdminClient(_sasl(ADMIN, "not-the-password"))
    with pytest.raises(KafkaException) as info:
        client.list_topics(timeout=5)
    assert info.value.args[0].code() in {KafkaError._AUTHENTICATION, KafkaError._TRANSPORT}, info.value


def test_the_certificate_is_checked_against_the_ca(admin_password: str, tmp_path: Path) -> None:
    """A client trusting another CA does not get through the TLS handshake."""
    import subprocess

    other_ca = tmp_path / "other-ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(tmp_path / "other-ca.key"), "-out", str(other_ca), "-days", "1", "-subj", "/CN=other"],
        check=True, capture_output=True,
    )
    client = AdminClient({**_sasl(ADMIN, admin_password), "ssl.ca.location": str(other_ca)})
    with pytest.raises(KafkaException):
        client.list_topics(timeout=5)


def test_a_user_without_acls_is_refused_until_an_acl_allows_it(
    admin: AdminClient, topic: str, scram_user: tuple[str, str]
) -> None:
    name, password = scram_user
    config = _sasl(name, password)

    # The login itself works (the credential exists) ...
    _eventually(lambda: AdminClient(config).list_topics(timeout=10), f"SASL_SSL login as {name}")
    # ... but without an ACL the topic is off limits.
    err = _produce(config, topic, b"refused")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    principal = f"User:{name}"
    group = _unique("maas-test-group")
    bindings = [
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, "*", op, AclPermissionType.ALLOW)
        for op in (AclOperation.WRITE, AclOperation.READ, AclOperation.DESCRIBE)
    ] + [
        AclBinding(ResourceType.GROUP, group, ResourcePatternType.LITERAL, principal, "*", AclOperation.READ,
                   AclPermissionType.ALLOW)
    ]
    for future in admin.create_acls(bindings).values():
        future.result(30)

    def allowed() -> None:
        err = _produce(config, topic, b"allowed")
        assert err is None, err

    _eventually(allowed, f"producing as {name} after the ACL")
    assert _consume_one(config, topic, group) in {b"allowed"}


def test_the_plaintext_listener_stays_open_to_the_local_stack(topic: str) -> None:
    """User:ANONYMOUS (every PLAINTEXT client) is a super user: the local stack needs no ACLs."""
    config = {"bootstrap.servers": PLAINTEXT_BOOTSTRAP, "socket.timeout.ms": 10000}
    assert _produce(config, topic, b"plaintext") is None
    plain_admin = AdminClient(config)
    name = _unique("maas-test-plain")
    plain_admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    plain_admin.delete_topics([name])[name].result(30)


def _bindings(rules: list) -> list[AclBinding]:
    """maas-iac's ACL rows (:class:`maas_iac.kafka.access.AclRule`) as the admin API takes them."""
    kinds = {"Topic": ResourceType.TOPIC, "Group": ResourceType.GROUP, "TransactionalID": ResourceType.TRANSACTIONAL_ID}
    patterns = {"Literal": ResourcePatternType.LITERAL, "Prefixed": ResourcePatternType.PREFIXED}
    return [AclBinding(kinds[r.resource_type], r.resource_name, patterns[r.pattern], r.principal, "*",
                       AclOperation[r.operation.upper()], AclPermissionType[r.permission.upper()]) for r in rules]


@pytest.fixture
def bridge_topics(admin: AdminClient) -> Iterator[tuple[str, str, str, str]]:
    """A scratch stack's requests, predictions and errors topics of model ``m``, and its bridge group."""
    stack = _unique("maas-test-bp")
    names = [f"{stack}.m.{role}" for role in ("requests", "predictions", "errors")]
    for future in admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names]).values():
        future.result(30)
    yield (*names, f"{stack}.m.bridge")
    for future in admin.delete_topics(names).values():
        future.result(30)


def test_the_bridge_acls_suffice_for_its_transaction_and_no_more(
    admin: AdminClient, admin_password: str, scram_user: tuple[str, str], bridge_topics: tuple[str, str, str, str]
) -> None:
    """Exactly the rows of ``bridge_acl_rules`` let a user do the bridge's cycle: consume a request in
    the group, produce the prediction and an error and commit the offsets in one transaction, with
    the transactional id ``<group>-0``. No ``IdempotentWrite`` on the cluster is needed; another
    transactional id and writing the requests topic are refused."""
    from confluent_kafka import TopicPartition

    from maas_iac.kafka.access import bridge_acl_rules

    name, password = scram_user
    requests, predictions, errors, group = bridge_topics
    as_admin = _sasl(ADMIN, admin_password)
    assert _produce(as_admin, requests, b'{"instances": [[1.0]]}') is None
    rules = bridge_acl_rules(f"User:{name}", requests=requests, predictions=predictions, errors=errors, group=group)
    for future in admin.create_acls(_bindings(rules)).values():
        future.result(30)
    as_bridge = _sasl(name, password)

    def producer(transactional_id: str) -> Producer:
        p = Producer({**as_bridge, "transactional.id": transactional_id})
        p.init_transactions(15)
        return p

    txn = _eventually(lambda: producer(f"{group}-0"), f"init_transactions as {name} after the ACLs")
    consumer = Consumer({**as_bridge, "group.id": group, "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([requests])
        deadline, msg = time.monotonic() + 30, None
        while msg is None and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error():
                raise KafkaException(msg.error())
        assert msg is not None, "the request was not consumed within 30s"
        txn.begin_transaction()
        txn.produce(predictions, b'{"predictions": [[2.5]]}')
        txn.produce(errors, b"{}")
        txn.send_offsets_to_transaction(consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 15)
        txn.commit_transaction(15)
    finally:
        consumer.close()

    check = Consumer({**as_admin, "group.id": group})
    try:
        [committed] = check.committed([TopicPartition(requests, 0)], timeout=15)
        assert committed.offset == 1, "the offsets were committed in the transaction"
    finally:
        check.close()
    assert _consume_one({**as_admin, "isolation.level": "read_committed"}, predictions,
                        _unique("maas-test-group")) == b'{"predictions": [[2.5]]}'

    with pytest.raises(KafkaException) as refused:
        producer(f"{group.rsplit('.', 1)[0]}.other-0")
    assert refused.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, refused.value
    err = _produce(as_bridge, requests, b"not the bridge's to write")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err


def test_a_reader_reads_predictions_in_its_groups_but_cannot_join_the_bridge_group(
    admin: AdminClient, admin_password: str, scram_user: tuple[str, str], bridge_topics: tuple[str, str, str, str]
) -> None:
    """``readPredictions`` allows the groups prefixed ``<stack>.<model>.``; the Deny keeps the
    bridge's own group out of them, so a reader cannot take the bridge's partitions."""
    from maas_iac.kafka.access import model_acl_rules

    name, password = scram_user
    requests, predictions, _errors, group = bridge_topics
    assert _produce(_sasl(ADMIN, admin_password), predictions, b'{"predictions": [[2.5]]}') is None
    prefix = group.rsplit(".", 1)[0] + "."
    rules = model_acl_rules(requests, predictions, prefix, produce_requests=(), read_predictions=(f"User:{name}",),
                            bridge_group=group)
    for future in admin.create_acls(_bindings(rules)).values():
        future.result(30)
    as_reader = _sasl(name, password)
    read = _eventually(lambda: _consume_one(as_reader, predictions, f"{prefix}dashboard"),
                       f"reading predictions as {name} after the ACLs")
    assert read == b'{"predictions": [[2.5]]}'
    with pytest.raises(KafkaException) as refused:
        _consume_one(as_reader, predictions, group)
    assert refused.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, refused.value
