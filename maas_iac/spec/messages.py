"""Every message and fix text the spec loader reports, as named ``str.format`` templates.

Tests assert on these constants rather than on copied strings, so a wording change is one
edit here. ``*_FIX`` constants are the matching ``fix:`` lines.
"""

from __future__ import annotations

# --- reading the file -------------------------------------------------------------------------
FILE_NOT_FOUND = "no such file or directory"
FILE_NOT_FOUND_FIX = "check the path; `maas validate` defaults to models/ and stacks/"
NOT_A_REGULAR_FILE = "not a regular file"
FILE_UNREADABLE = "cannot read the file: {reason}"
FILE_TOO_LARGE = "file is larger than the {limit_kib} KiB limit for a spec"
FILE_TOO_LARGE_FIX = "a spec is a few dozen lines; check that this is the right file"
NOT_UTF8 = "file is not valid UTF-8 (byte 0x{byte:02x})"
NOT_UTF8_FIX = "save the file as UTF-8"
NO_FILES_FOUND = "no YAML files found"
NO_FILES_FOUND_FIX = "pass spec files or directories holding *.yaml files"

# --- YAML syntax and the safe subset ----------------------------------------------------------
YAML_SYNTAX = "invalid YAML: {problem}"
YAML_SYNTAX_FIX = "fix the YAML syntax at this position"
YAML_COLON_IN_FLOW_FIX = "quote values that contain ':' inside {...} or [...], e.g. '127.0.0.1:9092'"
EMPTY_DOCUMENT = "the file holds no YAML document"
EMPTY_DOCUMENT_FIX = "write the spec as a YAML mapping (see models/half-plus-two.yaml)"
MULTIPLE_DOCUMENTS = "the file holds more than one YAML document"
MULTIPLE_DOCUMENTS_FIX = "put one spec per file; remove the '---' separator"
ALIAS_NOT_ALLOWED = "YAML aliases (*{name}) are not allowed in specs"
ANCHOR_NOT_ALLOWED = "YAML anchors (&{name}) are not allowed in specs"
ANCHOR_FIX = "write the values out in full; specs must read the same to people and tools"
TAG_NOT_ALLOWED = "YAML tag {tag} is not allowed in specs"
TAG_NOT_ALLOWED_FIX = "remove the tag; plain YAML values only"
TAG_MISMATCH = "value {value!r} is not a valid {tag}"
COMPLEX_KEY = "mapping keys must be plain scalars"
COMPLEX_KEY_FIX = "use a plain string key"
DUPLICATE_KEY = "duplicate key {key!r} (first at line {line})"
DUPLICATE_KEY_FIX = "keep one of the two entries"
NESTING_TOO_DEEP = "nesting deeper than {limit} levels"
NESTING_TOO_DEEP_FIX = "a spec is at most a few levels deep; check the indentation"
NON_FINITE_NUMBER = "{value!r} is not a finite number"
NON_FINITE_NUMBER_FIX = "use a finite number"

# --- schema -----------------------------------------------------------------------------------
UNKNOWN_KEY = "unknown key {key!r}"
DID_YOU_MEAN = "did you mean {suggestion!r}?"
ALLOWED_KEYS = "allowed keys here: {allowed}"
MISSING_KEY = "missing required key {key!r}"
MISSING_KEY_WHEN = "missing key {key!r}, required when {condition}"
MISSING_KEY_FIX = "add `{key}: {example}`"
KEY_NOT_ALLOWED_WHEN = "key {key!r} is not allowed when {condition}"
KEY_NOT_ALLOWED_WHEN_FIX = "remove {key!r}"
WRONG_TYPE = "expected {expected}, got {actual}"
WRONG_TYPE_UNQUOTE_FIX = "remove the quotes: {value}"
WRONG_TYPE_QUOTE_FIX = "quote the value: \"{value}\""
NOT_ONE_OF = "{value!r} is not one of {allowed}"
WRONG_CONST = "must be {expected!r}, got {value!r}"
TOO_SMALL = "{value!r} is less than the minimum {limit}"
TOO_SMALL_EXCLUSIVE = "{value!r} must be greater than {limit}"
TOO_LARGE = "{value!r} is greater than the maximum {limit}"
TOO_LARGE_EXCLUSIVE = "{value!r} must be less than {limit}"
TOO_SHORT = "must not be shorter than {limit} character(s)"
TOO_LONG = "is {length} characters long; the maximum is {limit}"
TOO_FEW_ITEMS = "needs at least {limit} item(s)"
TOO_MANY_ITEMS = "has {count} items; the maximum is {limit}"
DUPLICATE_ITEMS = "list items must be unique"
TOO_FEW_KEYS = "needs at least {limit} key(s)"
TOO_MANY_KEYS = "has {count} keys; the maximum is {limit}"
INVALID_KEY = "invalid key {key!r}: {reason}"
INVALID_VALUE = "{reason}"
SCHEMA_OTHER = "{message}"

# --- formats (the reason part of INVALID_VALUE / INVALID_KEY) ---------------------------------
DNS_LABEL = (
    "{value!r} is not a DNS label: lowercase letters, digits and '-', starting and ending "
    "with a letter or digit, at most 63 characters"
)
DNS_LABEL_FIX = "e.g. half-plus-two"
LABEL_KEY = "{value!r} is not a label key: letters, digits, '-', '_' and '.', optional 'prefix/'"
ENV_NAME = "{value!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
VERSION_LABEL = "{value!r} is not a version label: letters, digits, '-' and '_', at most 63"
KAFKA_CONFIG_KEY = "{value!r} is not a Kafka topic config key (lowercase words joined by '.')"
QUANTITY = "{value!r} is not a memory size such as 512Mi, 1Gi or 1073741824"
QUANTITY_FIX = "use a number with an optional suffix: Ki, Mi, Gi, Ti (binary) or k, M, G, T"
IMAGE_REFERENCE = "{value!r} is not a container image reference"
IMAGE_REFERENCE_FIX = "e.g. tensorflow/serving:2.19.0 or 127.0.0.1:5000/maas/serving:2.21.0"
REGISTRY = "{value!r} is not a registry address (host[:port], no scheme or path)"
REGISTRY_FIX = "e.g. 127.0.0.1:5000 or registry.example.com"
IP_ADDRESS = "{value!r} is not an IP address"
IP_ADDRESS_FIX = "e.g. 127.0.0.1, or 0.0.0.0 to listen on every interface"
DOCKER_HOST = ("{value!r} is not a Docker host: use unix:///path/to/docker.sock, ssh://[user@]host[:port] "
               "or tcp://host:port (with maas:dockerTls)")
DOCKER_HOST_FIX = "e.g. unix:///var/run/docker.sock, ssh://deploy@docker-1.example.com or tcp://docker-1.example.com:2376"
BOOTSTRAP_SERVERS = "{value!r} is not a list of Kafka bootstrap servers (host:port[,host:port...])"
BOOTSTRAP_SERVERS_FIX = "e.g. 127.0.0.1:9092 or kafka-1:9093,kafka-2:9093"
NETWORK_NAME = "{value!r} is not a Docker network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"

# untrusted source fields: repository, ref, path. The repository and ref texts belong to the
# rules in maas_iac.source.urls (shared with the Git layer) and are re-exported here.
from maas_iac.source.urls import (  # noqa: E402
    REF_FIX,
    REF_INVALID,
    REPO_BAD_HOST,
    REPO_CONTROL_CHARS,
    REPO_CREDENTIALS,
    REPO_CREDENTIALS_FIX,
    REPO_EMPTY,
    REPO_FIX,
    REPO_LEADING_DASH,
    REPO_OPTION_HOST,
    REPO_RELATIVE,
    REPO_SCHEME,
    REPO_TRANSPORT_HELPER,
    REPO_TRAVERSAL,
)

REF_EMPTY = "the ref must not be empty"
SOURCE_PATTERN = "{value!r} is not an allowed-source pattern: {reason}"
SOURCE_PATTERN_FIX = "e.g. github.com/my-org/*, git.internal:ml/**, local or local:~/models/*"
SOURCE_NOT_ALLOWED = "the repository is not among the sources stack {stack!r} allows ({allowed})"
SOURCE_NOT_ALLOWED_FIX = (
    "use a repository the stack allows, or add a pattern for it to maas:allowedSources in {where}"
)
PATH_ABSOLUTE = "{value!r} must be relative to the repository root"
PATH_TRAVERSAL = "{value!r} must not contain '..' segments"
PATH_INVALID = "{value!r} {reason}"
PATH_FIX = "e.g. models/half_plus_two"

# --- cross-field and cross-spec checks ---------------------------------------------------------
LABEL_VERSION_NOT_SERVED = "label {label!r} points at version {version}, which is not served"
LABEL_VERSION_NOT_SERVED_FIX = "add {version} to source.versions.versions or point the label at one of {served}"
PORTS_EQUAL = "the REST and gRPC ports are both {port}"
PORTS_EQUAL_FIX = "give the REST and gRPC ports different numbers"
PORT_TAKEN = "host port {port} is already used by {owner} ({where})"
PORT_TAKEN_FIX = "pick a free port; ports must be unique across all models of a stack"
PORT_OUT_OF_RANGE = "port {port} plus the portOffset {offset} of stack {stack!r} is above 65535"
PORT_OUT_OF_RANGE_FIX = "lower the port or the stack's portOffset"
DUPLICATE_NAME = "model name {name!r} is already used in {where}"
DUPLICATE_NAME_FIX = "give every model service its own metadata.name"
TOPIC_NAME_ILLEGAL = "topic name {topic!r} is not legal in Kafka: {reason}"
TOPIC_NAME_ILLEGAL_FIX = "shorten or rename metadata.name or the stack"
TOPIC_NAME_COLLISION = "topic name {topic!r} collides with {other!r} (Kafka treats '.' and '_' alike)"
TOPIC_NAME_COLLISION_FIX = "rename the model or the stack; topic names must stay distinct per Kafka cluster"
TOPIC_CONFIG_SHADOWS = "config key {key!r} duplicates the field {field!r}"
TOPIC_CONFIG_SHADOWS_FIX = "set {field!r} instead and remove {key!r} from config"
BRIDGE_CONSUMERS_EXCEED_PARTITIONS = (
    "bridge.consumers is {consumers} but the requests topic has {partitions} partition(s): "
    "a consumer without a partition would idle"
)
BRIDGE_CONSUMERS_EXCEED_PARTITIONS_FIX = "lower bridge.consumers to {partitions} or raise topics.requests.partitions to {consumers}"
BRIDGE_PRINCIPAL_NOT_A_STACK_USER = (
    "the bridge connects as {principal}, but stack {stack!r} uses SASL and has no such user in maas:kafkaUsers "
    "({where}), so the bridge would have no password to log in with"
)
BRIDGE_PRINCIPAL_NOT_A_STACK_USER_FIX = (
    "add the user to the stack: pulumi config set --stack {stack} --secret --path 'maas:kafkaUsers.{user}' "
    "<password>; or remove topics.access.bridge to let the bridge connect as the stack's own user"
)
ENV_RESERVED = "environment variable {name!r} is set by maas-iac and cannot be overridden"
ENV_RESERVED_FIX = "remove {name!r} from serving.env"

# --- stack config -----------------------------------------------------------------------------
STACK_FILE_NAME = "{name!r} is not a stack file name; expected Pulumi.<stack>.yaml"
STACK_NAME = "stack name {value!r} must be 1-100 characters of letters, digits, '-', '_' and '.'"
STACK_NAME_FIX = "rename the stack, e.g. Pulumi.staging.yaml"
STACK_NOT_NAMESPACED = "config key {key!r} needs the 'maas:' namespace"
STACK_NOT_NAMESPACED_FIX = "write it as 'maas:{key}'"
STACK_SECRET_IN_CLEAR = "{key} is stored in clear text"
STACK_SECRET_IN_CLEAR_FIX = "store it as a secret: pulumi config set --secret --path '{path}' <value>"
STACK_SECRET_OPAQUE = "{key} is a secret; only its presence can be checked"
STACK_NOT_JSON = "{key} must be a mapping or its JSON text: {reason}"
STACK_UNKNOWN_MODEL = "replicas override for {name!r}, but no model service has that name"
STACK_UNKNOWN_MODEL_FIX_NONE = "remove the entry or add the model spec"
