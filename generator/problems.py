"""A problem found in a schema file, as the user sees it: one line, naming where and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    pointer: str | None = None  # JSON pointer into the document
    line: int | None = None  # for JSON syntax errors
    column: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}:{self.column}: {self.message}"
        return f"{self.path}: {self.pointer or '/'}: {self.message}"


class SchemaError(Exception):
    """A schema file that cannot be used; carries every problem found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems
