"""Pulumi dynamic providers for the Docker engine and the Kafka broker.

The docker and kafka provider plugins cannot be built on these machines (tools/README.md),
so these resources are implemented in Python and run by the `pulumi-python` provider
plugin. Each talks to the real service: the Docker SDK for Python, confluent-kafka's
AdminClient and the registry's HTTP API v2.

Type tokens (frozen: they are in every stack's state):

=====================================  ==============================================
``pulumi-python:dynamic/docker:Network``          :class:`Network`
``pulumi-python:dynamic/docker:Container``        :class:`Container`
``pulumi-python:dynamic/docker:RegistryImage``    :class:`RegistryImage`
``pulumi-python:dynamic/kafka:Topic``             :class:`Topic`
``pulumi-python:dynamic/docker:ContainerSweeper`` :class:`ContainerSweeper`
=====================================  ==============================================
"""

from .docker_container import Container, HealthCheck, PortMapping
from .docker_image import RegistryImage
from .docker_network import Network
from .docker_sweeper import ContainerSweeper
from .kafka_topic import Topic

__all__ = ["Container", "ContainerSweeper", "HealthCheck", "Network", "PortMapping", "RegistryImage", "Topic"]
