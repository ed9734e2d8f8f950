"""Reading a schema file: bytes → JSON document, with syntax errors as LINE:COL problems.

A schema file is outside data: only a regular file is opened (opening a named pipe for reading
waits for a writer, for ever; a device such as ``/dev/zero`` never ends), it is read up to
``MAX_SCHEMA_BYTES`` (a real schema is a few kilobytes), nesting too deep for the parser is a
problem like any other, and a file that cannot be opened at all is a usage error (exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from typing import Any

from generator.problems import Problem, SchemaError, file_type, why_unfit_name

MAX_SCHEMA_BYTES = 1024 * 1024


class SchemaArgumentError(SchemaError):
    """The file named on the command line cannot be used at all (missing, a directory, a named
    pipe or a device, a name that is not text): a usage error, unlike a file whose content is
    wrong."""


@dataclass(frozen=True)
class SchemaFile:
    path: str  # as the user named it
    document: Any
    sha256: str


class _DuplicateKeyError(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _check_file_name(path: str) -> None:
    reason = why_unfit_name(path)
    if reason is not None:
        raise SchemaArgumentError(
            [Problem(path, f"the file name {reason}: rename the file (letters, digits, - and _)")]
        )


def _refuse_unless_regular(path: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise SchemaArgumentError([Problem(path, "is a directory: name the schema's JSON file")])
    if not stat.S_ISREG(mode):
        raise SchemaArgumentError(
            [Problem(path, f"is not a regular file ({file_type(mode)}): name the schema's JSON file")]
        )


def _read_bounded(path: str, max_bytes: int) -> bytes:
    try:
        # Looked at before it is opened: opening a named pipe waits for a writer.
        _refuse_unless_regular(path, os.stat(path).st_mode)
        # O_NONBLOCK: should a pipe be put there after the look, opening it does not wait.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SchemaArgumentError(
            [Problem(path, "no such file: check the path (it is relative to the current directory)")]
        ) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SchemaArgumentError([Problem(path, f"cannot read the file: {reason}")]) from None
    try:
        _refuse_unless_regular(path, os.fstat(descriptor).st_mode)
        with os.fdopen(descriptor, "rb") as stream:
            raw = stream.read(max_bytes + 1)
    except SchemaArgumentError:
        os.close(descriptor)
        raise
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SchemaArgumentError([Problem(path, f"cannot read the file: {reason}")]) from None
    if len(raw) > max_bytes:
        raise SchemaError(
            [
                Problem(
                    path,
                    f"the file is larger than {max_bytes // 1024 // 1024} MiB "
                    f"({max_bytes} bytes), the most enrichgen reads; an integration "
                    "schema is a few kilobytes: is this the right file?",
                )
            ]
        )
    return raw


def _syntax_hint(text: str, error: json.JSONDecodeError) -> tuple[int, str]:
    """The offset to point at and the message for a JSON syntax error, with a hint for the
    mistakes people make when writing JSON by hand."""
    found = text[error.pos : error.pos + 1]
    before = text[: error.pos].rstrip()
    if found in ("]", "}") and before.endswith(","):
        return len(before) - 1, f"invalid JSON: a trailing comma before {found!r}: remove the comma"
    if text.startswith(("//", "/*", "#"), error.pos):
        return error.pos, "invalid JSON: JSON has no comments: remove it"
    if found == "'":
        return error.pos, f"invalid JSON: {error.msg}: JSON strings use double quotes"
    return error.pos, f"invalid JSON: {error.msg}"


def read_schema_file(path: str, max_bytes: int = MAX_SCHEMA_BYTES) -> SchemaFile:
    """Read and parse ``path`` (at most ``max_bytes``: a manifest, which embeds its schemas,
    may hold more than one schema file); raise ``SchemaError`` with the reason when it is
    not JSON (``SchemaArgumentError`` when the file itself cannot be used)."""
    _check_file_name(path)
    raw = _read_bounded(path, max_bytes)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SchemaError(
            [Problem(path, f"not UTF-8 text (bad byte at offset {error.start}); save it as UTF-8")]
        ) from None
    try:
        document = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except _DuplicateKeyError as error:
        key = error.args[0]
        quoted = json.dumps(key)
        offset = text.find(quoted, text.find(quoted) + 1)  # the second one is the duplicate
        line, column = _position(text, max(offset, 0))
        message = f"the key {key!r} appears twice in one object; keep only one"
        raise SchemaError([Problem(path, message, line=line, column=column)]) from None
    except json.JSONDecodeError as error:
        offset, message = _syntax_hint(text, error)
        line, column = _position(text, offset)
        raise SchemaError([Problem(path, message, line=line, column=column)]) from None
    except RecursionError:
        # The parser recurses once per level; an integration schema has three.
        message = "the JSON is nested too deeply to read; an integration schema has 3 levels"
        raise SchemaError([Problem(path, message)]) from None
    except ValueError:
        # The only other refusal of json: an integer longer than Python converts (4300 digits).
        message = "a number is too long to read (thousands of digits); write a small one"
        raise SchemaError([Problem(path, message)]) from None
    return SchemaFile(path, document, hashlib.sha256(raw).hexdigest())
