"""Read one YAML file into plain data plus the position of every key and value.

Spec files are untrusted input, so the reader accepts a deliberately small, safe subset of
YAML and turns everything else into a located :class:`~maas_iac.errors.SpecProblem`:

* files above :data:`MAX_FILE_BYTES`, non-regular files (a FIFO would block), bytes that are
  not UTF-8;
* more than one document, anchors and aliases (no alias bombs: they are refused at the first
  anchor, never expanded), tags other than the YAML core ones, non-scalar keys, duplicate keys,
  nesting deeper than :data:`MAX_DEPTH`, ``.inf``/``.nan``.

Scalars resolve by the YAML 1.2 core schema (``yes``/``on`` are strings, ``0o17`` is octal).
The document is built from the parser's event stream without recursion, so malformed input
fails fast with a position instead of hanging or exhausting the stack.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field

from ruamel.yaml.main import CParser
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.reader import ReaderError

from maas_iac.errors import SpecProblem
from maas_iac.spec import messages as M
from maas_iac.spec.jsonpath import render_path

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "Document", "DocPath", "read_bytes", "read_file"]

MAX_FILE_BYTES = 256 * 1024
"""Largest spec or stack file accepted, in bytes."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted."""

DocPath = tuple[str | int, ...]
"""A path into the document: mapping keys and list indexes from the root."""
Position = tuple[int, int]

_CORE = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_BOOL_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_MISSING = object()



@dataclass(slots=True)
class Document:
    """One file's data and where each piece of it sits.

    ``data`` is ``None`` when the file could not be read or parsed; ``problems`` then says why.
    Positions are 1-based ``(line, col)``; ``values`` maps a path to where its value starts,
    ``keys`` maps the path of a mapping entry to where its key starts.
    """

    file: str
    data: object = None
    values: dict[DocPath, Position] = field(default_factory=dict)
    keys: dict[DocPath, Position] = field(default_factory=dict)
    problems: list[SpecProblem] = field(default_factory=list)
    reported: set[DocPath] = field(default_factory=set)
    """Paths whose value the reader already reported (refused tag, non-finite number): later
    stages skip problems at or under them instead of repeating the same mistake."""

    def position(self, path: DocPath, *, prefer_key: bool = False) -> Position | None:
        """Where ``path`` sits: its key (for mapping entries when ``prefer_key``) or its value,
        falling back to the nearest ancestor that has a position."""
        while True:
            if prefer_key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return None
            path = path[:-1]

    def problem(
        self,
        path: DocPath,
        message: str,
        fix: str | None = None,
        *,
        prefer_key: bool = False,
        display_path: str | None = None,
    ) -> SpecProblem:
        """A problem located at ``path`` in this document."""
        pos = self.position(path, prefer_key=prefer_key)
        line, col = pos if pos else (None, None)
        return SpecProblem(
            self.file, line, col, display_path or render_path(path), message, fix
        )


def read_file(path: str | os.PathLike[str], *, display: str | None = None) -> Document:
    """Read and parse ``path``; problems are recorded on the returned document, never raised."""
    name = display if display is not None else str(path)
    try:
        # O_NONBLOCK so that opening a FIFO cannot block; anything but a regular file is refused.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return _failed(name, M.FILE_NOT_FOUND, M.FILE_NOT_FOUND_FIX)
    except OSError as exc:
        return _failed(name, M.FILE_UNREADABLE.format(reason=exc.strerror or exc), None)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return _failed(name, M.NOT_A_REGULAR_FILE, M.FILE_NOT_FOUND_FIX)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return _failed(name, M.FILE_UNREADABLE.format(reason=exc.strerror or exc), None)
    finally:
        os.close(fd)
    return read_bytes(raw, file=name)


def read_bytes(raw: bytes | str, *, file: str) -> Document:
    """Parse ``raw`` (bytes or already-decoded text) as one spec document."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE_BYTES:
            return _failed(
                file, M.FILE_TOO_LARGE.format(limit_kib=MAX_FILE_BYTES // 1024), M.FILE_TOO_LARGE_FIX
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            return Document(
                file,
                problems=[
                    SpecProblem(file, line, col, "$", M.NOT_UTF8.format(byte=raw[exc.start]), M.NOT_UTF8_FIX)
                ],
            )
    else:
        text = raw
        if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            return _failed(
                file, M.FILE_TOO_LARGE.format(limit_kib=MAX_FILE_BYTES // 1024), M.FILE_TOO_LARGE_FIX
            )
    if text.startswith("\ufeff"):
        text = text[1:]
    doc = Document(file)
    try:
        _build(text, doc)
    except _Stop:
        doc.data = None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        fix = M.YAML_COLON_IN_FLOW_FIX if "unexpected ':'" in problem else M.YAML_SYNTAX_FIX
        doc.data = None
        doc.problems.append(_at(file, mark, "$", M.YAML_SYNTAX.format(problem=problem), fix))
    except ReaderError as exc:
        line, col = _line_col(text, exc.position)
        doc.data = None
        doc.problems.append(
            SpecProblem(file, line, col, "$", M.YAML_SYNTAX.format(problem=exc.reason), M.YAML_SYNTAX_FIX)
        )
    except (YAMLError, ValueError, UnicodeError) as exc:
        # Other parser failures (the C parser raises ValueError for some malformed input).
        doc.data = None
        doc.problems.append(
            SpecProblem(file, None, None, "$", M.YAML_SYNTAX.format(problem=str(exc).splitlines()[0] if str(exc) else type(exc).__name__), M.YAML_SYNTAX_FIX)
        )
    if doc.data is None and not doc.problems:
        doc.problems.append(SpecProblem(file, 1, 1, "$", M.EMPTY_DOCUMENT, M.EMPTY_DOCUMENT_FIX))
    return doc


class _Stop(Exception):
    """A problem made the rest of the document meaningless; it is already recorded."""


def _failed(file: str, message: str, fix: str | None) -> Document:
    return Document(file, problems=[SpecProblem(file, None, None, "$", message, fix)])


def _line_col(text: str, index: int) -> Position:
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _at(file: str, mark: object, path: str, message: str, fix: str | None) -> SpecProblem:
    line = getattr(mark, "line", None)
    col = getattr(mark, "column", None)
    return SpecProblem(
        file,
        None if line is None else line + 1,
        None if col is None else col + 1,
        path,
        message,
        fix,
    )


def _scalar(ev: ScalarEvent, doc: Document, path: DocPath) -> object:
    """Resolve a scalar event by the YAML 1.2 core schema."""
    value: str = ev.value
    tag = ev.tag
    plain = ev.style in (None, "") and (ev.implicit is None or ev.implicit[0])
    if tag is None or tag == "!":
        if not plain or tag == "!":
            return value
        return _resolve_plain(value, ev, doc, path)
    if tag == _CORE + "str":
        return value
    if tag in (_CORE + "int", _CORE + "float", _CORE + "bool", _CORE + "null"):
        resolved = _resolve_plain(value, ev, doc, path)
        kind = tag[len(_CORE):]
        ok = {
            "int": isinstance(resolved, int) and not isinstance(resolved, bool),
            "float": isinstance(resolved, (int, float)) and not isinstance(resolved, bool),
            "bool": isinstance(resolved, bool),
            "null": resolved is None,
        }[kind]
        if not ok:
            doc.problems.append(
                _at(doc.file, ev.start_mark, render_path(path), M.TAG_MISMATCH.format(value=value, tag=tag), M.TAG_NOT_ALLOWED_FIX)
            )
            doc.reported.add(path)
            return value
        return float(resolved) if kind == "float" else resolved
    doc.problems.append(
        _at(doc.file, ev.start_mark, render_path(path), M.TAG_NOT_ALLOWED.format(tag=tag), M.TAG_NOT_ALLOWED_FIX)
    )
    doc.reported.add(path)
    return value


_MAYBE_NOT_STRING = frozenset("0123456789+-.~tTfFnN")


def _resolve_plain(value: str, ev: ScalarEvent, doc: Document, path: DocPath) -> object:
    if not value:
        return None
    if value[0] not in _MAYBE_NOT_STRING:
        return value
    if _NULL.match(value):
        return None
    if _BOOL_TRUE.match(value):
        return True
    if _BOOL_FALSE.match(value):
        return False
    try:
        if _INT10.match(value):
            return int(value, 10)
        if _INT8.match(value):
            return int(value[2:], 8)
        if _INT16.match(value):
            return int(value[2:], 16)
    except ValueError:  # more digits than Python converts
        return value
    if _FLOAT.match(value) or _INF.match(value) or _NAN.match(value):
        number = float(value.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                       .replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))
        if not math.isfinite(number):
            doc.problems.append(
                _at(doc.file, ev.start_mark, render_path(path), M.NON_FINITE_NUMBER.format(value=value), M.NON_FINITE_NUMBER_FIX)
            )
            doc.reported.add(path)
            return None
        return number
    return value


def _event_source(text: str):  # type: ignore[no-untyped-def]
    """``get_event`` of libyaml's parser (ruamel.yaml.clib), or of ruamel's pure-Python one."""
    if CParser is not None:
        return CParser(text).get_event
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).parse(text).__next__


_KEY_TAGS = frozenset({None, "!", _CORE + "str", _CORE + "int", _CORE + "bool", _CORE + "float", _CORE + "null"})
_MAP_TAGS = frozenset({None, "!", _CORE + "map"})
_SEQ_TAGS = frozenset({None, "!", _CORE + "seq"})


def _build(text: str, doc: Document) -> None:
    """Build ``doc.data`` from the event stream (hot path: kept flat on purpose).

    Each open container is a frame ``[container, path, pending_key, skip]``; ``pending_key``
    is ``_MISSING`` while a mapping waits for its next key, ``_DUPLICATE`` while it reads the
    value of a repeated key, which is parsed but kept nowhere (``skip``).
    """
    file = doc.file
    values = doc.values
    keys = doc.keys
    problems = doc.problems
    stack: list[list] = []
    root: object = _MISSING
    documents = 0
    get_event = _event_source(text)
    while True:
        ev = get_event()
        cls = ev.__class__
        if cls is ScalarEvent or cls is MappingStartEvent or cls is SequenceStartEvent:
            mark = ev.start_mark
            pos = (mark.line + 1, mark.column + 1)
            if stack:
                frame = stack[-1]
                container = frame[0]
                if container.__class__ is dict:
                    pending = frame[2]
                    if pending is _MISSING:
                        # this node is a key
                        path = frame[1]
                        if ev.anchor is not None:
                            problems.append(_at(file, mark, render_path(path), M.ANCHOR_NOT_ALLOWED.format(name=ev.anchor), M.ANCHOR_FIX))
                            raise _Stop
                        if cls is not ScalarEvent:
                            problems.append(_at(file, mark, render_path(path), M.COMPLEX_KEY, M.COMPLEX_KEY_FIX))
                            raise _Stop
                        if ev.tag not in _KEY_TAGS:
                            problems.append(_at(file, mark, render_path(path), M.TAG_NOT_ALLOWED.format(tag=ev.tag), M.TAG_NOT_ALLOWED_FIX))
                        key = ev.value  # keys are always strings: the text as written
                        if frame[3]:
                            frame[2] = key
                            continue
                        key_path = path + (key,)
                        if key in container:
                            first = keys.get(key_path, pos)
                            problems.append(
                                SpecProblem(file, pos[0], pos[1], render_path(key_path),
                                            M.DUPLICATE_KEY.format(key=key, line=first[0]), M.DUPLICATE_KEY_FIX)
                            )
                            frame[2] = _DUPLICATE
                        else:
                            keys[key_path] = pos
                            frame[2] = key
                        continue
                    path = frame[1] + (pending,)
                    skip = frame[3] or pending is _DUPLICATE
                    frame[2] = _MISSING
                else:
                    path = frame[1] + (len(container),)
                    skip = frame[3]
            else:
                path = ()
                skip = False
            if ev.anchor is not None:
                problems.append(_at(file, mark, render_path(path), M.ANCHOR_NOT_ALLOWED.format(name=ev.anchor), M.ANCHOR_FIX))
                raise _Stop
            if cls is ScalarEvent:
                if ev.tag is None and ev.implicit[0] and not ev.style:
                    value: object = _resolve_plain(ev.value, ev, doc, path)
                else:
                    value = _scalar(ev, doc, path)
            else:
                if ev.tag not in (_MAP_TAGS if cls is MappingStartEvent else _SEQ_TAGS):
                    problems.append(_at(file, mark, render_path(path), M.TAG_NOT_ALLOWED.format(tag=ev.tag), M.TAG_NOT_ALLOWED_FIX))
                    doc.reported.add(path)
                if len(stack) >= MAX_DEPTH:
                    problems.append(_at(file, mark, render_path(path), M.NESTING_TOO_DEEP.format(limit=MAX_DEPTH), M.NESTING_TOO_DEEP_FIX))
                    raise _Stop
                value = {} if cls is MappingStartEvent else []
            if not stack:
                root = value
                values[()] = pos
            elif not skip:
                if container.__class__ is dict:
                    container[pending] = value
                else:
                    container.append(value)
                values[path] = pos
            if cls is not ScalarEvent:
                stack.append([value, path, _MISSING, skip])
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            stack.pop()
        elif cls is DocumentStartEvent:
            documents += 1
            if documents > 1:
                problems.append(_at(file, ev.start_mark, "$", M.MULTIPLE_DOCUMENTS, M.MULTIPLE_DOCUMENTS_FIX))
                raise _Stop
        elif cls is AliasEvent:
            path = stack[-1][1] if stack else ()
            problems.append(_at(file, ev.start_mark, render_path(path), M.ALIAS_NOT_ALLOWED.format(name=ev.anchor), M.ANCHOR_FIX))
            raise _Stop
        elif cls is StreamEndEvent:
            break
    doc.data = None if root is _MISSING else root


_DUPLICATE = object()
