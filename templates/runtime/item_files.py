"""Files of items for the command line: JSON lines or CSV, from a path or standard input.

JSON lines hold one wire-format item per line. A line of a ``--failed-out`` file
(``{"line": ..., "reason": ..., "item": {...}}``) is read as its ``item``, so a fixed file
can be sent again as it is. CSV has a header row: ``userId``, ``sessionNumber``, optionally
``enrichmentNumber``, then the schema's field names; each cell is typed by its field, and an
empty cell leaves the field out.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

from .versions import FieldType, IntegrationVersion

Format = Literal["jsonl", "csv"]
ENVELOPE_COLUMNS = ("userId", "sessionNumber", "enrichmentNumber")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TRUE = frozenset({"true", "1", "yes"})
_BOOLS = _TRUE | {"false", "0", "no"}


class FileError(Exception):
    """The file as a whole cannot be read: it does not exist, or its CSV header is wrong."""


@dataclass(frozen=True)
class BadLine:
    """A line that holds no item at all (not JSON, not an object, wrong number of cells)."""

    line: int
    text: str
    reason: str


def _cell(kind: FieldType, text: str) -> object:
    """A CSV cell as the value of a field of type ``kind``; text that does not parse is
    kept as it is, so validation reports it against its field."""
    value = text.strip()
    if kind == "INT" and _INT.fullmatch(value):
        return int(value)
    if kind == "FLOAT" and _FLOAT.fullmatch(value):
        return float(value)
    if kind == "BOOL" and value.lower() in _BOOLS:
        return value.lower() in _TRUE
    if kind == "DATETIME":
        return value
    return text


class ItemFile:
    """The items of one file, read lazily, each with its line number (from 1).

    ``bytes_read`` and ``size`` (None for a pipe) let a caller show progress.
    """

    def __init__(
        self,
        path: str,
        stream: BinaryIO,
        file_format: Format | None,
        version: IntegrationVersion,
    ) -> None:
        self.path = path
        self.version = version
        self._stream = stream
        self.size: int | None = None
        try:
            if stream.seekable():
                self.size = os.fstat(stream.fileno()).st_size
        except (OSError, ValueError):
            pass
        self.bytes_read = 0
        self._undecodable: set[int] = set()
        self._lines = self._decoded_lines()
        self._lookahead: list[str] = []
        self.format = file_format or self._guess_format()

    @classmethod
    def open(
        cls,
        path: str,
        stdin: BinaryIO,
        file_format: Format | None,
        version: IntegrationVersion,
    ) -> ItemFile:
        """The items of ``path`` (``-``: ``stdin``), typed by the fields of ``version``."""
        if path == "-":
            return cls("<stdin>", stdin, file_format, version)
        try:
            stream = open(path, "rb")  # closed by close()
        except OSError as error:
            raise FileError(f"cannot read {path}: {error.strerror}") from None
        if file_format is None and path.lower().endswith(".csv"):
            file_format = "csv"
        elif file_format is None and path.lower().endswith(
            (".jsonl", ".ndjson", ".json")
        ):
            file_format = "jsonl"
        return cls(path, stream, file_format, version)

    def close(self) -> None:
        if self.path != "<stdin>":
            self._stream.close()

    def _decoded_lines(self) -> Iterator[str]:
        for number, raw in enumerate(self._stream, start=1):
            self.bytes_read += len(raw)
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # the byte order mark spreadsheets write
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self._undecodable.add(number)
                yield raw.decode("utf-8", "replace")

    def _guess_format(self) -> Format:
        for line in self._lines:
            self._lookahead.append(line)
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "csv"
        return "jsonl"

    def _all_lines(self) -> Iterator[str]:
        yield from self._lookahead
        self._lookahead = []
        yield from self._lines

    def __iter__(self) -> Iterator[tuple[int, object]]:
        """``(line number, item or BadLine)`` for every item of the file."""
        if self.format == "csv":
            return self._csv_items()
        return self._json_items()

    def _json_items(self) -> Iterator[tuple[int, object]]:
        for number, line in enumerate(self._all_lines(), start=1):
            if not line.strip():
                continue
            if number in self._undecodable:
                yield number, BadLine(number, line, "the line is not valid UTF-8")
                continue
            try:
                item = json.loads(line)
            except ValueError as error:
                yield number, BadLine(number, line, f"not valid JSON: {error}")
                continue
            if isinstance(item, dict) and "item" in item and "userId" not in item:
                item = item["item"]  # a line of a --failed-out file
            if not isinstance(item, dict):
                yield number, BadLine(number, line, "an item is a JSON object")
                continue
            yield number, item

    def _csv_items(self) -> Iterator[tuple[int, object]]:
        reader = csv.reader(self._all_lines())
        header = next(reader, None)
        if header is None:
            return
        columns = self._check_header(header)
        last_line = reader.line_num
        for row in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            text = ",".join(row)
            if self._undecodable.intersection(range(first_line, last_line + 1)):
                yield first_line, BadLine(
                    first_line, text, "the line is not valid UTF-8"
                )
            elif len(row) != len(columns):
                yield first_line, BadLine(
                    first_line,
                    text,
                    f"{len(row)} cells, the header has {len(columns)}",
                )
            else:
                yield first_line, self._csv_item(columns, row)

    def _check_header(self, columns: list[str]) -> list[str]:
        field_types = self.version.field_types
        known = set(ENVELOPE_COLUMNS) | set(field_types)
        unknown = [name for name in columns if name not in known]
        if unknown:
            raise FileError(
                f"{self.path}: unknown column {unknown[0]!r}; the columns are "
                "userId, sessionNumber, enrichmentNumber (optional), then the fields "
                + ", ".join(repr(name) for name in field_types)
            )
        duplicated = sorted({name for name in columns if columns.count(name) > 1})
        if duplicated:
            raise FileError(f"{self.path}: the column {duplicated[0]!r} appears twice")
        required = ["userId", "sessionNumber"] + [
            name for name in field_types if name not in self.version.optional_fields
        ]
        missing = [name for name in required if name not in columns]
        if missing:
            raise FileError(
                f"{self.path}: the CSV header has no column {', '.join(missing)}"
            )
        return columns

    def _csv_item(self, columns: list[str], row: list[str]) -> dict[str, object]:
        item: dict[str, object] = {}
        enrichment: dict[str, object] = {}
        for name, text in zip(columns, row, strict=True):
            if name == "userId":
                item[name] = text
            elif name in ENVELOPE_COLUMNS:
                if text.strip():
                    item[name] = _cell("INT", text)
            elif text != "":
                enrichment[name] = _cell(self.version.field_types[name], text)
        item["enrichment"] = enrichment
        return item
