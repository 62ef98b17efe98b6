"""Kafka through the real pulumi-kafka provider: the stack's provider, the topic guard rails
checked against the live cluster before anything is registered, and access (ACLs, SCRAM users).

* :mod:`.cluster`: one explicit ``pulumi_kafka.Provider`` per stack from its connection settings;
* :mod:`.guard`: declared topics against the live ones (destructive changes refused);
* :mod:`.access`: principals' ACLs and SCRAM credentials as resources.
"""
