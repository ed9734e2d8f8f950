"""A problem found in a schema file, as the user sees it: one line, naming where and the fix."""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass

# Control characters, line and paragraph separators, invisible format characters (bidi
# overrides and isolates among them) and lone surrogates: none may reach a terminal as it is.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def is_invisible(ch: str) -> bool:
    """True for a character that shows as nothing or changes how the text around it shows."""
    return unicodedata.category(ch) in _INVISIBLE_CATEGORIES


def describe_character(ch: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: a character named so that it can be found."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} ({name})" if name else f"U+{ord(ch):04X}"


def why_unfit_name(name: str) -> str | None:
    """Why a file name cannot be copied into generated code as text, or None when it can.

    Names given on the command line go into every generated file's header and the manifest:
    they must be UTF-8, without control or invisible format characters (a bidi override in a
    comment makes the code read differently from what it is).
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    bad = next((ch for ch in name if is_invisible(ch)), None)
    return None if bad is None else f"holds the character {describe_character(bad)}"


def one_line(text: str) -> str:
    """``text`` with line breaks, control and format characters escaped (``\\r``, ``\\u202e``)."""
    return "".join(ascii(ch)[1:-1] if is_invisible(ch) else ch for ch in text)


def display_path(path: str) -> str:
    """A file name as text: bytes that are not UTF-8 (kept by Python as surrogates) as ``\\xff``."""
    try:
        path = os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeError:
        pass  # not from the file system: one_line escapes what is left
    return one_line(path)


def file_type(mode: int) -> str:
    """What kind of file ``mode`` (``os.stat(...).st_mode``) is, in words: ``a named pipe``."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    pointer: str | None = None  # JSON pointer into the document
    line: int | None = None  # for JSON syntax errors
    column: int | None = None

    def __str__(self) -> str:
        path, message = display_path(self.path), one_line(self.message)
        if self.line is not None:
            return f"{path}:{self.line}:{self.column}: {message}"
        return f"{path}: {one_line(self.pointer or '/')}: {message}"


class SchemaError(Exception):
    """A schema file that cannot be used; carries every problem found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems
