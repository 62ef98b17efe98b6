"""A compiled yes/no check for the schemas, so valid documents skip jsonschema entirely.

jsonschema builds a validator object per keyword per value, which costs milliseconds per
spec; most specs are valid, and for those a yes is all that is needed. :func:`compile_schema`
turns a schema into nested closures for exactly the keywords our schemas use, with
jsonschema's semantics (as configured in :mod:`maas_iac.spec.schema`: integers exclude
floats and booleans). Only a document it calls invalid goes through jsonschema, which then
finds and explains the errors.

Any keyword outside the supported set raises :class:`UnsupportedKeyword` at compile time, so
a schema change cannot silently weaken validation. A property test checks that the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import FormatChecker

__all__ = ["Check", "UnsupportedKeyword", "compile_schema"]

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples", "deprecated"}
)


class UnsupportedKeyword(ValueError):
    """The schema uses a keyword the fast check does not implement."""


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda x: isinstance(x, Mapping),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": _is_int,
    "number": _is_number,
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def compile_schema(root: Mapping[str, Any], format_checker: FormatChecker) -> Check:
    """A function telling whether a document is valid against ``root``."""
    cache: dict[str, Check] = {}

    def resolve(ref: str) -> Check:
        if not ref.startswith("#/"):
            raise UnsupportedKeyword(f"$ref {ref!r}")
        if ref not in cache:
            node: Any = root
            for part in ref[2:].split("/"):
                node = node[part]
            cache[ref] = lambda x: True  # placeholder for recursion
            compiled = build(node)
            cache[ref] = compiled
        return cache[ref]

    def build(schema: Any) -> Check:
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ANNOTATIONS or key in ("then", "else", "if"):
                continue
            maker = _KEYWORDS.get(key)
            if maker is None:
                raise UnsupportedKeyword(key)
            checks.append(maker(value, schema, build, resolve, format_checker))
        if "if" in schema:
            cond = build(schema["if"])
            then = build(schema.get("then", True))
            other = build(schema.get("else", True))
            checks.append(lambda x: then(x) if cond(x) else other(x))
        if not checks:
            return lambda x: True
        if len(checks) == 1:
            return checks[0]
        tup = tuple(checks)
        return lambda x: all(c(x) for c in tup)

    return build(root)


def _type(value: Any, *_: Any) -> Check:
    kinds = [value] if isinstance(value, str) else list(value)
    tests = tuple(_TYPES[k] for k in kinds)
    if len(tests) == 1:
        return tests[0]
    return lambda x: any(t(x) for t in tests)


def _properties(value: Mapping[str, Any], schema: Any, build: Any, *_: Any) -> Check:
    props = {name: build(sub) for name, sub in value.items()}

    def check(x: Any) -> bool:
        if not isinstance(x, Mapping):
            return True
        for name, sub in props.items():
            if name in x and not sub(x[name]):
                return False
        return True

    return check


def _additional(value: Any, schema: Any, build: Any, *_: Any) -> Check:
    known = frozenset(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    if patterns:
        raise UnsupportedKeyword("patternProperties")
    if value is False:
        return lambda x: not isinstance(x, Mapping) or known.issuperset(x)
    sub = build(value)
    return lambda x: not isinstance(x, Mapping) or all(sub(v) for k, v in x.items() if k not in known)


def _required(value: list[str], *_: Any) -> Check:
    names = tuple(value)
    return lambda x: not isinstance(x, Mapping) or all(n in x for n in names)


def _enum(value: list[Any], *_: Any) -> Check:
    if not all(isinstance(v, str) for v in value):
        raise UnsupportedKeyword("enum of non-strings")
    allowed = frozenset(value)
    return lambda x: isinstance(x, str) and x in allowed


def _const(value: Any, *_: Any) -> Check:
    if not isinstance(value, str):
        raise UnsupportedKeyword("const of a non-string")
    return lambda x: isinstance(x, str) and x == value


def _bound(op: Callable[[Any, Any], bool]) -> Callable[..., Check]:
    def maker(value: Any, *_: Any) -> Check:
        return lambda x: not _is_number(x) or op(x, value)

    return maker


def _length(op: Callable[[int, int], bool]) -> Callable[..., Check]:
    def maker(value: int, *_: Any) -> Check:
        return lambda x: not isinstance(x, str) or op(len(x), value)

    return maker


def _count(kind: type, op: Callable[[int, int], bool]) -> Callable[..., Check]:
    def maker(value: int, *_: Any) -> Check:
        return lambda x: not isinstance(x, kind) or op(len(x), value)

    return maker


def _items(value: Any, schema: Any, build: Any, *_: Any) -> Check:
    sub = build(value)
    return lambda x: not isinstance(x, list) or all(sub(i) for i in x)


def _unique(value: bool, *_: Any) -> Check:
    if not value:
        return lambda x: True

    def check(x: Any) -> bool:
        if not isinstance(x, list):
            return True
        # Exact for lists of strings or of integers; anything else is left to jsonschema.
        if all(isinstance(i, str) for i in x) or all(_is_int(i) for i in x):
            return len(set(x)) == len(x)
        return False

    return check


def _property_names(value: Any, schema: Any, build: Any, *_: Any) -> Check:
    sub = build(value)
    return lambda x: not isinstance(x, Mapping) or all(sub(k) for k in x)


def _format(value: str, schema: Any, build: Any, resolve: Any, checker: FormatChecker) -> Check:
    return lambda x: checker.conforms(x, value)


def _pattern(value: str, *_: Any) -> Check:
    # jsonschema's semantics: re.search (not a full match), strings only.
    rx = re.compile(value)
    return lambda x: not isinstance(x, str) or rx.search(x) is not None


def _ref(value: str, schema: Any, build: Any, resolve: Any, *_: Any) -> Check:
    holder: list[Check] = []

    def check(x: Any) -> bool:
        if not holder:
            holder.append(resolve(value))
        return holder[0](x)

    return check


def _all_of(value: list[Any], schema: Any, build: Any, *_: Any) -> Check:
    subs = tuple(build(s) for s in value)
    return lambda x: all(s(x) for s in subs)


def _dependent_required(value: Mapping[str, list[str]], *_: Any) -> Check:
    needs = tuple((name, tuple(others)) for name, others in value.items())
    return lambda x: not isinstance(x, Mapping) or all(all(o in x for o in others) for name, others in needs
                                                         if name in x)


def _not(value: Any, schema: Any, build: Any, *_: Any) -> Check:
    sub = build(value)
    return lambda x: not sub(x)


_KEYWORDS: dict[str, Callable[..., Check]] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "enum": _enum,
    "const": _const,
    "minimum": _bound(lambda x, v: x >= v),
    "maximum": _bound(lambda x, v: x <= v),
    "exclusiveMinimum": _bound(lambda x, v: x > v),
    "exclusiveMaximum": _bound(lambda x, v: x < v),
    "minLength": _length(lambda n, v: n >= v),
    "maxLength": _length(lambda n, v: n <= v),
    "minItems": _count(list, lambda n, v: n >= v),
    "maxItems": _count(list, lambda n, v: n <= v),
    "minProperties": _count(Mapping, lambda n, v: n >= v),  # type: ignore[type-abstract]
    "maxProperties": _count(Mapping, lambda n, v: n <= v),  # type: ignore[type-abstract]
    "items": _items,
    "uniqueItems": _unique,
    "propertyNames": _property_names,
    "format": _format,
    "pattern": _pattern,
    "$ref": _ref,
    "allOf": _all_of,
    "dependentRequired": _dependent_required,
    "not": _not,
}
