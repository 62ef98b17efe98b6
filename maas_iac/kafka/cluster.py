"""The stack's pulumi-kafka provider, built from its :class:`~maas_iac.clients.KafkaEndpoint`."""

from __future__ import annotations

import os
from typing import Optional

import pulumi

from maas_iac.clients import KafkaEndpoint

__all__ = ["SASL_MECHANISMS", "kafka_provider"]

SASL_MECHANISMS = {"PLAIN": "plain", "SCRAM-SHA-256": "scram-sha256", "SCRAM-SHA-512": "scram-sha512"}
"""The stack's mechanism names (librdkafka's) → the provider's."""


def kafka_provider(name: str, endpoint: KafkaEndpoint,
                   opts: Optional[pulumi.ResourceOptions] = None) -> pulumi.ProviderResource:
    """An explicit provider for the cluster: every topic, ACL and user of the stack uses it,
    so no resource reaches Kafka through ambient settings. The password stays a secret."""
    import pulumi_kafka

    secured = endpoint.security_protocol == "SASL_SSL"
    props = endpoint.to_props()
    return pulumi_kafka.Provider(
        name,
        bootstrap_servers=list(endpoint.bootstrap_servers),
        tls_enabled=secured,
        skip_tls_verify=False,
        ca_cert_file=os.path.expanduser(endpoint.ca_location) if secured and endpoint.ca_location else None,
        sasl_mechanism=SASL_MECHANISMS.get(endpoint.sasl_mechanism or "") if secured else None,
        sasl_username=endpoint.sasl_username if secured else None,
        sasl_password=props.get("sasl_password") if secured else None,
        timeout=30,
        opts=opts,
    )
