"""The spec pipeline: find files → read (YAML with positions) → schema → typed spec → checks.

:func:`validate_paths` runs every stage over every file and returns all results and problems
as plain data (it never raises for bad input); :func:`load_specs` and :func:`load_spec` are
the raising front doors the Pulumi program uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from maas_iac.errors import SpecError, SpecProblem
from maas_iac.spec import messages as M
from maas_iac.spec.build import build_spec
from maas_iac.spec.checks import LoadedSpec, LoadedStack, cross_spec_problems, spec_problems
from maas_iac.spec.model import ModelServiceSpec
from maas_iac.spec.reader import Document, read_bytes, read_file
from maas_iac.spec.schema import MODELSERVICE_SCHEMA, schema_problems
from maas_iac.spec.stack import StackConfig, check_stack_file, stack_name_from_file

__all__ = [
    "DEFAULT_PATHS",
    "ValidationResult",
    "find_files",
    "load_spec",
    "load_specs",
    "parse_spec",
    "parse_spec_document",
    "validate_paths",
]

DEFAULT_PATHS = ("models", "stacks")
"""What ``maas validate`` checks when given no paths (relative to the working directory)."""
_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Everything one validation run found."""

    specs: tuple[ModelServiceSpec, ...]
    """Specs that passed every check of their own file, in file order."""
    stacks: tuple[StackConfig, ...]
    """Stack configs that passed, in file order."""
    problems: tuple[SpecProblem, ...]
    """Every problem, sorted by file and position."""
    spec_files: tuple[str, ...]
    """Model spec files looked at."""
    stack_files: tuple[str, ...]
    """Stack files looked at."""

    @property
    def ok(self) -> bool:
        """No problems at all."""
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise :class:`SpecError` with every problem, if there are any."""
        if self.problems:
            raise SpecError(self.problems)


def find_files(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[str], list[str], list[SpecProblem]]:
    """Split ``paths`` into model spec files and stack files.

    A directory contributes its ``*.yaml``/``*.yml`` files (not recursively, sorted);
    ``Pulumi.<stack>.yaml`` files are stack configs and the project file ``Pulumi.yaml`` is
    skipped. Returns ``(spec_files, stack_files, problems)``; a missing path is a problem.
    """
    specs: list[str] = []
    stacks: list[str] = []
    problems: list[SpecProblem] = []
    for raw in paths:
        name = os.fspath(raw)
        path = Path(name)
        if path.is_dir():
            entries = sorted(
                p for p in path.iterdir() if p.suffix in _SUFFIXES and not p.name.startswith(".") and p.is_file()
            )
            candidates = [str(p) for p in entries]
        elif path.exists() or path.is_symlink():
            candidates = [name]
        else:
            problems.append(SpecProblem(name, None, None, "$", M.FILE_NOT_FOUND, M.FILE_NOT_FOUND_FIX))
            continue
        for candidate in candidates:
            base = Path(candidate).name
            if base in ("Pulumi.yaml", "Pulumi.yml") and path.is_dir():
                continue
            if stack_name_from_file(candidate) is not None:
                stacks.append(candidate)
            else:
                specs.append(candidate)
    return list(dict.fromkeys(specs)), list(dict.fromkeys(stacks)), problems


def _check_document(doc: Document, source_file: Path | None) -> tuple[LoadedSpec | None, list[SpecProblem]]:
    problems = list(doc.problems)
    if doc.data is None:
        return None, problems
    problems += schema_problems(doc, MODELSERVICE_SCHEMA)
    if problems:
        return None, problems
    item = LoadedSpec(doc, build_spec(doc.data, source_file))  # type: ignore[arg-type]
    problems += spec_problems(item)
    return (None if problems else item), problems


def validate_paths(
    paths: Iterable[str | os.PathLike[str]] | None = None, *, stacks: Sequence[StackConfig] = ()
) -> ValidationResult:
    """Validate every spec and stack file under ``paths`` (default :data:`DEFAULT_PATHS`),
    including the cross-file checks, which also take in ``stacks`` (configs read elsewhere,
    e.g. the Pulumi program's own stack). Never raises for bad input."""
    spec_files, stack_files, problems = find_files(DEFAULT_PATHS if paths is None else paths)
    if not spec_files and not stack_files and not problems:
        problems.append(SpecProblem(None, None, None, "$", M.NO_FILES_FOUND, M.NO_FILES_FOUND_FIX))
    loaded: list[LoadedSpec] = []
    for name in spec_files:
        item, found = _check_document(read_file(name), Path(name))
        problems += found
        if item is not None:
            loaded.append(item)
    loaded_stacks: list[LoadedStack] = [LoadedStack(None, config) for config in stacks]
    for name in stack_files:
        config, found, doc = check_stack_file(name)
        problems += found
        if config is not None:
            loaded_stacks.append(LoadedStack(doc, config))
    problems += cross_spec_problems(loaded, loaded_stacks)
    return ValidationResult(
        specs=tuple(item.spec for item in loaded),
        stacks=tuple(s.config for s in loaded_stacks if s.doc is not None),
        problems=tuple(sorted(problems, key=SpecProblem.sort_key)),
        spec_files=tuple(spec_files),
        stack_files=tuple(stack_files),
    )


def load_specs(
    paths: Iterable[str | os.PathLike[str]] | None = None, *, stack: StackConfig | None = None
) -> list[ModelServiceSpec]:
    """Every model spec under ``paths`` (files or directories; default ``models/``), checked
    together with any stack files among them and with ``stack`` (the stack about to be
    deployed: its allowed sources, topic names and port offset). Raises :class:`SpecError`
    listing every problem."""
    result = validate_paths(("models",) if paths is None else paths, stacks=(stack,) if stack else ())
    result.raise_for_problems()
    return list(result.specs)


def load_spec(path: str | os.PathLike[str]) -> ModelServiceSpec:
    """One model spec file, checked on its own. Raises :class:`SpecError`."""
    return parse_spec_document(read_file(path), Path(os.fspath(path)))


def parse_spec(text: str | bytes, *, file: str = "<string>") -> ModelServiceSpec:
    """A model spec from YAML text, checked on its own. Raises :class:`SpecError`."""
    return parse_spec_document(read_bytes(text, file=file), None)


def parse_spec_document(doc: Document, source_file: Path | None) -> ModelServiceSpec:
    """A model spec from a read document; raises :class:`SpecError`."""
    item, problems = _check_document(doc, source_file)
    if item is None or problems:
        raise SpecError(problems)
    problems = cross_spec_problems([item])
    if problems:
        raise SpecError(problems)
    return item.spec
