"""Reading a schema file: bytes → JSON document, with syntax errors as LINE:COL problems."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.problems import Problem, SchemaError


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


def read_schema_file(path: str) -> SchemaFile:
    """Read and parse ``path``; raise ``SchemaError`` with the reason when it is not JSON."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise SchemaError([Problem(path, f"cannot read the file: {reason}")]) from None
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
        message = f"invalid JSON: {error.msg}"
        raise SchemaError([Problem(path, message, line=error.lineno, column=error.colno)]) from None
    except RecursionError:
        message = "the JSON is nested too deeply to read; a schema is three levels deep"
        raise SchemaError([Problem(path, message)]) from None
    except ValueError:
        # The only other refusal of json: an integer longer than Python converts (4300 digits).
        message = "a number is too long to read (thousands of digits); write a small one"
        raise SchemaError([Problem(path, message)]) from None
    return SchemaFile(path, document, hashlib.sha256(raw).hexdigest())
