"""``python -m <package>``: check or send a file of items from the shell.

``validate FILE`` checks every item without sending anything; ``send FILE`` sends them and
prints the report. Failures go to ``--failed-out`` as they are decided. Ctrl-C or SIGTERM
stops reading and lets what is in flight finish (a second one abandons it); the summary then
says which ``--start-line`` resumes the file. Exit status: 0 when every item is valid
(validate) or accepted (send), 1 when any is not (or the send stopped early), 2 for a usage
error.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import math
import os
import signal
import stat
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any, BinaryIO, TextIO

from .client import EnrichmentClient
from .errors import EnrichmentError, SendInterrupted, UnsafeEndpointError
from .integration import INTEGRATION_NAME, INTEGRATION_VERSION, VERSIONS
from .item_files import QUIET, BadLine, FileError, ItemFile
from .report import ItemFailure, SendReport
from .sending import DEFAULT_MAX_IN_FLIGHT, VALIDATION_CHUNK, InputPaused, SendControl
from .token import DEFAULT_AUTH_URL
from .validation import InvalidItem, validate_chunk
from .versions import IntegrationVersion

PROGRAM = f"python -m {__package__}"
SHOWN_FAILURES = 20
"""Failures printed in full; the rest are counted (all of them go to --failed-out)."""
PIPE_QUIET_SECONDS = 1.0
"""``send -`` from a pipe: what came is sent at least this often, and once nothing more
has come for this long, rather than when a chunk of items is full."""
_LINE_BREAKS = {ord(ch): f"\\u{ord(ch):04x}" for ch in "\x85\u2028\u2029"}


class UsageError(Exception):
    pass


@dataclass(frozen=True)
class LineFailure:
    """An item that was not accepted, located in its file."""

    line: int
    outcome: str  # "rejected" or "failed"
    reason: str
    field: str | None
    status: int | None
    item: Any

    def describe(self) -> str:
        where = (
            f"{self.field}: " if self.field and self.field not in self.reason else ""
        )
        return f"line {self.line}: {self.outcome}: {where}{self.reason}"

    def to_json(self) -> str:
        """One JSON line; characters that some readers take for line breaks are escaped."""
        record = {
            "line": self.line,
            "outcome": self.outcome,
            "reason": self.reason,
            "field": self.field,
            "status": self.status,
            "item": self.item,
        }
        try:
            text = json.dumps(record, ensure_ascii=False, default=str, allow_nan=False)
        except ValueError:  # NaN or an infinity (1e999) in the item: no JSON number
            text = json.dumps(_finite(record), ensure_ascii=False, default=str)
        return text.translate(_LINE_BREAKS)


def _finite(value: Any) -> Any:
    """``value`` with each NaN or infinite float as its text ("nan", "inf"): what JSON
    readers other than Python's can read (and still no valid FLOAT)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


class Progress:
    """A progress line on a terminal (items, rate, ETA); nothing when not a terminal."""

    def __init__(self, stream: TextIO, items: ItemFile, enabled: bool) -> None:
        self._stream = stream
        self._items = items
        self._enabled = enabled
        self._started = time.monotonic()
        self._shown = 0.0
        self.count = 0

    def advance(self) -> None:
        self.count += 1
        now = time.monotonic()
        if self._enabled and now - self._shown >= 0.1:
            self._shown = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self.count / elapsed
        text = f"{self.count:,} items  {rate:,.0f}/s"
        size = self._items.size
        if size:
            done = min(self._items.bytes_read / size, 1.0)
            bar = "#" * int(done * 30)
            left = elapsed * (1 - done) / done if done else 0.0
            text = f"[{bar:<30}] {done:4.0%}  {text}  ETA {_duration(left)}"
        self._stream.write(f"\r{text}\x1b[K")
        self._stream.flush()

    def finish(self) -> None:
        if self._enabled and self.count:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def _parser() -> argparse.ArgumentParser:
    versions = ", ".join(str(number) for number in sorted(VERSIONS))
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description=(
            f"Check or send enrichments of the {INTEGRATION_NAME} integration "
            f"(version {versions}) to Contentsquare."
        ),
        epilog=(
            "FILE is JSON lines (one wire-format item per line) or CSV (columns userId, "
            "sessionNumber, enrichmentNumber, then the schema's field names); '-' reads "
            "standard input. Exit status: 0 all valid or accepted; 1 anything rejected, "
            "failed or left unsent, no items, refused credentials or a file that could not "
            "be written; 2 a usage error (an option, a file that cannot be read, a CSV "
            "header)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (
        ("validate", "check a file of items without sending anything"),
        ("send", "send a file of items and print the report"),
    ):
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("file", metavar="FILE", help="items to read ('-': stdin)")
        command.add_argument(
            "--format",
            choices=("jsonl", "csv"),
            help="the file's format (default: from its name, else from its first line)",
        )
        command.add_argument(
            "--failed-out",
            metavar="PATH",
            help="write the items not accepted, with their reasons, as JSON lines, as "
            "they are decided (fix them and pass the file to send again)",
        )
        command.add_argument(
            "--integration-version",
            type=int,
            default=INTEGRATION_VERSION,
            metavar="N",
            help=f"the integration version whose fields the file holds ({versions}; "
            f"default: {INTEGRATION_VERSION})",
        )
        command.add_argument(
            "--start-line",
            type=int,
            default=1,
            metavar="N",
            help="skip the lines before N (send: to resume a stopped send where it said; "
            "--failed-out then keeps the entries of the lines before N)",
        )
    send = commands.choices["send"]
    for flag, variable, help_text in (
        ("--client-id", "CS_CLIENT_ID", "OAuth client id"),
        (
            "--client-secret",
            "CS_CLIENT_SECRET",
            "OAuth client secret (visible to other local users in the process list: "
            "prefer $CS_CLIENT_SECRET or --client-secret-file; either flag wins over "
            "both variables)",
        ),
        (
            "--client-secret-file",
            "CS_CLIENT_SECRET_FILE",
            "read the OAuth client secret from this file ('-': standard input); "
            "$CS_CLIENT_SECRET_FILE wins over $CS_CLIENT_SECRET",
        ),
        ("--project-id", "CS_PROJECT_ID", "Contentsquare project ID"),
        ("--auth-url", "CS_AUTH_URL", "token endpoint"),
    ):
        otherwise = f", else {DEFAULT_AUTH_URL}" if flag == "--auth-url" else ""
        send.add_argument(flag, help=f"{help_text}; default: ${variable}{otherwise}")
    send.add_argument(
        "--max-batch-size",
        type=int,
        default=500,
        help="items per request (default: 500)",
    )
    send.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help=f"requests in flight at most (default: {DEFAULT_MAX_IN_FLIGHT}; fewer "
        "while the server answers 429 or 503)",
    )
    send.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host other than *.contentsquare.com that the secret and the token may be "
        "sent to (again for several); https only, as for any host",
    )
    return parser


def _setting(value: str | None, variable: str, flag: str, required: bool) -> str | None:
    value = value if value is not None else os.environ.get(variable)
    if required and not value:
        raise UsageError(
            f"no {flag[2:].replace('-', ' ')}: pass {flag} or set {variable}"
        )
    return value


MAX_SECRET_BYTES = 4096


def _secret(arguments: argparse.Namespace, stdin: IO[bytes], stderr: TextIO) -> str:
    """The client secret: from a file or standard input, the environment, or (with a
    warning) the command line; a flag wins over any variable."""
    path = arguments.client_secret_file
    if path is None and arguments.client_secret is None:
        path = os.environ.get("CS_CLIENT_SECRET_FILE") or None
    if path is not None:
        if path == "-" and arguments.file == "-":
            raise UsageError(
                "standard input cannot hold both FILE and the client secret"
            )
        try:
            if path == "-":
                data = stdin.read(MAX_SECRET_BYTES + 1)
            else:
                with open(path, "rb") as secret_file:
                    data = secret_file.read(MAX_SECRET_BYTES + 1)
        except OSError as error:
            raise UsageError(
                f"cannot read the client secret from {path}: {error.strerror}"
            ) from None
        if len(data) > MAX_SECRET_BYTES:
            raise UsageError(f"{path} is too big to hold a client secret")
        try:
            secret = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise UsageError(f"{path}: the client secret is not UTF-8 text") from None
        if not secret:
            raise UsageError(f"{path} holds no client secret")
        return secret
    if arguments.client_secret is not None:
        print(
            f"{PROGRAM}: warning: --client-secret is visible to other local users in the "
            "process list; prefer $CS_CLIENT_SECRET or --client-secret-file",
            file=stderr,
        )
    value = arguments.client_secret or os.environ.get("CS_CLIENT_SECRET")
    if not value:
        raise UsageError(
            "no client secret: set CS_CLIENT_SECRET, or pass --client-secret-file (a file "
            "holding it, - for standard input)"
        )
    return value


def _version(arguments: argparse.Namespace) -> IntegrationVersion:
    version = VERSIONS.get(arguments.integration_version)
    if version is None:
        known = ", ".join(str(number) for number in sorted(VERSIONS))
        raise UsageError(
            f"--integration-version {arguments.integration_version} is not one of "
            f"this package's: {known}"
        )
    if arguments.start_line < 1:
        raise UsageError("--start-line is 1 or more")
    return version


def _client(
    arguments: argparse.Namespace, stdin: IO[bytes], stderr: TextIO
) -> EnrichmentClient:
    client_id = _setting(arguments.client_id, "CS_CLIENT_ID", "--client-id", True)
    secret = _secret(arguments, stdin, stderr)
    project = _setting(arguments.project_id, "CS_PROJECT_ID", "--project-id", True)
    auth_url = _setting(arguments.auth_url, "CS_AUTH_URL", "--auth-url", False)
    assert client_id is not None and project is not None
    digits = project.strip()
    # ASCII digits: str.isdigit() is also true of "²", which int() refuses.
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18) or (
        int(digits) < 1
    ):
        raise UsageError(f"the project ID is a positive integer, not {project!r}")
    if arguments.max_batch_size < 1:
        raise UsageError("--max-batch-size is 1 or more")
    options: dict[str, Any] = {}
    if arguments.max_in_flight is not None:
        options["max_in_flight"] = arguments.max_in_flight
    try:
        return EnrichmentClient(
            client_id,
            secret,
            int(project),
            auth_url=auth_url or DEFAULT_AUTH_URL,
            max_batch_size=arguments.max_batch_size,
            integration_version=arguments.integration_version,
            allowed_hosts=arguments.allowed_host,
            **options,
        )
    except (ValueError, UnsafeEndpointError) as error:
        raise UsageError(_for_the_command_line(str(error))) from None


def _for_the_command_line(message: str) -> str:
    """A client's message, with its option names as the command line spells them."""
    return message.replace("in allowed_hosts", "with --allowed-host")


def _is_input(path: str, input_path: str, stdin: IO[bytes]) -> bool:
    """``path`` names the file being read: ``input_path``, or standard input's file when
    that is ``-`` (``< items.jsonl``, ``/dev/stdin``)."""
    try:
        if input_path != "-":
            return os.path.samefile(path, input_path)
        return os.path.samestat(os.stat(path), os.fstat(stdin.fileno()))
    except (OSError, ValueError):  # no such file yet, or stdin is no file at all
        return False


class _Outcomes:
    """Where the failures go as they are decided: ``--failed-out`` (written and flushed
    line by line), the first few kept to be shown, the rest counted."""

    def __init__(
        self, path: str | None, input_path: str, stdin: IO[bytes], start_line: int
    ) -> None:
        self.path = path
        self.shown: list[LineFailure] = []
        self.count = 0
        self.rejected = 0
        self.error: OSError | None = None
        self.first_unwritten: int | None = None
        """The first line whose failure is not in the file (it could not be written)."""
        self.on_error: Callable[[], None] = lambda: None
        self._out: TextIO | None = None
        if path is None:
            return
        if _is_input(path, input_path, stdin):
            read = "standard input" if input_path == "-" else "the file being read"
            raise UsageError(
                f"--failed-out {path} is {read}: write the failures elsewhere"
            )
        try:
            if start_line > 1:
                # A resumed send adds to the failures of the run it resumes, less
                # those it decides again.
                _keep_failures_before(path, start_line)
            self._out = open(
                path,
                "a" if start_line > 1 else "w",
                encoding="utf-8",
                errors="backslashreplace",
            )
        except OSError as error:
            raise UsageError(
                f"cannot write --failed-out {path}: {error.strerror}"
            ) from None

    def add(self, failure: LineFailure) -> None:
        self.count += 1
        if failure.outcome == "rejected":
            self.rejected += 1
        if len(self.shown) < SHOWN_FAILURES:
            self.shown.append(failure)
        if self._out is None:
            return
        if self.error is None:
            try:
                # backslashreplace: a lone surrogate (from a "\\ud800" escape in the
                # input) becomes the same JSON escape again.
                self._out.write(failure.to_json() + "\n")
                self._out.flush()
                return
            except OSError as error:  # a full disk: stop, and say where to resume
                self.error = error
                self.on_error()
        # Not in the file: the send must resume at this line at the latest.
        if self.first_unwritten is None or failure.line < self.first_unwritten:
            self.first_unwritten = failure.line

    def close(self) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            try:
                out.close()
            except OSError as error:  # what was buffered could not be written
                self.error = self.error or error

    def print(self) -> None:
        for failure in sorted(self.shown, key=lambda failure: failure.line):
            print(failure.describe())
        if self.count > len(self.shown):
            more = self.count - len(self.shown)
            if not self.path:
                hint = " (--failed-out PATH lists all)"
            elif self.first_unwritten is not None:
                hint = (
                    f" ({self.path} holds those before line {self.first_unwritten:,})"
                )
            else:
                hint = f" (all are in {self.path})"
            print(f"... and {more:,} more{hint}")


def _keep_failures_before(path: str, line: int) -> None:
    """Rewrite the failures file ``path`` without the entries of ``line`` and after,
    which the resumed send decides again: a stale failure left there, resent later,
    would undo a later write of its key accepted meanwhile. Other lines are kept, but a
    last line cut short (a full disk, a kill) that is no entry. Anything but a regular
    file (a pipe, a terminal) is left as it is; a link is followed, and stays a link."""
    real = os.path.realpath(path)
    if not os.path.isfile(real):
        return
    descriptor, temporary = tempfile.mkstemp(
        dir=os.path.dirname(real), prefix=f".{os.path.basename(real)}."
    )
    try:
        # Items are customer data: the copy is no more readable than the file, from the
        # start (mkstemp makes it 0600).
        os.chmod(temporary, stat.S_IMODE(os.stat(real).st_mode))
        with (
            open(real, encoding="utf-8", errors="surrogateescape") as old,
            os.fdopen(
                descriptor, "w", encoding="utf-8", errors="surrogateescape"
            ) as new,
        ):
            for text in old:
                number = _entry_line(text)
                if not text.endswith("\n"):
                    if number is None:
                        break  # what a write cut short left
                    text += "\n"
                if number is None or number < line:
                    new.write(text)
        os.replace(temporary, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _entry_line(text: str) -> int | None:
    """The ``line`` of a failures file entry; None for anything else."""
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    number = entry.get("line") if isinstance(entry, dict) else None
    return number if type(number) is int else None


class _Reading:
    """Feeds the items of a file on, keeping each one's line; lines with no item go
    straight to the outcomes."""

    def __init__(
        self, items: ItemFile, progress: Progress, outcomes: _Outcomes, start_line: int
    ) -> None:
        self.items = items
        self.progress = progress
        self.outcomes = outcomes
        self.start_line = start_line
        # The line of each item given on, kept as runs of consecutive lines: a run starts
        # at item _run_items[n], on line _run_lines[n] (memory grows with the lines that
        # hold no item, not with the items).
        self._run_items = array("q")
        self._run_lines = array("q")
        self.given = 0
        self.last_line = start_line - 1
        self._entries: Iterator[tuple[int, object]] | None = None

    def __iter__(self) -> _Reading:
        return self

    def __next__(self) -> object:
        """The next item; ``InputPaused`` when the pipe read has gone quiet (the send
        posts what it holds, and asks again)."""
        if self._entries is None:
            self._entries = iter(self.items)
        for line, item in self._entries:
            if item is QUIET:
                raise InputPaused
            if line < self.start_line:
                continue
            self.last_line = line
            if isinstance(item, BadLine):
                self.outcomes.add(
                    LineFailure(
                        item.line,
                        "rejected",
                        item.reason,
                        None,
                        None,
                        item.text.rstrip("\r\n"),
                    )
                )
                continue
            if not self._run_items or line != self.line_of(self.given - 1) + 1:
                self._run_items.append(self.given)
                self._run_lines.append(line)
            self.given += 1
            self.progress.advance()
            return item
        raise StopIteration

    def line_of(self, index: int) -> int:
        """The line of the ``index``-th item given on."""
        run = bisect.bisect_right(self._run_items, index) - 1
        return self._run_lines[run] + index - self._run_items[run]

    def add(self, outcome: str, failure: ItemFailure) -> None:
        self.outcomes.add(
            LineFailure(
                self.line_of(failure.index),
                outcome,
                failure.reason,
                failure.field,
                failure.status,
                failure.item,
            )
        )

    def on_failure(self, failure: ItemFailure) -> None:
        self.add(failure.outcome, failure)

    def resume_line(self, report: SendReport) -> int | None:
        """The line to pass to ``--start-line``: every line before it has an outcome."""
        if report.first_unfinished is None:
            return None
        if report.first_unfinished < self.given:
            return self.line_of(report.first_unfinished)
        return self.last_line + 1


def _validate(reading: _Reading, version: IntegrationVersion) -> int:
    """Check every item; returns how many were valid."""
    valid = 0
    chunk: list[object] = []
    first = 0
    for item in reading:
        chunk.append(item)
        if len(chunk) == VALIDATION_CHUNK:
            valid += _check(reading, first, chunk, version)
            first += len(chunk)
            chunk = []
    return valid + _check(reading, first, chunk, version)


def _check(
    reading: _Reading, first: int, chunk: list[object], version: IntegrationVersion
) -> int:
    valid = 0
    for result in validate_chunk(first, chunk, version):
        if isinstance(result, InvalidItem):
            reading.add(
                "rejected",
                ItemFailure(result.position, result.item, result.reason, result.field),
            )
        else:
            valid += 1
    return valid


class _Signals:
    """Ctrl-C and SIGTERM during a send: the first stops it, the second abandons it."""

    def __init__(self, control: SendControl, stderr: TextIO) -> None:
        self.control = control
        self.stderr = stderr
        self.send_over = False
        """Set once the send has ended: a signal then changes nothing."""
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        # Neither signal raises: an exception breaking into the send wherever it is
        # could leave a batch with no outcome. The send looks at the control at least
        # every SendControl.POLL_SECONDS, and a read from a pipe pauses once a second.
        if self.send_over:
            return  # the summary and the resume line are being printed
        if self.control.stopping:
            self.control.abandon()
            self._say(f"\n{PROGRAM}: abandoning what is in flight\n")
            return
        self.control.stop()
        self._say(
            f"\n{PROGRAM}: stopping: reading no more, finishing what is in flight "
            "(again to abandon it)\n"
        )

    def _say(self, text: str) -> None:
        """Write ``text`` from the handler. Straight to the file descriptor: the signal
        may come while the progress line is being written, and a buffered stream
        entered again from a handler raises RuntimeError."""
        try:
            descriptor = self.stderr.fileno()
        except (AttributeError, OSError, ValueError):  # io.StringIO: no descriptor
            self.stderr.write(text)
            return
        with contextlib.suppress(OSError):
            os.write(descriptor, text.encode(errors="replace"))


def _summary(path: str, report: SendReport, reading: _Reading, seconds: float) -> str:
    rejected = reading.outcomes.rejected
    failed = reading.outcomes.count - rejected
    return (
        f"{path}: {report.accepted:,} accepted, {rejected:,} rejected, "
        f"{failed:,} failed, {report.superseded:,} superseded "
        f"({report.requests:,} requests, {report.retries:,} retries, {seconds:.1f} s)"
    )


def _from_line(start_line: int) -> str:
    return f" from line {start_line} on" if start_line > 1 else ""


def _resume_line(
    reading: _Reading, report: SendReport, error: BaseException | None
) -> int | None:
    """Where to resume: before the first line with no outcome, or whose failure could
    not be written; after the last line read when reading the file failed."""
    resume = reading.resume_line(report)
    if resume is None and isinstance(error, OSError):
        resume = reading.last_line + 1
    unwritten = reading.outcomes.first_unwritten
    if unwritten is not None:
        resume = unwritten if resume is None else min(resume, unwritten)
    return resume


def _send(
    client: EnrichmentClient, reading: _Reading, stderr: TextIO, path: str
) -> int:
    control = SendControl()
    reading.outcomes.on_error = control.stop
    error: BaseException | None = None
    # The handlers stay until the summary and the resume line are out: a second signal
    # just after the send ended would otherwise cut them off (the handlers never raise).
    with client, _Signals(control, stderr) as signals:
        try:
            report = client.send(
                reading, on_failure=reading.on_failure, control=control
            )
        except (EnrichmentError, SendInterrupted, OSError) as raised:
            # OSError: reading the file failed midway, after what was read was sent
            reported: SendReport | None = getattr(raised, "report", None)
            if reported is None:
                raise
            error, report = raised, reported
        signals.send_over = True
        reading.progress.finish()
        outcomes = reading.outcomes
        outcomes.close()  # what a full disk refused is known before anything is promised
        outcomes.print()
        print(_summary(path, report, reading, reading.progress.elapsed))
        if isinstance(error, (EnrichmentError, OSError)):
            print(f"{PROGRAM}: error: {_for_the_command_line(str(error))}", file=stderr)
        if outcomes.error is not None:
            print(
                f"{PROGRAM}: error: cannot write {outcomes.path}: "
                f"{outcomes.error.strerror}; the send stopped",
                file=stderr,
            )
        resume = _resume_line(reading, report, error)
        if resume is not None:
            print(
                f"{PROGRAM}: stopped early: every line before {resume} has its outcome above"
                f"{' and in ' + reading.outcomes.path if reading.outcomes.path else ''}; "
                f"resume with --start-line {resume}",
                file=stderr,
            )
            if control.abandoning:
                # The requests left in flight hold worker threads that the interpreter would
                # wait for on exit: everything is written, so leave now.
                sys.stdout.flush()
                stderr.flush()
                os._exit(1)
            return 1
        if reading.progress.count == 0 and reading.outcomes.count == 0:
            print(
                f"{PROGRAM}: {path} holds no items{_from_line(reading.start_line)}: nothing "
                "was sent",
                file=stderr,
            )
            return 1
        return 1 if reading.outcomes.count else 0


def _run(arguments: argparse.Namespace, stdin: BinaryIO, stderr: TextIO) -> int:
    version = _version(arguments)
    sending = arguments.command == "send"
    with contextlib.ExitStack() as closing:
        # The file first (a mistyped path is the first thing to hear of), then the
        # credentials, then --failed-out, which is emptied on opening.
        items = ItemFile.open(
            arguments.file,
            stdin,
            arguments.format,
            version,
            pause_after=PIPE_QUIET_SECONDS if sending else None,
        )
        closing.callback(items.close)
        client = _client(arguments, stdin, stderr) if sending else None
        if client is not None:
            closing.callback(client.close)
        outcomes = _Outcomes(
            arguments.failed_out, arguments.file, stdin, arguments.start_line
        )
        closing.callback(outcomes.close)
        progress = Progress(stderr, items, enabled=stderr.isatty())
        reading = _Reading(items, progress, outcomes, arguments.start_line)
        if client is not None:
            return _send(client, reading, stderr, items.path)
        valid = _validate(reading, version)
        progress.finish()
        outcomes.close()  # what a full disk refused is known before anything is promised
        outcomes.print()
        print(
            f"{items.path}: {valid:,} valid, {outcomes.count:,} invalid "
            f"(checked in {progress.elapsed:.1f} s, nothing sent)"
        )
        if outcomes.error is not None:
            print(
                f"{PROGRAM}: error: cannot write {outcomes.path}: {outcomes.error.strerror}",
                file=stderr,
            )
            return 1
        if valid == 0 and outcomes.count == 0:
            print(
                f"{PROGRAM}: {items.path} holds no items{_from_line(arguments.start_line)}",
                file=stderr,
            )
            return 1
        return 1 if outcomes.count else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        return _run(arguments, sys.stdin.buffer, sys.stderr)
    except (UsageError, FileError) as error:
        parser.exit(2, f"{PROGRAM}: error: {error}\n")
    except EnrichmentError as error:  # bad credentials: nothing could be sent
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{PROGRAM}: interrupted", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 1
