"""Schema validation: every JSON Schema error turned into one clear, located problem.

The schemas under ``schemas/`` are the single source of truth for the shape of a spec. This
module compiles each once, validates documents against them, and rewrites jsonschema's
errors into :class:`~maas_iac.errors.SpecProblem` s:

* unknown keys are reported one by one at the key, with a "did you mean" fix;
* ``if``/``then`` branches keyed by a discriminator (``policy``, ``securityProtocol``) give
  "missing key 'versions', required when policy is 'specific'" instead of a ``oneOf`` dump;
* ``format`` failures carry the checker's own reason and fix;
* a quoted number where a number belongs (or the reverse) gets a "remove the quotes" fix.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from maas_iac.errors import SpecProblem
from maas_iac.spec import messages as M
from maas_iac.spec.fastcheck import Check, compile_schema
from maas_iac.spec.formats import FORMAT_CHECKER, FormatProblem
from maas_iac.spec.reader import DocPath, Document

__all__ = [
    "MODELSERVICE_SCHEMA",
    "SCHEMA_DIR",
    "STACKCONFIG_SCHEMA",
    "did_you_mean",
    "fast_check_for",
    "load_schema",
    "schema_problems",
    "validator_for",
]

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
"""Where the JSON Schemas live (``schemas/`` at the repository root)."""
MODELSERVICE_SCHEMA = "modelservice.schema.json"
STACKCONFIG_SCHEMA = "stackconfig.schema.json"

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``schemas/<name>``."""
    with open(SCHEMA_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


# YAML has distinct integers and floats: 2.0 is not an acceptable replica count, although
# JSON Schema's "integer" would accept it.
_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, x: isinstance(x, int) and not isinstance(x, bool)
    ),
)


@cache
def validator_for(name: str) -> Draft202012Validator:
    """A jsonschema validator for ``schemas/<name>``, built once per process."""
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return _Validator(schema, format_checker=FORMAT_CHECKER)


@cache
def fast_check_for(name: str) -> Check:
    """A compiled yes/no check for ``schemas/<name>`` (see :mod:`maas_iac.spec.fastcheck`)."""
    return compile_schema(load_schema(name), FORMAT_CHECKER)


PathRenderer = Callable[[DocPath], str]


def schema_problems(
    doc: Document, schema_name: str, *, data: object = None, render: PathRenderer | None = None
) -> list[SpecProblem]:
    """Validate ``data`` (default ``doc.data``) against ``schemas/<schema_name>``.

    ``render`` turns a data path into the JSON path shown to the user (for stack files, whose
    data is the ``maas:`` keys lifted out of ``config:``); positions are looked up in ``doc``
    under the same data path.
    """
    instance = doc.data if data is None else data
    if fast_check_for(schema_name)(instance):
        return []
    validator = validator_for(schema_name)
    root = load_schema(schema_name)
    problems: list[SpecProblem] = []
    seen: set[tuple[str, str]] = set()
    reported = doc.reported
    converted = [c for error in validator.iter_errors(instance) for c in _convert(error, root, instance)]
    # A misspelt required key is one mistake: keep "unknown key 'registy'" (whose fix names
    # 'registry') and drop "missing required key 'registry'" in the same mapping.
    suggested = {(c.path[:-1], c.suggestion) for c in converted if c.suggestion}
    for c in converted:
        path, message, fix, at_key = c.path, c.message, c.fix, c.at_key
        if c.missing and (path, c.missing) in suggested:
            continue
        if reported and any(path[: len(r)] == r for r in reported):
            continue  # the reader already reported this value
        display = render(path) if render else None
        problem = doc.problem(path, message, fix, prefer_key=at_key, display_path=display)
        marker = (problem.json_path, problem.message)
        if marker not in seen:
            seen.add(marker)
            problems.append(problem)
    return problems


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``: same letters ignoring case and ``_``/``-``
    (``max_batch_size`` → ``maxBatchSize``), else the best difflib match."""
    pool = list(candidates)

    def norm(s: str) -> str:
        return re.sub(r"[-_.]", "", s).lower()

    for candidate in pool:
        if norm(candidate) == norm(word):
            return candidate
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not close:
        normed = {norm(c): c for c in pool}
        close = [normed[m] for m in difflib.get_close_matches(norm(word), list(normed), n=1, cutoff=0.6)]
    return close[0] if close else None


class _Converted(NamedTuple):
    path: DocPath
    message: str
    fix: str | None
    at_key: bool
    missing: str | None = None  # the key a "missing required key" problem is about
    suggestion: str | None = None  # the key an "unknown key" problem suggests


def _convert(error: ValidationError, root: Mapping[str, Any], document: object) -> list[_Converted]:
    path: DocPath = tuple(error.absolute_path)
    kind = error.validator
    value = error.validator_value
    instance = error.instance
    schema = error.schema
    in_names = "propertyNames" in error.relative_schema_path

    if schema is False or kind is None:
        return _forbidden(error, root, path, _walk(document, path))
    if kind == "additionalProperties" and value is False:
        return _unknown_keys(schema, instance, path)
    if kind == "required":
        condition = _condition(error, root)
        out: list[_Converted] = []
        for key in value:
            if isinstance(instance, Mapping) and key not in instance:
                example = _example(_property_schema(root, list(error.absolute_schema_path), key))
                message = (
                    M.MISSING_KEY_WHEN.format(key=key, condition=condition)
                    if condition
                    else M.MISSING_KEY.format(key=key)
                )
                out.append(
                    _Converted(path, message, M.MISSING_KEY_FIX.format(key=key, example=example), True, missing=key)
                )
        return out
    if in_names:
        # propertyNames: the error's instance is the offending key
        key = instance
        reason = _format_reason(error) or M.SCHEMA_OTHER.format(message=error.message)
        return [_Converted(path + (key,), M.INVALID_KEY.format(key=key, reason=reason), _format_fix(error), True)]
    if kind == "type":
        return [_Converted(path, *_type_problem(value, instance), False)]
    if kind == "format":
        reason = _format_reason(error) or error.message
        return [_Converted(path, M.INVALID_VALUE.format(reason=reason), _format_fix(error), False)]
    if kind == "enum":
        allowed = ", ".join(repr(v) for v in value)
        suggestion = did_you_mean(instance, [str(v) for v in value]) if isinstance(instance, str) else None
        fix = M.DID_YOU_MEAN.format(suggestion=suggestion) if suggestion else None
        return [_Converted(path, M.NOT_ONE_OF.format(value=instance, allowed=allowed), fix, False)]
    if kind == "const":
        return [_Converted(path, M.WRONG_CONST.format(expected=value, value=instance), f"write {value}", False)]
    simple = {
        "minimum": lambda: M.TOO_SMALL.format(value=instance, limit=value),
        "exclusiveMinimum": lambda: M.TOO_SMALL_EXCLUSIVE.format(value=instance, limit=value),
        "maximum": lambda: M.TOO_LARGE.format(value=instance, limit=value),
        "exclusiveMaximum": lambda: M.TOO_LARGE_EXCLUSIVE.format(value=instance, limit=value),
        "minLength": lambda: M.TOO_SHORT.format(limit=value),
        "maxLength": lambda: M.TOO_LONG.format(length=len(instance), limit=value),
        "minItems": lambda: M.TOO_FEW_ITEMS.format(limit=value),
        "maxItems": lambda: M.TOO_MANY_ITEMS.format(count=len(instance), limit=value),
        "uniqueItems": lambda: M.DUPLICATE_ITEMS,
        "minProperties": lambda: M.TOO_FEW_KEYS.format(limit=value),
        "maxProperties": lambda: M.TOO_MANY_KEYS.format(count=len(instance), limit=value),
    }
    if kind in simple:
        return [_Converted(path, simple[kind](), None, False)]
    return [_Converted(path, M.SCHEMA_OTHER.format(message=error.message), None, False)]


def _unknown_keys(schema: Mapping[str, Any], instance: object, path: DocPath) -> list[_Converted]:
    if not isinstance(instance, Mapping):
        return []
    allowed = list(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    out: list[_Converted] = []
    for key in instance:
        if key in allowed or any(p.search(key) for p in patterns):
            continue
        suggestion = did_you_mean(key, allowed)
        fix = (
            M.DID_YOU_MEAN.format(suggestion=suggestion)
            if suggestion
            else M.ALLOWED_KEYS.format(allowed=", ".join(allowed))
        )
        out.append(_Converted(path + (key,), M.UNKNOWN_KEY.format(key=key), fix, True, suggestion=suggestion))
    return out


def _forbidden(
    error: ValidationError, root: Mapping[str, Any], path: DocPath, parent_instance: object
) -> list[_Converted]:
    """A ``false`` subschema under ``then``/``else``: a key the discriminator rules out.

    jsonschema reports these at the parent object with the key missing from the path, so the
    keys are recovered from the ``properties`` node that holds the ``false`` schemas.
    """
    props_node = _schema_node(root, list(error.absolute_schema_path))
    condition = _condition(error, root) or "here"
    out: list[_Converted] = []
    if isinstance(props_node, Mapping) and isinstance(parent_instance, Mapping):
        for key, sub in props_node.items():
            if sub is False and key in parent_instance:
                out.append(
                    _Converted(
                        path + (key,),
                        M.KEY_NOT_ALLOWED_WHEN.format(key=key, condition=condition),
                        M.KEY_NOT_ALLOWED_WHEN_FIX.format(key=key),
                        True,
                    )
                )
    if not out:
        out.append(_Converted(path, M.SCHEMA_OTHER.format(message=error.message), None, False))
    return out


def _walk(document: object, path: DocPath) -> object:
    node = document
    for step in path:
        try:
            node = node[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _condition(error: ValidationError, root: Mapping[str, Any]) -> str | None:
    """``policy is 'specific'`` for an error raised inside a discriminated ``then``/``else``."""
    schema_path = list(error.absolute_schema_path)
    for i in range(len(schema_path) - 1, -1, -1):
        step = schema_path[i]
        if step not in ("then", "else"):
            continue
        owner = _schema_node(root, schema_path[:i])
        if not isinstance(owner, Mapping):
            return None
        for prop, sub in owner.get("if", {}).get("properties", {}).items():
            if isinstance(sub, Mapping) and "const" in sub:
                if step == "then":
                    return f"{prop} is {sub['const']!r}"
                return f"{prop} is not {sub['const']!r}"
        return None
    return None


def _schema_node(root: Mapping[str, Any], steps: Sequence[object]) -> object:
    """Follow a jsonschema schema path from the root, through local ``$ref`` s."""
    node: object = root
    for step in steps:
        for _ in range(8):
            if isinstance(node, Mapping) and step not in node and "$ref" in node:
                node = _resolve_ref(root, node["$ref"])
            else:
                break
        try:
            node = node[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _resolve_ref(root: Mapping[str, Any], ref: str) -> object:
    node: object = root
    if not ref.startswith("#/"):
        return None
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _property_schema(root: Mapping[str, Any], schema_path: list[object], key: str) -> object:
    """The schema of property ``key`` of the object a ``required`` error is about: the nearest
    enclosing schema node (walking out of ``then``/``allOf``) that declares it."""
    for end in range(len(schema_path), -1, -1):
        node = _schema_node(root, schema_path[:end])
        if isinstance(node, Mapping) and "$ref" in node:
            node = _resolve_ref(root, node["$ref"])
        if isinstance(node, Mapping):
            prop = node.get("properties", {}).get(key)
            if isinstance(prop, Mapping):
                return prop
    return None


def _example(prop: object) -> str:
    if isinstance(prop, Mapping):
        examples = prop.get("examples")
        if examples:
            return str(examples[0])
        if "default" in prop:
            return json.dumps(prop["default"])
    return "..."


def _format_reason(error: ValidationError) -> str | None:
    cause = error.cause
    return cause.message if isinstance(cause, FormatProblem) else None


def _format_fix(error: ValidationError) -> str | None:
    cause = error.cause
    return cause.fix if isinstance(cause, FormatProblem) else None


def _describe(instance: object) -> str:
    if instance is None:
        return "null"
    if isinstance(instance, bool):
        return "true" if instance else "false"
    if isinstance(instance, Mapping):
        return "a mapping"
    if isinstance(instance, list):
        return "a list"
    if isinstance(instance, str):
        shown = instance if len(instance) <= 40 else instance[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(instance, int):
        return f"the integer {instance}"
    if isinstance(instance, float):
        return f"the number {instance!r}"
    return type(instance).__name__


def _type_problem(expected: str | list[str], instance: object) -> tuple[str, str | None]:
    kinds = [expected] if isinstance(expected, str) else list(expected)
    names = [_TYPE_NAMES.get(k, k) for k in kinds]
    wanted = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    message = M.WRONG_TYPE.format(expected=wanted, actual=_describe(instance))
    fix: str | None = None
    if isinstance(instance, str) and ("integer" in kinds or "number" in kinds):
        try:
            number = float(instance)
        except ValueError:
            number = None
        if number is not None:
            fix = M.WRONG_TYPE_UNQUOTE_FIX.format(value=instance.strip())
    elif "string" in kinds and isinstance(instance, (int, float, bool)):
        text = json.dumps(instance)
        fix = M.WRONG_TYPE_QUOTE_FIX.format(value=text)
    elif "boolean" in kinds and isinstance(instance, str) and instance.lower() in ("yes", "no", "on", "off", "y", "n"):
        fix = "write true or false (yes/no/on/off are strings in YAML 1.2)"
    return message, fix
