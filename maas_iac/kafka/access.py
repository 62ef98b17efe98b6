"""Who may use a model's topics, as pulumi-kafka resources: ACLs and SCRAM users.

A spec's ``topics.access`` names principals; each becomes the ACLs that use needs and no more:

* ``produceRequests``: Write and Describe on ``<stack>.<model>.requests``;
* ``readPredictions``: Read and Describe on ``<stack>.<model>.predictions``, and Read on the
  consumer groups prefixed ``<stack>.<model>.``.

The stack's ``kafkaUsers`` become SCRAM credentials with the stack's mechanism, the passwords
Pulumi secrets from the stack file to the state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import pulumi

__all__ = ["AclRule", "model_acl_rules", "acl_resources", "scram_users"]


@dataclass(frozen=True)
class AclRule:
    """One Allow ACL."""

    principal: str
    resource_type: str
    """``Topic``, ``Group``, ``TransactionalId`` or ``Cluster``."""
    resource_name: str
    operation: str
    pattern: str = "Literal"
    """``Literal`` or ``Prefixed``."""

    @property
    def slug(self) -> str:
        """A stable, readable resource-name suffix."""
        parts = (self.principal.split(":", 1)[-1], self.resource_type, self.operation,
                 "prefix" if self.pattern == "Prefixed" else "")
        return re.sub(r"[^a-z0-9.-]+", "-", "-".join(p for p in parts if p).lower())


def model_acl_rules(requests: str, predictions: str, group_prefix: str, *, produce_requests: tuple[str, ...],
                    read_predictions: tuple[str, ...]) -> list[AclRule]:
    """The ACLs the spec's ``topics.access`` asks for."""
    rules = []
    for principal in produce_requests:
        rules += [AclRule(principal, "Topic", requests, op) for op in ("Write", "Describe")]
    for principal in read_predictions:
        rules += [AclRule(principal, "Topic", predictions, op) for op in ("Read", "Describe")]
        rules.append(AclRule(principal, "Group", group_prefix, "Read", "Prefixed"))
    return rules


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
            acl_permission_type="Allow",
            acl_resource_name=rule.resource_name,
            acl_resource_type=rule.resource_type,
            resource_pattern_type_filter=rule.pattern,
            opts=pulumi.ResourceOptions(parent=parent, provider=provider),
        )
        for rule in rules
    ]


def scram_users(users: dict[str, str], mechanism: str, *,
                provider: Optional[pulumi.ProviderResource]) -> list[pulumi.CustomResource]:
    """A ``kafka:index/userScramCredential:UserScramCredential`` per user (name → plaintext
    password, wrapped here as a Pulumi secret)."""
    import pulumi_kafka

    return [
        pulumi_kafka.UserScramCredential(
            f"kafka-user-{username}",
            username=username,
            scram_mechanism=mechanism,
            password=pulumi.Output.secret(password),
            opts=pulumi.ResourceOptions(provider=provider, additional_secret_outputs=["password"]),
        )
        for username, password in sorted(users.items())
    ]
