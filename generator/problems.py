"""A problem found in a schema file, as the user sees it: one line, naming where and the fix."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\r``, ``\\u2028``)."""
    return "".join(
        ascii(ch)[1:-1] if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in text
    )


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    pointer: str | None = None  # JSON pointer into the document
    line: int | None = None  # for JSON syntax errors
    column: int | None = None

    def __str__(self) -> str:
        path, message = one_line(self.path), one_line(self.message)
        if self.line is not None:
            return f"{path}:{self.line}:{self.column}: {message}"
        return f"{path}: {one_line(self.pointer or '/')}: {message}"


class SchemaError(Exception):
    """A schema file that cannot be used; carries every problem found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems
