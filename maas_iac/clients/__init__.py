"""How the control plane reaches the services a stack uses: one typed settings object and one
client factory per service.

* :mod:`.endpoints`: :class:`Connections` (Docker engine, registry, Kafka), built once from
  the stack configuration and handed to every resource as inputs, so no provider builds a
  client from the environment;
* :mod:`.docker`: Docker SDK clients for a :class:`DockerEndpoint`;
* :mod:`.kafka`: librdkafka settings, admin clients and producers for a :class:`KafkaEndpoint`;
* :mod:`.registry`: the registry's HTTP API v2 (manifest look-ups).

Clients are created per call and closed after it: dynamic providers run in their own
process, and nothing here may be pickled into the state.
"""

from maas_iac.clients.endpoints import Connections, DockerEndpoint, KafkaEndpoint, RegistryEndpoint

__all__ = ["Connections", "DockerEndpoint", "KafkaEndpoint", "RegistryEndpoint"]
