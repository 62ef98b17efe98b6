"""Pulumi dynamic providers for the Docker engine and the registry.

The docker provider plugin cannot be built on these machines (tools/README.md), so these
resources are implemented in Python and run by the `pulumi-python` provider plugin. Each talks
to the real service: the Docker SDK for Python and the registry's HTTP API v2. Kafka topics,
ACLs and SCRAM users are the real pulumi-kafka provider's (:mod:`maas_iac.kafka`);
:mod:`.kafka_topic` only retires the dynamic topics of stacks deployed before it.

Type tokens (frozen: they are in every stack's state; :mod:`maas_iac.type_tokens` names them
for code that reads previews and state):

=====================================  ==============================================
``pulumi-python:dynamic/docker:Network``          :class:`Network`
``pulumi-python:dynamic/docker:Container``        :class:`Container`
``pulumi-python:dynamic/docker:RegistryImage``    :class:`RegistryImage`
``pulumi-python:dynamic/docker:ContainerSweeper`` :class:`ContainerSweeper`
=====================================  ==============================================

Output annotations: the output attributes of these resources and of the components are
declared under ``if TYPE_CHECKING:``, for type checkers and readers only. At run time the
Pulumi SDK evaluates a resource class's annotations again for every instance it registers
(``pulumi._types.resource_types``, through ``typing.get_type_hints``), which cost about 2 ms
per model in ``benchmarks/program_scaling.py``; without them it skips the work. The outputs
themselves are unaffected: the SDK sets one attribute per property either way.
"""

from .docker_container import Container, HealthCheck, PortMapping
from .docker_image import RegistryImage
from .docker_network import Network
from .docker_sweeper import ContainerSweeper

__all__ = ["Container", "ContainerSweeper", "HealthCheck", "Network", "PortMapping", "RegistryImage"]
