"""Files of items for the command line: JSON lines or CSV, from a path or standard input.

JSON lines hold one wire-format item per line. A line of a ``--failed-out`` file
(``{"line": ..., "reason": ..., "item": {...}}``) is read as its ``item``, so a fixed file
can be sent again as it is. CSV has a header row: ``userId``, ``sessionNumber``, optionally
``enrichmentNumber``, then the schema's field names; each cell is typed by its field, and an
empty cell leaves the field out.

What is refused, line by line (a ``BadLine``, the lines after it still read): a line longer
than ``MAX_LINE_BYTES`` (skipped up to its newline, never held whole), bytes that are not
UTF-8, JSON nested deeper than ``MAX_NESTING``, an object with a key twice (no value is
chosen for the user), a lone surrogate escape such as ``"\\ud800"`` (text that cannot be
encoded as UTF-8 cannot be sent), a CSV cell longer than ``MAX_CELL_CHARS`` or a CSV record
longer than ``MAX_RECORD_CHARS``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import select
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final, Literal

from .versions import FieldType, IntegrationVersion

Format = Literal["jsonl", "csv"]
ENVELOPE_COLUMNS = ("userId", "sessionNumber", "enrichmentNumber")
# ASCII digits only: int() would read "١٢" as 12, which no JSON line can say.
_INT = re.compile(r"[+-]?\d+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_TRUE = frozenset({"true", "1", "yes"})
_BOOLS = _TRUE | {"false", "0", "no"}

MAX_LINE_BYTES = 1 << 20
"""The longest line read (1 MiB, its newline aside); a longer one is a ``BadLine``."""
MAX_NESTING = 32
"""The deepest JSON nesting read; an item is 2 levels deep, a ``--failed-out`` line 3."""
MAX_CELL_CHARS = 65_536
"""The longest CSV cell read, below the csv module's own limit (131,072 by default)."""
MAX_RECORD_CHARS = 1 << 20
"""The longest CSV record read, when quoted cells spread it over several lines."""
_KEPT_CHARS = 200
"""What a ``BadLine`` keeps of a line too long to hold."""
_SKIP_BYTES = 1 << 16
_SKIP_PAUSE_BYTES = 1 << 24
"""Skipping a line too long to keep, a pausing ``ItemFile`` gives ``QUIET`` once per this
many bytes even from a file that is no pipe (``/dev/zero`` is one endless line), so that
a send can see Ctrl-C."""
_BYTE_ORDER_MARK = b"\xef\xbb\xbf"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class FileError(Exception):
    """The file as a whole cannot be read: it does not exist, or its CSV header is wrong."""


class _Quiet:
    """What a pipe gives when nothing more has come for a while (see ``PipeLines``)."""

    def __repr__(self) -> str:
        return "QUIET"


QUIET: Final = _Quiet()
"""An entry of ``ItemFile`` (with line 0) when the pipe it reads has been quiet for
``pause_after`` seconds: the items before it may go now, more may come."""


class _NothingYet(Exception):
    """Raised by ``PipeLines.readline``: no whole line came in time (none is lost)."""


class PipeLines:
    """The lines of a pipe (or a terminal), read with a bound on the wait: ``readline``
    raises ``_NothingYet`` when no whole line has come for ``quiet`` seconds, and also
    once ``quiet`` seconds have passed since the first line given after the last time it
    raised (a pipe that never goes quiet still has its lines sent at least that often).
    What came is kept for the next call. POSIX only (``select`` on a pipe).
    """

    def __init__(
        self,
        descriptor: int,
        quiet: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._descriptor = descriptor
        self._quiet = quiet
        self._clock = clock
        self._buffer = bytearray()
        self._start = 0  # what is before it in the buffer was given out
        self._scanned = 0  # no newline between _start and here
        self._ended = False
        self._giving_since: float | None = None

    def readline(self, limit: int) -> bytes:
        """Up to ``limit`` bytes, to the first newline included; ``b""`` at the end."""
        now = self._clock()
        if self._giving_since is not None and now - self._giving_since >= self._quiet:
            self._giving_since = None
            raise _NothingYet
        deadline = now + self._quiet
        while True:
            stop = self._start + limit
            end = self._buffer.find(b"\n", max(self._start, self._scanned), stop)
            held = len(self._buffer) - self._start
            if end >= 0 or held >= limit or self._ended:
                cut = end + 1 if end >= 0 else self._start + min(limit, held)
                line = bytes(self._buffer[self._start : cut])
                self._start = self._scanned = cut
                if self._start > 1 << 16 and self._start * 2 > len(self._buffer):
                    del self._buffer[: self._start]
                    self._start = self._scanned = 0
                if self._giving_since is None:
                    self._giving_since = now
                return line
            self._scanned = min(len(self._buffer), stop)
            wait = deadline - self._clock()
            ready = wait > 0 and select.select([self._descriptor], [], [], wait)[0]
            if not ready:
                self._giving_since = None
                raise _NothingYet
            chunk = os.read(self._descriptor, 1 << 16)
            if chunk:
                self._buffer += chunk
            else:
                self._ended = True


@dataclass(frozen=True)
class BadLine:
    """A line that holds no item at all (not JSON, not an object, wrong number of cells,
    too long, ...): ``reason`` says why in one sentence, ``text`` is the line as read.
    """

    line: int
    text: str
    reason: str


class _Refusal(Exception):
    """A line that cannot be read as an item; the message is the reason given."""


def _shown(text: str) -> str:
    """``text`` quoted for a message, shortened to a readable length."""
    quoted = repr(text)  # a field name (30 bytes at most) is never shortened
    return quoted if len(quoted) <= 160 else quoted[:156] + "...'"


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object, refused when it holds a key twice: the JSON standard leaves the
    meaning open and the json module keeps the last, silently dropping the other value.
    """
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refusal(
                    f"the key {_shown(key)} appears twice in one object; which value is "
                    "meant cannot be known, so the line is refused"
                )
            seen.add(key)
    return value


def _check_values(value: object) -> None:
    """Refuses nesting deeper than ``MAX_NESTING`` and lone surrogates, without recursion."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= MAX_NESTING:
                raise _Refusal(f"the JSON is nested deeper than {MAX_NESTING} levels")
            children = [*node, *node.values()] if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(node, str):
            surrogate = _LONE_SURROGATE.search(node)
            if surrogate:
                raise _Refusal(
                    f"the line holds a lone surrogate escape "
                    f"(\\u{ord(surrogate.group()):04x}): its text cannot be encoded as "
                    "UTF-8, so it cannot be sent"
                )


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)
"""Made once: ``json.loads`` with a hook would make a decoder for every line."""


def _loads(text: str) -> object:
    """The JSON value of one line, or ``_Refusal`` saying why there is none."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise _Refusal(f"the JSON is nested deeper than {MAX_NESTING} levels") from None
    except ValueError as error:
        raise _Refusal(f"not valid JSON: {error}") from None
    # Most lines cannot be deep or hold a surrogate: they are not walked.
    if text.count("[") + text.count("{") > MAX_NESTING or _SURROGATE_ESCAPE.search(
        text
    ):
        _check_values(value)
    return value


class _RecordTooLong(Exception):
    pass


class _CsvLines:
    """The lines given to the csv module, counted, each record's kept (and bounded)."""

    def __init__(self, lines: Iterator[str | _Quiet]) -> None:
        self._lines = lines
        self.number = 0
        self.record: list[str] = []
        self._chars = 0
        self._replay: list[str] = []
        """The lines of a record begun before a pause, given again after it."""

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        if self._replay:
            return self._replay.pop(0)  # counted and kept when first read
        line = next(self._lines)
        if isinstance(line, _Quiet):
            # Raised through the csv module, which starts the record afresh at the next
            # call: the lines of a record begun are given to it again then.
            self._replay = list(self.record)
            raise _NothingYet
        self.number += 1
        self._chars += len(line)
        if self._chars > MAX_RECORD_CHARS:
            # Raised, not returned: the csv module drops the record and starts afresh.
            raise _RecordTooLong
        self.record.append(line)
        return line

    def next_record(self) -> None:
        self.record = []
        self._chars = 0

    def resume_record(self) -> bool:
        """True after a pause within a record: the record begun goes on (its lines are
        given again), rather than a new one starting."""
        return bool(self._replay)

    def text(self) -> str:
        return "".join(self.record)[:MAX_CELL_CHARS].rstrip("\r\n")


def _cell(kind: FieldType, text: str) -> object:
    """A CSV cell as the value of a field of type ``kind``; text that does not parse is
    kept as it is, so validation reports it against its field."""
    value = text.strip()
    if kind == "INT" and _INT.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # more digits than int() reads (4,300): no INT anyway
            return text
    if kind == "FLOAT" and _FLOAT.fullmatch(value):
        return float(value)
    if kind == "BOOL" and value.lower() in _BOOLS:
        return value.lower() in _TRUE
    if kind == "DATETIME":
        return value
    return text


_CELL_TOO_LONG = (
    f"a cell is longer than {MAX_CELL_CHARS:,} characters, the most a cell may hold"
)


def _csv_reason(error: Exception) -> str:
    """A csv module error (or an over-long record) as a reason."""
    if isinstance(error, _RecordTooLong):
        return (
            f"the CSV record is longer than {MAX_RECORD_CHARS:,} characters (is a quote "
            "left open?)"
        )
    if "field limit" in str(error):
        return _CELL_TOO_LONG
    return f"not valid CSV: {error}"


def _json_entry(number: int, line: str) -> object:
    """The item of one JSON line, or a ``BadLine``.

    A line of a ``--failed-out`` file is read as its ``item``; when that is a string, the
    line that held no item when it failed, that string is read as the line (it may have
    been fixed since), so a line still bad is written out again as it was, never nested.
    """
    try:
        item = _loads(line)
        while isinstance(item, dict) and "item" in item and "userId" not in item:
            item = item["item"]
            if isinstance(item, str):
                line = item  # always shorter than the line holding it: this ends
                item = _loads(line)
    except _Refusal as refusal:
        return BadLine(number, line, str(refusal))
    if not isinstance(item, dict):
        return BadLine(number, line, "an item is a JSON object")
    return item


class ItemFile:
    """The items of one file, read lazily, each with its line number (from 1).

    ``bytes_read`` and ``size`` (None for a pipe) let a caller show progress;
    ``entries_read`` counts what iterating gave (items and ``BadLine``s): 0 once the file
    has been read through means it holds no items (it is empty, or all blank lines).
    """

    def __init__(
        self,
        path: str,
        stream: BinaryIO,
        file_format: Format | None,
        version: IntegrationVersion,
        pause_after: float | None = None,
    ) -> None:
        self.path = path
        self.version = version
        self._stream = stream
        self._reader: BinaryIO | PipeLines = stream
        self._pauses = pause_after is not None
        self.size: int | None = None
        try:
            if stream.seekable():
                self.size = os.fstat(stream.fileno()).st_size
            elif pause_after is not None and os.name == "posix":
                # A pipe: what comes is given on when it stops coming for a while
                # (QUIET entries), not only when a chunk of items is full.
                self._reader = PipeLines(stream.fileno(), pause_after)
        except (OSError, ValueError):
            pass
        self.bytes_read = 0
        self.entries_read = 0
        self._refused: dict[int, BadLine] = {}  # lines read but not held, by number
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
        pause_after: float | None = None,
    ) -> ItemFile:
        """The items of ``path`` (``-``: ``stdin``), typed by the fields of ``version``.
        ``pause_after``: the file being a pipe (standard input, or a named pipe), a
        ``QUIET`` entry comes when nothing more has come for that many seconds; and from
        any file, while a line too long to keep is skipped (see ``_SKIP_PAUSE_BYTES``).
        """
        if path == "-":
            return cls("<stdin>", stdin, file_format, version, pause_after)
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
        return cls(path, stream, file_format, version, pause_after)

    def close(self) -> None:
        if self.path != "<stdin>":
            self._stream.close()

    def _readline(self, limit: int) -> bytes | _Quiet:
        try:
            return self._reader.readline(limit)
        except _NothingYet:
            return QUIET

    def _decoded_lines(self) -> Iterator[str | _Quiet]:
        """Every line as text. A line too long or not UTF-8 is noted in ``_refused``; one
        too long is given as a blank line and skipped without being held. ``QUIET`` when
        a pipe has been quiet for a while."""
        number = 0
        while raw := self._readline(MAX_LINE_BYTES + 1):
            if isinstance(raw, _Quiet):
                yield raw
                continue
            number += 1
            self.bytes_read += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                self._refused[number] = BadLine(
                    number,
                    raw[:_KEPT_CHARS].decode("utf-8", "replace"),
                    f"the line is longer than {MAX_LINE_BYTES:,} bytes (1 MiB), the most "
                    "a line may hold: it was skipped",
                )
                yield "\n"
                yield from self._skip_line()
                continue
            if number == 1 and raw.startswith(_BYTE_ORDER_MARK):
                raw = raw[3:]  # the byte order mark spreadsheets write
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", "replace")
                self._refused[number] = BadLine(
                    number, text, "the line is not valid UTF-8"
                )
                yield text

    def _skip_line(self) -> Iterator[_Quiet]:
        """Reads on to the next newline (or the end), a bounded chunk at a time (``QUIET``
        while the rest of the line is still to come, and, pausing, once per
        ``_SKIP_PAUSE_BYTES`` skipped)."""
        skipped = 0
        while chunk := self._readline(_SKIP_BYTES):
            if isinstance(chunk, _Quiet):
                yield chunk
                continue
            self.bytes_read += len(chunk)
            if chunk.endswith(b"\n"):
                return
            skipped += len(chunk)
            if self._pauses and skipped >= _SKIP_PAUSE_BYTES:
                skipped = 0
                yield QUIET

    def _guess_format(self) -> Format:
        number = 0
        for line in self._lines:
            if isinstance(line, _Quiet):
                continue  # the first line is still to come
            number += 1
            self._lookahead.append(line)
            if line.strip() and number not in self._refused:
                return "jsonl" if line.lstrip().startswith("{") else "csv"
        return "jsonl"

    def _all_lines(self) -> Iterator[str | _Quiet]:
        yield from self._lookahead
        self._lookahead = []
        yield from self._lines

    def _take_refused(self, first: int, last: int) -> BadLine | None:
        """The first refused line from ``first`` to ``last``, forgetting them all."""
        refused = [self._refused.pop(n, None) for n in range(first, last + 1)]
        return next((line for line in refused if line is not None), None)

    def __iter__(self) -> Iterator[tuple[int, object]]:
        """``(line number, item or BadLine)`` for every item of the file."""
        entries = self._csv_items() if self.format == "csv" else self._json_items()
        for entry in entries:
            if entry[1] is not QUIET:
                self.entries_read += 1
            yield entry

    def _json_items(self) -> Iterator[tuple[int, object]]:
        number = 0
        for line in self._all_lines():
            if isinstance(line, _Quiet):
                yield 0, QUIET
                continue
            number += 1
            refused = self._refused.pop(number, None)
            if refused is not None:
                yield number, refused
            elif line.strip():
                yield number, _json_entry(number, line)

    def _csv_items(self) -> Iterator[tuple[int, object]]:
        lines = _CsvLines(self._all_lines())
        reader = csv.reader(lines)
        header: list[str] = []
        while not any(cell.strip() for cell in header):  # blank lines before it
            if not lines.resume_record():
                lines.next_record()
            try:
                header = next(reader)
            except StopIteration:
                return
            except _NothingYet:
                yield 0, QUIET  # the header is still to come
                continue
            except (csv.Error, _RecordTooLong) as error:
                raise FileError(
                    f"{self.path}: the CSV header cannot be read: {_csv_reason(error)}"
                ) from None
        refused = self._take_refused(1, lines.number)
        if refused is not None:
            raise FileError(f"{self.path}: line {refused.line}: {refused.reason}")
        columns = self._check_header(header)
        first_line = lines.number + 1
        while True:
            if not lines.resume_record():
                first_line = lines.number + 1
                lines.next_record()
            try:
                row = next(reader)
            except StopIteration:
                return
            except _NothingYet:
                yield 0, QUIET
                continue
            except (csv.Error, _RecordTooLong) as error:
                self._take_refused(first_line, lines.number)
                yield first_line, BadLine(first_line, lines.text(), _csv_reason(error))
                continue
            refused = self._take_refused(first_line, lines.number)
            text = ",".join(row)
            if refused is not None:
                yield first_line, BadLine(first_line, refused.text, refused.reason)
            elif not any(cell.strip() for cell in row):
                continue
            elif len(row) != len(columns):
                yield first_line, BadLine(
                    first_line,
                    text,
                    f"{len(row)} cells, the header has {len(columns)}",
                )
            elif any(len(cell) > MAX_CELL_CHARS for cell in row):
                yield first_line, BadLine(first_line, lines.text(), _CELL_TOO_LONG)
            else:
                yield first_line, self._csv_item(columns, row)

    def _check_header(self, columns: list[str]) -> list[str]:
        field_types = self.version.field_types
        known = set(ENVELOPE_COLUMNS) | set(field_types)
        unknown = [name for name in columns if name not in known]
        if unknown:
            raise FileError(
                f"{self.path}: unknown column {_shown(unknown[0])}; the columns are "
                "userId, sessionNumber, enrichmentNumber (optional), then the fields "
                + ", ".join(repr(name) for name in field_types)
            )
        counts = Counter(columns)
        duplicated = sorted(name for name, count in counts.items() if count > 1)
        if duplicated:
            raise FileError(
                f"{self.path}: the column {_shown(duplicated[0])} appears twice"
            )
        required = ["userId", "sessionNumber"] + [
            name for name in field_types if name not in self.version.optional_fields
        ]
        missing = [name for name in required if name not in counts]
        if missing:
            raise FileError(
                f"{self.path}: the CSV header has no column "
                + ", ".join(map(_shown, missing))
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
