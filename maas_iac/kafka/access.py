"""Who may use a model's topics, as pulumi-kafka resources: ACLs and SCRAM users.

A spec's ``topics.access`` names principals; each becomes the ACLs that use needs and no more:

* ``produceRequests``: Write and Describe on ``<stack>.<model>.requests``;
* ``readPredictions``: Read and Describe on ``<stack>.<model>.predictions``, and Read on the
  consumer groups prefixed ``<stack>.<model>.``;
* ``bridge``: what the model's bridge does, as :func:`bridge_acl_rules` lists it.

The stack's ``kafkaUsers`` become SCRAM credentials with the stack's mechanism, the passwords
Pulumi secrets from the stack file to the state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import pulumi

from maas_iac.spec.naming import principal_user

__all__ = ["AclRule", "acl_resources", "bridge_acl_rules", "model_acl_rules", "scram_users"]


@dataclass(frozen=True)
class AclRule:
    """One ACL (Allow unless ``permission`` says Deny)."""

    principal: str
    resource_type: str
    """``Topic``, ``Group``, ``TransactionalID`` or ``Cluster``, as the provider spells them."""
    resource_name: str
    operation: str
    pattern: str = "Literal"
    """``Literal`` or ``Prefixed``."""
    scope: str = ""
    """What the rule is for, part of the slug when set: it keeps apart the rules of one
    principal with the same resource type and operation on different resources (the bridge
    writes two topics). Empty for the ``produceRequests`` and ``readPredictions`` rules, whose
    resource names predate it."""
    permission: str = "Allow"
    """``Allow`` or ``Deny`` (a Deny wins over any Allow)."""

    @property
    def slug(self) -> str:
        """A stable, readable resource-name suffix."""
        parts = (principal_user(self.principal), self.scope, self.resource_type, self.operation,
                 "prefix" if self.pattern == "Prefixed" else "", "deny" if self.permission == "Deny" else "")
        return re.sub(r"[^a-z0-9.-]+", "-", "-".join(p for p in parts if p).lower())


def model_acl_rules(requests: str, predictions: str, group_prefix: str, *, produce_requests: tuple[str, ...],
                    read_predictions: tuple[str, ...], bridge_group: Optional[str] = None,
                    bridge_principal: Optional[str] = None) -> list[AclRule]:
    """The ACLs the spec's ``topics.access`` asks for.

    A reader's groups are those prefixed ``group_prefix`` (``<stack>.<model>.``), which would
    include the bridge's own ``bridge_group``: a reader joining it would take partitions of the
    requests topic from the bridge (and answer none of them). So each reader other than the
    bridge's own principal is denied Read on that group. A principal that both produces
    requests and reads predictions has its predictions rules scoped ``predictions`` (their
    names would otherwise be the same as its requests rules')."""
    rules = []
    for principal in produce_requests:
        rules += [AclRule(principal, "Topic", requests, op) for op in ("Write", "Describe")]
    for principal in read_predictions:
        scope = "predictions" if principal in produce_requests else ""
        rules += [AclRule(principal, "Topic", predictions, op, scope=scope) for op in ("Read", "Describe")]
        rules.append(AclRule(principal, "Group", group_prefix, "Read", "Prefixed"))
        if bridge_group and principal != bridge_principal:
            rules.append(AclRule(principal, "Group", bridge_group, "Read", scope="bridge", permission="Deny"))
    return rules


def bridge_acl_rules(principal: str, *, requests: str, predictions: str, errors: str, group: str) -> list[AclRule]:
    """What a model's bridge needs and no more, for the principal it connects as.

    The bridge is a consumer in the group ``group`` (``<stack>.<model>.bridge``) and a
    transactional producer with the ``transactional.id`` ``<group>-<ordinal>``
    (``maas_dataplane.bridge.config``) that commits the consumed offsets in its transactions
    (``send_offsets_to_transaction``). Kafka authorises that as:

    * fetching, listing and fetching committed offsets of the requests topic: Read, Describe;
    * joining, syncing and heartbeating in the group, and ``TxnOffsetCommit`` /
      ``AddOffsetsToTxn`` (which also want Write on the transactional id): Read on the group,
      literally that one;
    * producing to the predictions and errors topics in a transaction: Write, Describe;
    * ``FindCoordinator``, ``InitProducerId``, ``AddPartitionsToTxn``, ``EndTxn`` and the
      transactional produce: Write and Describe on the transactional ids prefixed ``<group>-``,
      one per instance.

    No IdempotentWrite on the Cluster: Write on a transactional id authorises the producer id
    that comes with it (since Kafka 0.11, KAFKA-5259), and since 2.8 (KIP-679) an idempotent
    producer needs only Write on a topic. Describe is implied by Read and Write; it is listed
    anyway, as for the other principals, so the ACL listing reads like the protocol table.
    """
    topic_rules = [(requests, "requests", ("Read", "Describe")), (predictions, "predictions", ("Write", "Describe")),
                   (errors, "errors", ("Write", "Describe"))]
    return [
        *(AclRule(principal, "Topic", topic, op, scope=f"bridge-{role}")
          for topic, role, ops in topic_rules for op in ops),
        AclRule(principal, "Group", group, "Read", scope="bridge"),
        *(AclRule(principal, "TransactionalID", f"{group}-", op, "Prefixed", scope="bridge")
          for op in ("Write", "Describe")),
    ]


def acl_resources(name: str, rules: list[AclRule], *, provider: Optional[pulumi.ProviderResource],
                  parent: Optional[pulumi.Resource] = None) -> list[pulumi.CustomResource]:
    """One ``kafka:index/acl:Acl`` per rule, named ``<name>-<slug>``."""
    import pulumi_kafka

    return [
        pulumi_kafka.Acl(
            f"{name}-{rule.slug}",
            acl_principal=rule.principal,
            acl_host="*",
            acl_operation=rule.operation,
            acl_permission_type=rule.permission,
            acl_resource_name=rule.resource_name,
            acl_resource_type=rule.resource_type,
            resource_pattern_type_filter=rule.pattern,
            opts=pulumi.ResourceOptions(parent=parent, provider=provider),
        )
        for rule in rules
    ]


def scram_users(users: dict[str, str], mechanism: str, *,
                provider: Optional[pulumi.ProviderResource]) -> dict[str, pulumi.CustomResource]:
    """A ``kafka:index/userScramCredential:UserScramCredential`` per user (name → plaintext
    password, wrapped here as a Pulumi secret), by user name."""
    import pulumi_kafka

    return {
        username: pulumi_kafka.UserScramCredential(
            f"kafka-user-{username}",
            username=username,
            scram_mechanism=mechanism,
            password=pulumi.Output.secret(password),
            opts=pulumi.ResourceOptions(provider=provider, additional_secret_outputs=["password"]),
        )
        for username, password in sorted(users.items())
    }
