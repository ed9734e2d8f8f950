"""The file reader against hostile files: what it refuses, line by line, and its bounds.

Every hostile file is data here, read from memory or a pipe; nothing is sent.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ..integration import FIELD_TYPES, INTEGRATION_VERSION, VERSIONS
from ..item_files import (
    MAX_CELL_CHARS,
    MAX_LINE_BYTES,
    MAX_NESTING,
    BadLine,
    FileError,
    Format,
    ItemFile,
)
from .test_command_line import item, run
from .test_models import VALID_WIRE

VERSION = VERSIONS[INTEGRATION_VERSION]
FIRST_FIELD = next(iter(FIELD_TYPES))


def line(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


def entries(data: bytes, file_format: Format | None = "jsonl") -> list[Any]:
    return list(ItemFile("items", io.BytesIO(data), file_format, VERSION))


def bad(entry: Any) -> BadLine:
    assert isinstance(entry[1], BadLine), entry
    return entry[1]


def csv_bytes(*rows: list[str]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


HEADER = ["userId", "sessionNumber", "enrichmentNumber", *VALID_WIRE]
FIRST_ROW = csv_bytes(HEADER).count(b"\n") + 1
"""The line of the first row: a field name may hold a line break."""


def csv_row(user: str) -> list[str]:
    cells = [
        str(value).lower() if isinstance(value, bool) else str(value)
        for value in VALID_WIRE.values()
    ]
    return [user, "3", "1", *cells]


# Nesting


def test_a_deeply_nested_line_is_a_bad_line_and_the_lines_after_it_are_read() -> None:
    read = entries(b"[" * 100_000 + b"\n" + b'{"a":' * 50_000 + b"\n" + line(item("a")))
    assert [number for number, _ in read] == [1, 2, 3]
    for entry in read[:2]:
        assert (
            bad(entry).reason == f"the JSON is nested deeper than {MAX_NESTING} levels"
        )
    assert read[2] == (3, item("a"))


def test_nesting_is_refused_past_its_cap_below_the_recursion_limit() -> None:
    def nested(levels: int) -> dict[str, Any]:
        value: Any = 1
        for _ in range(levels - 2):
            value = [value]
        return {**item("a"), "enrichment": {FIRST_FIELD: value}}

    at_cap, past_cap = entries(
        line(nested(MAX_NESTING)) + line(nested(MAX_NESTING + 1))
    )
    assert at_cap[1] == nested(MAX_NESTING)  # validation will reject the list
    assert "nested deeper than" in bad(past_cap).reason


# CSV cells and records


def test_a_csv_cell_over_the_csv_modules_limit_is_a_bad_line() -> None:
    huge = csv_row("big")
    huge[-1] = "x" * 200_000  # over csv.field_size_limit(): _csv.Error before
    long = csv_row("long")
    long[-1] = "y" * (MAX_CELL_CHARS + 1)  # under the csv module's limit, over ours
    read = entries(csv_bytes(HEADER, huge, long, csv_row("ok")), "csv")
    assert [number for number, _ in read] == [FIRST_ROW, FIRST_ROW + 1, FIRST_ROW + 2]
    for entry in read[:2]:
        assert bad(entry).reason == (
            f"a cell is longer than {MAX_CELL_CHARS:,} characters, the most a cell may hold"
        )
    assert not isinstance(read[2][1], BadLine)
    assert read[2][1]["userId"] == "ok"


def test_an_int_cell_int_cannot_read_stays_text_for_validation_to_refuse() -> None:
    """More digits than int() reads (4,300), or digits that are not ASCII ("١٢", which
    int() reads as 12 and no JSON line can say): the cell is kept as text, never an
    exception, and the item is refused by its field's rule."""
    rows = []
    for value in ("9" * 5000, "\u0661\u0662"):
        row = csv_row("u")
        row[1] = value  # sessionNumber
        rows.append(row)
    read = entries(csv_bytes(HEADER, *rows, csv_row("ok")), "csv")
    assert [entry[1]["sessionNumber"] for entry in read[:2]] == [
        "9" * 5000,
        "\u0661\u0662",
    ]
    assert read[2][1]["sessionNumber"] == 3


def test_a_csv_header_cell_over_the_limit_is_a_file_error() -> None:
    with pytest.raises(
        FileError, match="the CSV header cannot be read: a cell is longer"
    ):
        entries(csv_bytes([*HEADER, "x" * 200_000]), "csv")


def test_an_unclosed_quote_spreading_over_the_file_is_bounded() -> None:
    # One quoted cell spread over many short lines: refused once over the cap.
    data = csv_bytes(HEADER) + b'u,3,1,"' + b"a,\n" * 400_000 + csv_bytes(csv_row("ok"))
    read = entries(data, "csv")
    assert "a cell is longer than" in bad(read[0]).reason
    assert len(bad(read[0]).text) <= MAX_CELL_CHARS


def test_a_csv_record_of_many_multi_line_cells_is_bounded() -> None:
    # Quoted cells holding line breaks: one record of 1.2 million characters.
    data = csv_bytes(HEADER) + b'"\n",' * 300_000 + b"\n"
    read = entries(data, "csv")
    assert bad(read[0]).reason == (
        "the CSV record is longer than 1,048,576 characters (is a quote left open?)"
    )
    # Read on, line by line, to the end (the rest of the record as rows of their own).
    assert read[-1][0] == FIRST_ROW + 300_000
    assert all(len(bad(entry).text) < 10 for entry in read[1:])


def test_a_carriage_return_inside_a_csv_cell_is_a_bad_line() -> None:
    read = entries(csv_bytes(HEADER) + b"u,3\r1\n" + csv_bytes(csv_row("ok")), "csv")
    assert bad(read[0]).reason.startswith("not valid CSV: new-line character")
    assert read[1][1]["userId"] == "ok"


# Lone surrogates


def test_a_lone_surrogate_escape_is_a_bad_line_saying_so() -> None:
    lone = dict(item("a"), userId="\ud800")
    pair = dict(item("b"), userId="\U0001f600")  # written as a surrogate pair: fine
    key = {**item("c"), "enrichment": {**VALID_WIRE, "\udfff": 1}}
    first, second, third = entries(line(lone) + line(pair) + line(key))
    assert bad(first).reason == (
        "the line holds a lone surrogate escape (\\ud800): its text cannot be encoded "
        "as UTF-8, so it cannot be sent"
    )
    assert bad(first).text.encode("utf-8")  # the line as read, which encodes
    assert second[1] == pair
    assert "(\\udfff)" in bad(third).reason


def test_a_lone_surrogate_line_is_written_to_failed_out_and_read_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(line(dict(item("a"), userId="\ud800")) + line(item("b")))
    failed = tmp_path / "failed.jsonl"
    assert run("validate", str(path), "--failed-out", str(failed)) == 1
    assert (
        "line 1: rejected: the line holds a lone surrogate" in capsys.readouterr().out
    )
    written = json.loads(failed.read_text(encoding="utf-8"))
    assert written["item"] == path.read_text().splitlines()[0]
    again = tmp_path / "again.jsonl"
    assert run("validate", str(failed), "--failed-out", str(again)) == 1
    assert again.read_text(encoding="utf-8") == failed.read_text(encoding="utf-8")


# Lines without end


class ZeroStream(io.RawIOBase):
    """``size`` zero bytes and no newline (a bounded /dev/zero), then ``tail``."""

    def __init__(self, size: int, tail: bytes = b"") -> None:
        self.left = size
        self.tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left:
            count = min(self.left, len(buffer))
            buffer[:count] = bytes(count)
            self.left -= count
            return count
        count = min(len(self.tail), len(buffer))
        buffer[:count] = self.tail[:count]
        self.tail = self.tail[count:]
        return count


def test_a_stream_with_no_newline_is_read_with_bounded_memory() -> None:
    size = 24 * MAX_LINE_BYTES
    stream = ZeroStream(size, b"\n" + line(item("after")))
    items = ItemFile("<stdin>", io.BufferedReader(stream), None, VERSION)
    tracemalloc.start()
    try:
        read = list(items)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 * MAX_LINE_BYTES  # the whole line would be 24 MiB, twice over
    assert bad(read[0]).reason == (
        f"the line is longer than {MAX_LINE_BYTES:,} bytes (1 MiB), the most a line may "
        "hold: it was skipped"
    )
    assert len(bad(read[0]).text) <= 200
    assert read[1] == (2, item("after"))
    assert items.bytes_read == size + 1 + len(line(item("after")))


def test_a_line_of_exactly_the_cap_is_read() -> None:
    padded = json.dumps(item("a")).encode()
    padded += b" " * (MAX_LINE_BYTES - len(padded))
    read = entries(padded + b"\n" + padded + b" \n")
    assert read[0] == (1, item("a"))
    assert "longer than" in bad(read[1]).reason


def pipe_of(data: Iterator[bytes]) -> BinaryIO:
    """The reading end of a pipe that a thread fills with ``data``."""
    read_end, write_end = os.pipe()

    def fill() -> None:
        with open(write_end, "wb") as pipe:
            for chunk in data:
                pipe.write(chunk)

    threading.Thread(target=fill, daemon=True).start()
    return open(read_end, "rb")


def test_standard_input_with_no_newline_is_rejected_and_read_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    zeros = [bytes(1 << 16)] * 64  # 4 MiB of /dev/zero, then an item
    with pipe_of(iter([*zeros, b"\n", line(item("after"))])) as pipe:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(pipe))
        assert run("validate", "-") == 1
    out = capsys.readouterr().out
    assert "line 1: rejected: the line is longer than 1,048,576 bytes" in out
    assert "<stdin>: 1 valid, 1 invalid" in out


# Duplicate keys


def obj(*members: str) -> str:
    """A JSON object written by hand from its members, so a key can appear twice."""
    return "{" + ", ".join(members) + "}"


def test_duplicate_keys_are_refused_at_any_depth() -> None:
    wire = json.dumps(VALID_WIRE)[1:-1]
    field = json.dumps(FIRST_FIELD)
    lines = [
        obj(
            '"userId": "a"',
            '"userId": "b"',
            '"sessionNumber": 3',
            f'"enrichment": {{{wire}}}',
        ),
        obj(
            '"userId": "a"',
            '"sessionNumber": 3',
            f'"enrichment": {obj(field + ": 1", wire)}',
        ),
        obj(
            '"item": '
            + obj('"userId": "a"', '"sessionNumber": 3', '"sessionNumber": 4')
        ),
    ]
    read = entries("".join(text + "\n" for text in lines).encode())
    named = ["'userId'", repr(FIRST_FIELD), "'sessionNumber'"]
    for entry, name, text in zip(read, named, lines, strict=True):
        assert bad(entry).reason == (
            f"the key {name} appears twice in one object; which value is meant cannot "
            "be known, so the line is refused"
        )
        assert bad(entry).text == text + "\n"


def test_the_issues_duplicate_key_is_rejected_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # {"call_duration": "x", "call_duration": 5}: the last value alone would pass.
    path = tmp_path / "items.jsonl"
    field = json.dumps(FIRST_FIELD)
    enrichment = obj(field + ': "x"', json.dumps(VALID_WIRE)[1:-1])
    path.write_text(
        obj('"userId": "a"', '"sessionNumber": 3', f'"enrichment": {enrichment}')
        + "\n",
        encoding="utf-8",
    )
    assert run("validate", str(path)) == 1
    out = capsys.readouterr().out
    assert f"line 1: rejected: the key {FIRST_FIELD!r} appears twice" in out


# CSV header


def test_duplicate_columns_among_40000_are_named() -> None:
    wide = [
        "userId",
        "sessionNumber",
        *VALID_WIRE,
        *["userId"] * 40_000,
        "sessionNumber",
    ]
    with pytest.raises(
        FileError, match="^items: the column 'sessionNumber' appears twice$"
    ):
        entries(csv_bytes(wide), "csv")


def test_missing_columns_are_named_quoted_on_one_line() -> None:
    # A field's name may hold any character, a line break included (the schema allows it).
    with pytest.raises(FileError) as raised:
        entries(csv_bytes(["userId"]), "csv")
    message = str(raised.value)
    assert message.startswith("items: the CSV header has no column 'sessionNumber'")
    assert "\n" not in message


def test_a_header_line_that_is_not_utf8_is_a_file_error() -> None:
    with pytest.raises(FileError, match="^items: line 1: the line is not valid UTF-8$"):
        entries(b"userId,sessionNumber\xff\nu,3\n", "csv")


# --failed-out lines read back


def failed_out_line(raw: str) -> bytes:
    return line({"line": 7, "outcome": "rejected", "reason": "r", "item": raw})


def test_a_failed_out_line_holding_a_raw_line_is_that_line_read_again() -> None:
    fixed = json.dumps(item("fixed"))
    read = entries(
        failed_out_line(fixed) + failed_out_line("{not json") + failed_out_line("[1]")
    )
    assert read[0] == (1, item("fixed"))
    assert bad(read[1]).text == "{not json"
    assert bad(read[1]).reason.startswith("not valid JSON: Expecting property name")
    assert bad(read[2]) == BadLine(3, "[1]", "an item is a JSON object")


def test_a_line_still_bad_is_written_back_as_it_was_never_nested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text("{not json\n" + json.dumps(item("a")) + "\n", encoding="utf-8")
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert run("validate", str(path), "--failed-out", str(first)) == 1
    assert run("validate", str(first), "--failed-out", str(second)) == 1
    capsys.readouterr()
    assert json.loads(first.read_text())["item"] == "{not json"
    assert first.read_text() == second.read_text()
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_bytes(failed_out_line(json.dumps(item("a"))))
    assert run("validate", str(fixed)) == 0


# Empty files


@pytest.mark.parametrize("file_format", ["jsonl", "csv", None])
@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf\n"])
def test_an_empty_file_holds_no_entries(
    data: bytes, file_format: Format | None
) -> None:
    items = ItemFile("items", io.BytesIO(data), file_format, VERSION)
    assert list(items) == []
    assert items.entries_read == 0


def test_validate_says_an_empty_file_holds_no_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n\n")
    assert run("validate", str(path)) == 1
    assert f"{path} holds no items" in capsys.readouterr().err


# Fuzzing


def check_entries(data: bytes, file_format: Format | None) -> None:
    """Every entry is an item or a BadLine; only a CSV header may end the file early."""
    items = ItemFile("items", io.BytesIO(data), file_format, VERSION)
    try:
        for number, entry in items:
            assert isinstance(number, int) and number >= 1
            assert isinstance(entry, dict | BadLine)
            if isinstance(entry, BadLine):
                assert entry.reason and "\n" not in entry.reason
    except FileError as error:
        assert items.format == "csv", error
        assert "\n" not in str(error)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec=None, exclude_categories=())),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["userId", "item", FIRST_FIELD, "\ud800"]), children
    ),
    max_leaves=20,
)
FORMATS = st.sampled_from(["jsonl", "csv", None])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2_000), FORMATS)
def test_random_bytes_never_raise_anything_else(data: bytes, file_format: Any) -> None:
    check_entries(data, file_format)


@settings(max_examples=300, deadline=None)
@given(st.lists(JSON_VALUES, max_size=5), FORMATS, st.booleans())
def test_random_json_never_raises_anything_else(
    values: list[Any], file_format: Any, as_failed_out: bool
) -> None:
    if as_failed_out:
        values = [{"item": json.dumps(value)} for value in values]
    check_entries(b"".join(line(value) for value in values), file_format)


# A pipe that goes quiet (send -)

posix_only = pytest.mark.skipif(os.name != "posix", reason="select on a pipe is POSIX")


@contextlib.contextmanager
def watchdog() -> Iterator[None]:
    """A read that would wait for ever fails the test after 20 s instead."""

    def hung(*_: object) -> None:
        raise TimeoutError("the read waited for ever")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 20)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def pipe() -> Iterator[tuple[BinaryIO, int]]:
    """A pipe's reading end (as a file) and writing end, under a ``watchdog``."""
    reader, writer = os.pipe()
    try:
        with watchdog(), os.fdopen(reader, "rb") as stream:
            yield stream, writer
    finally:
        try:
            os.close(writer)
        except OSError:
            pass


def until_not_quiet(entries: Iterator[tuple[int, object]]) -> tuple[int, object]:
    from ..item_files import QUIET

    while (entry := next(entries))[1] is QUIET:
        pass
    return entry


def without_quiet(entries: Iterator[tuple[int, object]]) -> list[tuple[int, object]]:
    from ..item_files import QUIET

    return [entry for entry in entries if entry[1] is not QUIET]


@posix_only
def test_a_quiet_pipe_gives_what_came_then_a_quiet_entry_and_reads_on(
    pipe: tuple[BinaryIO, int],
) -> None:
    from ..item_files import QUIET

    stream, writer = pipe
    items = ItemFile("<stdin>", stream, "jsonl", VERSION, pause_after=0.05)
    entries = iter(items)
    # Two whole lines and the start of a third: nothing more comes for a while.
    os.write(writer, line(item("a")) + line(item("b")) + line(item("c"))[:10])
    assert until_not_quiet(entries) == (1, item("a"))
    assert until_not_quiet(entries) == (2, item("b"))
    assert next(entries) == (0, QUIET)  # the third line is not whole: it is kept
    assert next(entries) == (0, QUIET)  # and quiet again
    os.write(writer, line(item("c"))[10:] + b"\n")  # the rest of it, then a blank line
    assert until_not_quiet(entries) == (3, item("c"))
    os.close(writer)
    assert without_quiet(entries) == []
    assert items.entries_read == 3  # quiet entries are not entries of the file


class EndlessLine(io.RawIOBase):
    """A file that is one line with no end (what ``/dev/zero`` is to a line reader)."""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        buffer[:] = b"x" * len(buffer)
        return len(buffer)


def test_skipping_an_endless_line_pauses_a_pausing_file_that_is_no_pipe() -> None:
    """``send /dev/zero``: the line is refused as too long and skipped without being
    kept, and a ``QUIET`` entry comes once per ``_SKIP_PAUSE_BYTES`` skipped, so that the
    send sees Ctrl-C."""
    from ..item_files import _SKIP_PAUSE_BYTES, QUIET

    stream = io.BufferedReader(EndlessLine())
    items = ItemFile("zero", stream, "jsonl", VERSION, pause_after=1.0)
    entries = iter(items)
    assert "longer than" in bad(next(entries)).reason
    for pause in range(1, 4):
        assert next(entries) == (0, QUIET)
        assert items.bytes_read >= pause * _SKIP_PAUSE_BYTES
    assert items.entries_read == 1


@posix_only
def test_a_named_pipe_given_as_the_file_pauses_as_standard_input_does(
    tmp_path: Path,
) -> None:
    """``send FIFO``: a named pipe is read as ``send -`` reads a pipe, what came going
    on when it goes quiet; a regular file never pauses."""
    from ..item_files import QUIET

    fifo = tmp_path / "items.jsonl"
    os.mkfifo(fifo)
    writers: list[int] = []
    # Opening either end of a FIFO waits for the other.
    opening = threading.Thread(
        target=lambda: writers.append(os.open(fifo, os.O_WRONLY))
    )
    opening.start()
    with watchdog():
        items = ItemFile.open(str(fifo), io.BytesIO(), None, VERSION, pause_after=0.05)
        opening.join()
        [writer] = writers
        try:
            entries = iter(items)
            os.write(writer, line(item("a")))
            assert until_not_quiet(entries) == (1, item("a"))
            assert next(entries) == (0, QUIET)
            os.write(writer, line(item("b")))
        finally:
            os.close(writer)
        assert without_quiet(entries) == [(2, item("b"))]
        items.close()
    regular = tmp_path / "regular.jsonl"
    regular.write_bytes(line(item("a")))
    items = ItemFile.open(str(regular), io.BytesIO(), None, VERSION, pause_after=0.05)
    assert list(items) == [(1, item("a"))]
    items.close()


@posix_only
def test_a_pipe_that_never_goes_quiet_still_pauses_once_per_period(
    pipe: tuple[BinaryIO, int],
) -> None:
    """Lines that keep coming are given on at least every ``quiet`` seconds: a pause
    comes once that long has passed since the first line given after the last one."""
    from ..item_files import PipeLines, _NothingYet

    stream, writer = pipe
    now = [0.0]
    lines = PipeLines(stream.fileno(), 1.0, clock=lambda: now[0])
    os.write(writer, b"1\n2\n3\n")
    assert lines.readline(100) == b"1\n"
    now[0] = 0.5
    assert lines.readline(100) == b"2\n"  # half a period since line 1
    now[0] = 1.0
    with pytest.raises(_NothingYet):
        lines.readline(100)  # a period since line 1, with line 3 waiting
    assert lines.readline(100) == b"3\n"  # kept, and a new period starts


@posix_only
def test_a_quiet_pipe_pauses_within_a_csv_record_and_the_record_stays_whole(
    pipe: tuple[BinaryIO, int],
) -> None:
    from ..item_files import QUIET

    stream, writer = pipe
    items = ItemFile("<stdin>", stream, "csv", VERSION, pause_after=0.05)
    entries = iter(items)
    assert next(entries) == (0, QUIET)  # before the header: it is still to come
    os.write(writer, csv_bytes(HEADER, csv_row("a")))
    assert until_not_quiet(entries) == (
        FIRST_ROW,
        items._csv_item(HEADER, csv_row("a")),
    )
    # A record whose quoted first cell spans two lines, the second half late: the read
    # pauses within it, and the csv module still gets the record whole.
    record = csv_bytes(csv_row("b\nsecond line"))
    cut = record.index(b"\n") + 1
    os.write(writer, record[:cut])
    assert next(entries) == (0, QUIET)
    os.write(writer, record[cut:] + csv_bytes(csv_row("c")))
    assert until_not_quiet(entries) == (
        FIRST_ROW + 1,
        items._csv_item(HEADER, csv_row("b\nsecond line")),
    )
    assert until_not_quiet(entries) == (
        FIRST_ROW + 3,
        items._csv_item(HEADER, csv_row("c")),
    )
    os.close(writer)
    assert without_quiet(entries) == []


@posix_only
def test_a_quiet_pipe_pauses_while_a_line_too_long_is_skipped(
    pipe: tuple[BinaryIO, int],
) -> None:
    from ..item_files import QUIET

    stream, writer = pipe
    items = ItemFile("<stdin>", stream, "jsonl", VERSION, pause_after=0.05)
    entries = iter(items)
    feeding = threading.Thread(
        target=os.write, args=(writer, b"x" * (MAX_LINE_BYTES + 9))
    )
    feeding.start()
    assert bad(until_not_quiet(entries)).line == 1
    assert next(entries) == (0, QUIET)  # the rest of line 1 is still to come
    feeding.join()
    os.write(writer, b"yyy\n" + line(item("after")))
    assert until_not_quiet(entries) == (2, item("after"))
