"""The maas-iac exception tree.

Every error maas-iac raises on purpose derives from one root, so a caller (the ``maas`` CLI,
the Pulumi program) tells a user's mistake from a bug with a single ``except MaasError``::

    MaasError                    root; never raised itself
    ├── SpecError                a model spec or stack config is invalid; carries .problems   (exit 2)
    │   └── StackConfigError     ... specifically the stack configuration                      (exit 2)
    ├── SourceError              a model's Git source cannot be resolved or read                (exit 2)
    ├── TopicChangeRefused       a declared topic change would recreate a live topic            (exit 2)
    ├── PromotionError           a promotion cannot be made, or a pinned image is not there     (exit 2)
    ├── SecretsProviderError     a stack has no secrets provider of its own (stack_secrets)     (exit 2)
    ├── EngineFailure            the engine refused a preview for the stack's inputs (report.engine) (exit 2)
    └── InfrastructureError      Docker, the registry or Kafka is unreachable or fails          (exit 3)
        └── RegistryError        ... specifically the container registry                        (exit 3)

Each class has an ``exit_code`` (0 ok, 1 changes or drift when asked, 2 user error,
3 infrastructure error) that the CLI returns. Anything that is *not* a ``MaasError`` is a bug
in maas-iac: the CLI prints one short line and a ``--debug`` hint instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "InfrastructureError",
    "MaasError",
    "PromotionError",
    "RegistryError",
    "SourceError",
    "SpecError",
    "SpecProblem",
    "StackConfigError",
    "TopicChangeRefused",
]


class MaasError(Exception):
    """Root of every error maas-iac raises on purpose; never raised itself."""

    exit_code: int = 2
    """Process exit status the CLI returns for this error."""


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One mistake in one input file, located precisely enough to fix it without searching.

    ``str(problem)`` is ``file:line:col: $.json.path: message`` (``file`` alone when there is
    no position, e.g. an unreadable file).
    """

    file: str | None
    """The file as the user named it, or ``None`` for input that came from no file."""
    line: int | None
    """1-based line of the offending key or value, ``None`` when unknown."""
    col: int | None
    """1-based column of the offending key or value, ``None`` when unknown."""
    json_path: str
    """JSON path of the offending value in the document, e.g. ``$.serving.replicas``."""
    message: str
    """What is wrong, in one sentence."""
    fix: str | None = None
    """How to fix it, when there is something better to say than "fix the value"."""

    @property
    def location(self) -> str:
        """``file:line:col`` (or as much of it as is known)."""
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order by file, then position, then path: the order an editor walks them."""
        return (self.file or "", self.line or 0, self.col or 0, self.json_path, self.message)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON reporters."""
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "jsonPath": self.json_path,
            "message": self.message,
            "fix": self.fix,
        }

    def __str__(self) -> str:
        return f"{self.location}: {self.json_path}: {self.message}"


class SpecError(MaasError):
    """Raised when model specs or a stack config fail loading, schema or cross-spec checks.

    All problems found are collected first and raised together, sorted by file and position,
    so one run shows every mistake.
    """

    exit_code = 2

    def __init__(self, problems: Iterable[SpecProblem]) -> None:
        self.problems: list[SpecProblem] = sorted(problems, key=SpecProblem.sort_key)
        if not self.problems:
            raise ValueError("SpecError needs at least one problem")
        first = self.problems[0]
        more = len(self.problems) - 1
        summary = str(first) + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
        super().__init__(summary)

    def render(self) -> str:
        """Every problem on its own line, each followed by an indented ``fix:`` line."""
        lines: list[str] = []
        for problem in self.problems:
            lines.append(str(problem))
            if problem.fix:
                lines.append(f"    fix: {problem.fix}")
        return "\n".join(lines)


class StackConfigError(SpecError):
    """Raised when a stack configuration (``stacks/Pulumi.<stack>.yaml`` or the mapping the
    Pulumi program passes) is missing keys, has unknown ones or holds invalid values."""


class SourceError(MaasError):
    """Raised when a model's Git repository or ref cannot be resolved, or the model directory
    in it is missing or unreadable."""

    exit_code = 2


class InfrastructureError(MaasError):
    """Raised when a service maas-iac drives (Docker engine, container registry, Kafka) is
    unreachable or refuses an operation for reasons outside the specs."""

    exit_code = 3


class RegistryError(InfrastructureError):
    """Raised when the container registry cannot be asked: down, refusing, or answering with an
    unexpected status."""


class TopicChangeRefused(MaasError):
    """Raised before anything is registered when a declared topic would have to be deleted and
    recreated (fewer partitions, another replication factor) and its spec does not opt in."""

    exit_code = 2


class PromotionError(MaasError):
    """Raised when ``maas promote`` cannot pin a model (the source stack does not deploy it, its
    registry no longer serves the digest), or when a stack's ``maas:promoted`` pin cannot be
    honoured (the registry lacks the tag at the pinned digest, the image is not the pinned one)."""

    exit_code = 2
