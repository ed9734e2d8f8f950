"""``python -m <package>``: reading JSON lines and CSV, reporting bad lines, usage errors.

Sending is tested against enrichgen's sandbox by enrichgen's own tests; here nothing is sent.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from ..command_line import main
from ..integration import FIELD_TYPES
from ..report import ItemFailure, SendReport
from .test_models import VALID_WIRE

SECRET = "do-not-print-this-secret"


def item(user: str, **enrichment: Any) -> dict[str, Any]:
    return {
        "userId": user,
        "sessionNumber": 3,
        "enrichmentNumber": 1,
        "enrichment": {**VALID_WIRE, **enrichment},
    }


def run(*arguments: str) -> int:
    try:
        return main(list(arguments))
    except SystemExit as exit_:
        assert isinstance(exit_.code, int)
        return exit_.code


def jsonl(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def csv_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_a_valid_file_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")), "", json.dumps(item("b")))
    assert run("validate", path) == 0
    assert "2 valid, 0 invalid" in capsys.readouterr().out


def test_each_bad_line_is_reported_with_its_number_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first_field = next(iter(FIELD_TYPES))
    bad_value: Any = [] if FIELD_TYPES[first_field] != "STRING" else "x" * 51
    path = jsonl(
        tmp_path,
        json.dumps(item("a")),
        "{not json",
        json.dumps(item("c", **{first_field: bad_value})),
        "[1, 2]",
        json.dumps({**item("e"), "enrichmentNumber": 4}),
    )
    failed_out = tmp_path / "failed.jsonl"
    assert run("validate", path, "--failed-out", str(failed_out)) == 1
    out = capsys.readouterr().out
    assert "line 2: rejected: not valid JSON" in out
    assert f"line 3: rejected: enrichment.{first_field}" in out
    assert "line 4: rejected: an item is a JSON object" in out
    assert "line 5: rejected: enrichmentNumber" in out
    assert "1 valid, 4 invalid" in out
    written = [json.loads(line) for line in failed_out.read_text("utf-8").splitlines()]
    # Written as each outcome is decided: a line with no item at once, an item once its
    # chunk is validated.
    by_line = {entry["line"]: entry for entry in written}
    assert sorted(by_line) == [2, 3, 4, 5] and len(written) == 4
    assert by_line[3]["field"] == first_field
    assert by_line[3]["item"] == item("c", **{first_field: bad_value})


def test_a_fixed_failed_out_file_is_read_as_the_items_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixed = {
        "line": 3,
        "outcome": "rejected",
        "reason": "fixed by hand",
        "item": item("c"),
    }
    path = jsonl(tmp_path, json.dumps(fixed))
    assert run("validate", path) == 0
    assert "1 valid, 0 invalid" in capsys.readouterr().out


def test_csv_cells_are_typed_by_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = list(VALID_WIRE)
    path = tmp_path / "items.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(["userId", "sessionNumber", "enrichmentNumber", *names])
        writer.writerow(
            ["u1", "2", "", *(csv_text(VALID_WIRE[name]) for name in names)]
        )
        writer.writerow(["u2", "3"])
    failed_out = tmp_path / "failed.jsonl"
    assert run("validate", str(path), "--failed-out", str(failed_out)) == 1
    out = capsys.readouterr().out
    text = path.read_bytes().decode("utf-8-sig")  # line breaks as they are
    # A field name may hold a line break: count the newlines before the short row.
    short_line = text.count("\n", 0, text.index("u2,3")) + 1
    assert f"line {short_line}: rejected: 2 cells, the header has" in out
    assert "1 valid, 1 invalid" in out


def test_a_csv_file_with_an_unknown_column_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "items.csv"
    path.write_text("userId,sessionNumber,no_such_field\nu,1,2\n", encoding="utf-8")
    assert run("validate", str(path)) == 2
    assert "unknown column 'no_such_field'" in capsys.readouterr().err


def test_standard_input_is_read_for_a_dash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (json.dumps(item("a")) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert run("validate", "-") == 0
    assert "<stdin>: 1 valid, 0 invalid" in capsys.readouterr().out


def test_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("validate", str(tmp_path / "missing.jsonl")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_send_names_a_missing_file_before_missing_credentials_and_keeps_failed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("CS_CLIENT_ID", "CS_CLIENT_SECRET", "CS_CLIENT_SECRET_FILE"):
        monkeypatch.delenv(variable, raising=False)
    failed_out = tmp_path / "failed.jsonl"
    failed_out.write_text("the last run's failures\n")
    missing = str(tmp_path / "missing.jsonl")
    assert run("send", missing, "--failed-out", str(failed_out)) == 2
    assert "cannot read" in capsys.readouterr().err
    path = jsonl(tmp_path, json.dumps(item("a")))
    assert run("send", path, "--failed-out", str(failed_out)) == 2  # no credentials
    assert failed_out.read_text() == "the last run's failures\n"


def test_send_needs_credentials_and_never_prints_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in (
        "CS_CLIENT_ID",
        "CS_CLIENT_SECRET",
        "CS_PROJECT_ID",
        "CS_AUTH_URL",
    ):
        monkeypatch.delenv(variable, raising=False)
    path = jsonl(tmp_path, json.dumps(item("a")))
    assert run("send", path, "--client-id", "me", "--client-secret", SECRET) == 2
    err = capsys.readouterr().err
    assert "--project-id" in err and "CS_PROJECT_ID" in err
    assert SECRET not in err
    # "²" is a digit to str.isdigit() and no number to int(); 5,000 digits are more
    # than int() reads
    for project in ("not-a-number", "0", "\u00b2", "\u0661", "9" * 5000):
        monkeypatch.setenv("CS_PROJECT_ID", project)
        assert run("send", path, "--client-id", "me", "--client-secret", SECRET) == 2
        err = capsys.readouterr().err
        assert "the project ID is a positive integer" in err and SECRET not in err


def test_send_refuses_an_unsafe_auth_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")))
    arguments = ["--client-id", "me", "--client-secret", SECRET, "--project-id", "7"]
    for unsafe in (
        "http://example.com/v1/oauth/token",
        "https://api..contentsquare.com/v1/oauth/token",  # no valid host name
    ):
        assert run("send", path, *arguments, "--auth-url", unsafe) == 2
        err = capsys.readouterr().err
        assert "auth_url" in err and SECRET not in err


def test_another_host_can_be_allowed_with_the_option_the_error_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ..command_line import _client, _parser

    path = jsonl(tmp_path, json.dumps(item("a")))
    arguments = ["--client-id", "me", "--client-secret", SECRET, "--project-id", "7"]
    auth_url = "https://auth.example.com/v1/oauth/token"
    assert run("send", path, *arguments, "--auth-url", auth_url) == 2
    err = capsys.readouterr().err
    assert (
        "name it with --allowed-host if you trust it" in err
        and "allowed_hosts" not in err
    )
    allowed = ["--auth-url", auth_url, "--allowed-host", "auth.example.com"]
    parsed = _parser().parse_args(["send", path, *arguments, *allowed])
    with _client(parsed, io.BytesIO(), io.StringIO()) as client:
        assert client.allowed_hosts == {"auth.example.com"}


def test_help_describes_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--help") == 0
    out = capsys.readouterr().out
    assert "validate" in out and "send" in out


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, *(json.dumps(item(f"u{n}")) for n in range(50)))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run("validate", path) == 0
    progress = terminal.getvalue()
    assert progress.startswith("\r[") and progress.endswith("\n")
    assert "100%" in progress and "50 items" in progress and "ETA" in progress
    assert "50 valid, 0 invalid" in capsys.readouterr().out


def test_no_progress_line_when_stderr_is_not_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")))
    not_a_terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", not_a_terminal)
    assert run("validate", path) == 0
    assert not_a_terminal.getvalue() == ""


class _Recorded:
    """Stands in for ``EnrichmentClient``: records how it was made, accepts every item."""

    made: list[tuple[Any, ...]] = []

    def __init__(self, *arguments: Any, **options: Any) -> None:
        _Recorded.made.append(arguments)

    def __enter__(self) -> _Recorded:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, items: Any, **options: Any) -> SendReport:
        return SendReport(accepted=sum(1 for _ in items))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    from .. import command_line

    _Recorded.made = []
    monkeypatch.setattr(command_line, "EnrichmentClient", _Recorded)
    for variable in ("CS_CLIENT_SECRET", "CS_CLIENT_SECRET_FILE", "CS_AUTH_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CS_CLIENT_ID", "me")
    monkeypatch.setenv("CS_PROJECT_ID", "7")
    return _Recorded.made


def test_the_secret_can_come_from_a_file_and_then_no_warning(
    tmp_path: Path, recorded: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")))
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    assert run("send", path, "--client-secret-file", str(secret_file)) == 0
    assert recorded == [("me", SECRET, 7)]
    captured = capsys.readouterr()
    assert "warning" not in captured.err and SECRET not in captured.out + captured.err


def test_the_secret_can_come_from_standard_input(
    tmp_path: Path,
    recorded: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SECRET.encode())))
    assert run("send", path, "--client-secret-file", "-") == 0
    assert recorded == [("me", SECRET, 7)]
    # standard input cannot hold both the items and the secret
    assert run("send", "-", "--client-secret-file", "-") == 2


def test_a_secret_on_the_command_line_works_with_a_warning(
    tmp_path: Path, recorded: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")))
    assert run("send", path, "--client-secret", SECRET) == 0
    assert recorded == [("me", SECRET, 7)]
    err = capsys.readouterr().err
    assert "warning: --client-secret is visible to other local users" in err
    assert SECRET not in err


def test_a_secret_flag_wins_over_the_environment_and_none_says_where_to_put_one(
    tmp_path: Path,
    recorded: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")))
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file\n")
    monkeypatch.setenv("CS_CLIENT_SECRET_FILE", str(secret_file))
    assert run("send", path, "--client-secret", SECRET) == 0
    assert recorded[-1] == ("me", SECRET, 7)
    monkeypatch.delenv("CS_CLIENT_SECRET_FILE")
    assert run("send", path) == 2
    err = capsys.readouterr().err
    assert "no client secret: set CS_CLIENT_SECRET, or pass --client-secret-file" in err


def test_an_empty_file_says_so(
    tmp_path: Path, recorded: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, "", "")
    assert run("send", path, "--client-secret-file", path) == 2  # an empty secret file
    assert "holds no client secret" in capsys.readouterr().err
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    assert run("send", path, "--client-secret-file", str(secret_file)) == 1
    assert "holds no items: nothing was sent" in capsys.readouterr().err
    (tmp_path / "one.jsonl").write_text(json.dumps(item("a")) + "\n")
    assert run("validate", str(tmp_path / "one.jsonl"), "--start-line", "99") == 1
    assert "holds no items from line 99 on" in capsys.readouterr().err
    assert run("validate", path) == 1


def test_an_unknown_integration_version_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")))
    assert run("validate", path, "--integration-version", "99") == 2
    assert (
        "--integration-version 99 is not one of this package's"
        in capsys.readouterr().err
    )


def test_a_naive_datetime_is_refused_with_a_hint_for_text_and_for_python() -> None:
    from pydantic import TypeAdapter, ValidationError

    from ..field_types import WireDatetime

    with pytest.raises(ValidationError) as caught:
        TypeAdapter(WireDatetime).validate_python("2024-03-10T12:00:00")
    assert "add Z or an offset such as +02:00" in str(caught.value)
    assert "tzinfo" in str(caught.value)


def test_failed_out_is_never_the_file_being_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, json.dumps(item("a")), "{not json")
    assert run("validate", path, "--failed-out", path) == 2
    assert "is the file being read" in capsys.readouterr().err
    assert len(Path(path).read_text("utf-8").splitlines()) == 2  # the input is intact


def test_failed_out_is_never_the_file_given_on_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``send - --failed-out X < X``: opening X for writing would empty the input as it
    is read, and the items not read yet would have no outcome."""
    path = jsonl(tmp_path, json.dumps(item("a")), "{not json")
    for by_descriptor in (False, True) if os.name == "posix" else (False,):
        with open(path, "rb") as stdin:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
            # /dev/fd/N: what /dev/stdin names in a process whose stdin is the file
            failed_out = f"/dev/fd/{stdin.fileno()}" if by_descriptor else path
            assert run("validate", "-", "--failed-out", failed_out) == 2
        assert "is standard input" in capsys.readouterr().err
        assert len(Path(path).read_text("utf-8").splitlines()) == 2  # intact
    with open(path, "rb") as stdin:  # another file is fine
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
        assert run("validate", "-", "--failed-out", str(tmp_path / "failed.jsonl")) == 1
    assert "not json" in (tmp_path / "failed.jsonl").read_text("utf-8")


def test_failed_out_is_json_any_reader_can_read_even_for_nan_and_infinities(
    tmp_path: Path,
) -> None:
    """Python reads NaN and 1e999 (an infinity) in a line; written back as such they
    would be no JSON to other readers (jq): they are written as text, still refused."""
    rows = [
        '{"userId": "a", "sessionNumber": NaN}',
        '{"userId": "b", "sessionNumber": 1e999}',
    ]
    path = jsonl(tmp_path, *rows)
    failed_out = tmp_path / "failed.jsonl"
    assert run("validate", path, "--failed-out", str(failed_out)) == 1

    def strict(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    lines = failed_out.read_text("utf-8").splitlines()
    records = [json.loads(line, parse_constant=strict) for line in lines]
    assert [record["item"]["sessionNumber"] for record in records] == ["nan", "inf"]
    assert run("validate", str(failed_out)) == 1  # read back, and refused again


def test_a_resumed_run_adds_to_the_failed_out_file_what_it_decides_again(
    tmp_path: Path,
) -> None:
    """The entries of the lines it reads again are replaced, not repeated: a stale
    failure of a key left there, resent later, would undo a later write of that key
    accepted meanwhile. Lines that are not entries are kept; so is the file's mode."""
    path = jsonl(tmp_path, "{not json", json.dumps(item("a")), "{still not json")
    failed_out = tmp_path / "failed.jsonl"
    assert run("validate", path, "--failed-out", str(failed_out)) == 1
    with failed_out.open("a") as written:
        written.write("a note of mine\n")
    failed_out.chmod(0o600)
    assert (
        run("validate", path, "--failed-out", str(failed_out), "--start-line", "3") == 1
    )
    entries = failed_out.read_text().splitlines()
    assert entries[1] == "a note of mine"
    lines = [json.loads(entries[0])["line"], json.loads(entries[2])["line"]]
    assert lines == [1, 3] and len(entries) == 3
    assert failed_out.stat().st_mode & 0o777 == 0o600


def test_resuming_drops_a_cut_entry_and_keeps_a_linked_failures_file_safe(
    tmp_path: Path,
) -> None:
    """A full disk left half an entry at the end: it is dropped, and the resumed run's
    entries start on their own line. A --failed-out given through a link stays a link, its
    file keeps its mode, and a file planted where a fixed temporary name would be is left
    alone."""
    path = jsonl(tmp_path, "{not json", json.dumps(item("a")), "{still not json")
    real = tmp_path / "real-failed.jsonl"
    assert run("validate", path, "--failed-out", str(real)) == 1
    real.write_text(real.read_text() + '{"line": 9, "outcome": "rej')  # cut short
    real.chmod(0o600)
    link = tmp_path / "failed.jsonl"
    link.symlink_to(real)
    planted = tmp_path / f".{real.name}.{os.getpid()}"
    planted.write_text("someone else's")
    failed_out = str(link)
    assert run("validate", path, "--failed-out", failed_out, "--start-line", "3") == 1
    entries = [json.loads(text) for text in real.read_text().splitlines()]
    assert [entry["line"] for entry in entries] == [1, 3]
    assert link.is_symlink() and real.stat().st_mode & 0o777 == 0o600
    assert planted.read_text() == "someone else's"


class _FailingAll(_Recorded):
    """Stands in for ``EnrichmentClient``: every item failed, told as it is decided."""

    def send(self, items: Any, **options: Any) -> SendReport:
        report = SendReport()
        for index, one in enumerate(items):
            options["on_failure"](
                ItemFailure(index, one, "not delivered", outcome="failed")
            )
            report.failed_count += 1
        return report


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_failures_that_could_not_be_written_are_where_the_send_resumes(
    tmp_path: Path,
    recorded: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A full disk: the failures not in the file are not promised to be there, and the
    resume line comes before the first of them."""
    from .. import command_line

    monkeypatch.setattr(command_line, "EnrichmentClient", _FailingAll)
    monkeypatch.setenv("CS_CLIENT_SECRET", SECRET)
    path = jsonl(tmp_path, *(json.dumps(item(f"u{n}")) for n in range(50)))
    assert run("send", path, "--failed-out", "/dev/full") == 1
    captured = capsys.readouterr()
    assert "cannot write /dev/full: No space left on device" in captured.err
    assert "resume with --start-line 1" in captured.err
    assert "all are in" not in captured.out
    assert "(/dev/full holds those before line 1)" in captured.out


class _BrokenInput(_Recorded):
    """Stands in for ``EnrichmentClient``: reading the input fails after some items."""

    def send(self, items: Any, **options: Any) -> SendReport:
        report = SendReport()
        for _ in itertools.islice(items, 3):
            report.accepted += 1
        error = OSError(5, "Input/output error")
        error.report = report  # type: ignore[attr-defined]
        raise error


def test_a_file_that_cannot_be_read_midway_gets_a_summary_and_a_resume_line(
    tmp_path: Path,
    recorded: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from .. import command_line

    monkeypatch.setattr(command_line, "EnrichmentClient", _BrokenInput)
    monkeypatch.setenv("CS_CLIENT_SECRET", SECRET)
    path = jsonl(tmp_path, *(json.dumps(item(f"u{n}")) for n in range(12)))
    assert run("send", path) == 1
    captured = capsys.readouterr()
    assert "3 accepted" in captured.out
    assert "error: [Errno 5] Input/output error" in captured.err
    assert "resume with --start-line 4" in captured.err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_failed_out_file_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path, "{not json", json.dumps(item("a")))
    assert run("validate", path, "--failed-out", "/dev/full") == 1
    assert "cannot write /dev/full: No space left on device" in capsys.readouterr().err


def test_the_signal_handler_writes_past_a_stream_that_is_being_written() -> None:
    """A signal that comes while the progress line is written: writing to that stream
    again from the handler raises RuntimeError (reentrant call) in CPython, so the
    handler writes to the file descriptor."""
    import signal

    from ..command_line import _Signals
    from ..sending import SendControl

    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as pipe:
        stderr = os.fdopen(write_end, "w")

        def busy(text: str) -> int:
            raise RuntimeError("reentrant call inside <_io.BufferedWriter name=2>")

        stderr.write = busy  # type: ignore[method-assign]
        control = SendControl()
        signals = _Signals(control, stderr)
        signals._handle(signal.SIGINT, None)
        assert control.stopping
        signals._handle(signal.SIGINT, None)
        assert control.abandoning
        stderr.close()
        said = pipe.read().decode()
    assert "stopping: reading no more" in said and "abandoning" in said


def test_signals_just_after_the_send_ended_cut_neither_summary_nor_resume_line(
    tmp_path: Path,
    recorded: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The send's handlers stay until the resume line is out (the default ones would
    raise KeyboardInterrupt, or kill the process on SIGTERM, before it)."""
    import signal

    from .. import command_line

    class _Stopped(_Recorded):
        def send(self, items: Any, **options: Any) -> SendReport:
            options["control"].stop()
            return SendReport(accepted=1, first_unfinished=1)

    def finish_with_signals(self: Any) -> None:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(command_line, "EnrichmentClient", _Stopped)
    monkeypatch.setattr(command_line.Progress, "finish", finish_with_signals)
    monkeypatch.setenv("CS_CLIENT_SECRET", SECRET)
    path = jsonl(tmp_path, *(json.dumps(item(f"u{n}")) for n in range(3)))
    assert run("send", path) == 1
    captured = capsys.readouterr()
    assert "1 accepted" in captured.out
    assert "resume with --start-line 1" in captured.err
