"""Model service specs: load, validate and model them.

Pipeline (each stage a module)::

    reader   YAML (safe subset) → plain data + the line:col of every key and value
    schema   data checked against schemas/*.schema.json, errors rewritten one per mistake
    build    schema-valid data → frozen dataclasses (model)
    checks   rules across fields and across files (names, ports, topics, labels)
    stack    stacks/Pulumi.<stack>.yaml → StackConfig, and the spec/stack merge rule
    load     the pipeline over files and directories

Typical use::

    from maas_iac.spec import load_specs, load_stack_config, apply_stack_config

    specs = load_specs(["models"])                    # raises SpecError with every problem
    stack = load_stack_config("stacks/Pulumi.local.yaml")
    effective = [apply_stack_config(s, stack) for s in specs]
"""

from maas_iac.errors import SpecError, SpecProblem, StackConfigError
from maas_iac.spec.load import (
    DEFAULT_PATHS,
    ValidationResult,
    find_files,
    load_spec,
    load_specs,
    parse_spec,
    validate_paths,
)
from maas_iac.spec.model import (
    API_VERSION,
    KIND,
    AllVersions,
    Batching,
    Bridge,
    FrozenMap,
    Health,
    LatestVersions,
    Metadata,
    ModelServiceSpec,
    Ports,
    Resources,
    Rollout,
    Serving,
    Source,
    SpecificVersions,
    TopicSpec,
    Topics,
    VersionPolicy,
)
from maas_iac.spec.naming import TopicNames, bridge_group, events_topic, topic_names
from maas_iac.spec.stack import (
    DEFAULT_BIND_ADDRESS,
    DEFAULT_ROUTER_IMAGE,
    DEFAULT_SERVING_BASE_IMAGE,
    STACK_CONFIG_KEYS,
    KafkaConfig,
    Promotion,
    Secret,
    StackConfig,
    apply_stack_config,
    load_stack_config,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_BIND_ADDRESS",
    "DEFAULT_PATHS",
    "DEFAULT_ROUTER_IMAGE",
    "DEFAULT_SERVING_BASE_IMAGE",
    "KIND",
    "STACK_CONFIG_KEYS",
    "AllVersions",
    "Batching",
    "Bridge",
    "FrozenMap",
    "Health",
    "KafkaConfig",
    "LatestVersions",
    "Metadata",
    "ModelServiceSpec",
    "Ports",
    "Promotion",
    "Resources",
    "Rollout",
    "Secret",
    "Serving",
    "Source",
    "SpecError",
    "SpecProblem",
    "SpecificVersions",
    "StackConfig",
    "StackConfigError",
    "TopicNames",
    "TopicSpec",
    "Topics",
    "ValidationResult",
    "VersionPolicy",
    "apply_stack_config",
    "bridge_group",
    "events_topic",
    "find_files",
    "load_spec",
    "load_specs",
    "load_stack_config",
    "parse_spec",
    "topic_names",
    "validate_paths",
]
