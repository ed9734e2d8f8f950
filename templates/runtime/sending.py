"""How a send proceeds: a state machine that decides everything and does no I/O.

``SendPlan`` reads items a chunk at a time, validates them in bulk, batches them, keeps
several batches in flight and decides what to do with each answer. The clients ask it for the
next action (``next_action``) and carry it out:

- ``ReadItems``: read up to ``count`` more items, then call ``items_read`` (or
  ``input_failed`` if reading raised);
- ``Post``: post the body, then call ``post_answered`` with an ``Answer`` or ``post_failed``
  with a ``NoAnswer`` — posts may be answered in any order;
- ``Wait``: nothing to start now: wait for an answer of a post in flight, or until
  ``until`` (a time on the plan's clock), then ask again;
- ``Finished``: the send is over; its ``report`` says what happened to every item.

The rules it keeps:

- **Order per key.** A key is never in two requests in flight at once: a later write of a key
  waits for the outcome of the earlier one, or replaces it while it is still unsent (the
  earlier one is then ``superseded``). The server ends with the last write of every key.
- **Adaptive concurrency.** At most ``max_in_flight`` posts at once; after a 429, a 5xx or
  no answer that number is halved, and each acceptance lets it grow back by one.
  ``Retry-After`` is a floor for the retry of that batch, and a 429's ``Retry-After``
  holds back every new post.
- **Retries** with exponential backoff and full jitter, at most ``max_retries`` per batch and
  within its ``batch_deadline``.
- **Fail fast.** After ``failure_threshold`` batches in a row are not delivered (no answer, or
  5xx, after their retries), the rest of the send fails at once, without another request; so
  does everything left when ``send_deadline`` passes.
- **Cheap refusals.** A refused batch (400/422) drops the item the server names by its
  ``index``, or is split in halves to find the refused items; when single items keep being
  refused for the same reason, the search stops and batches refused for that reason fail at
  once: a systematic refusal costs a few dozen requests, not one per item.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .batching import BatchBuilder
from .item import ItemKey
from .report import ItemFailure, SendReport
from .retry import (
    SLOW_DOWN_STATUSES,
    ServerError,
    Verdict,
    backoff_delay,
    classify,
    parse_error,
    parse_retry_after,
)
from .token import Token
from .validation import InvalidItem, ValidItem, ValidRun, validate_chunk, validate_run
from .versions import IntegrationVersion

logger = logging.getLogger(__package__)


_KEY = operator.attrgetter("key")
_WIRE = operator.attrgetter("wire")


VALIDATION_CHUNK = 500
DEFAULT_MAX_IN_FLIGHT = 16
DEFAULT_FAILURE_THRESHOLD = 3
SYSTEMATIC_REFUSALS = 4
"""Single items refused in a row for one reason before the search for refused items stops."""
BREAKER_MIN_OUTAGE = 15.0
"""Seconds an outage must have lasted before the breaker opens: about what one batch's five
retries wait at the most, so that a short outage costs retries, not the send."""
LATE_ANSWER_GRACE = 1.0
"""Seconds after an attempt's deadline before the plan stops waiting for its answer."""
MAX_FAILED_KEYS = 100_000
"""Keys of failed writes a send remembers (see ``SendPlan._fail``); past that, the rest of
the send fails at once: so many failures are an outage, and memory stays bounded."""
_AFTER_FAILED_WRITE = (
    "not sent: an earlier write of this key failed, and resending it after this one "
    "would undo this one; resend them in order"
)
_AFTER_DOUBTFUL_WRITE = (
    "not sent: an earlier write of this key failed with no answer and may still reach "
    "the server, after this one; resend them in order once the endpoint is back"
)


Refusal = tuple[int, str | None, str | None]
"""What tells one refusal from another: (HTTP status, errorCode, field)."""


@dataclass(frozen=True)
class ReadItems:
    """Read up to ``count`` more items of the input."""

    count: int


class InputPaused(Exception):
    """Raised by the ``__next__`` of the package command line's reader when its pipe has
    gone quiet: the send posts what it holds, then reads on. Not part of the API: only an
    iterator that goes on after raising (a class with ``__next__``; a generator ends at
    its first exception) may raise it, and only after waiting a while.
    """


@dataclass(frozen=True, eq=False)
class Post:
    """Post ``body`` (``count`` items) to the enrichment endpoint.

    The attempt must be over by ``deadline`` (the plan's clock), reading the answer
    included. ``refused_token`` is a token an earlier attempt of the batch was refused
    with (HTTP 401): never to be used again. The body holds field values: it is kept out of
    the repr, as in every class here.
    """

    body: bytes = field(repr=False)
    count: int
    deadline: float
    refused_token: object | None = None


@dataclass(frozen=True)
class Wait:
    """Nothing to start: wait for an answer, or until ``until`` (``None``: no limit)."""

    until: float | None


@dataclass(frozen=True)
class Finished:
    """The send is over. ``error`` is what the caller's code raised, if it did: reading
    the input (the items read before were sent) or ``on_failure`` (the send ended after
    the decisions under way); the client raises it."""

    report: SendReport
    error: BaseException | None = None


Action = ReadItems | Post | Wait | Finished


@dataclass(frozen=True)
class Answer:
    """The endpoint's answer to a ``Post`` (its body read up to a bounded size)."""

    status: int
    content: bytes = field(repr=False)  # the server's text may quote a value
    retry_after: str | None = None
    token: object | None = None
    """The token the post was made with (the plan hands it back on a 401)."""
    token_obtained_at: float | None = None
    """When that token was obtained (the plan's clock), if known."""


@dataclass(frozen=True)
class NoAnswer:
    """No usable answer to a ``Post``: connection refused or dropped, a timeout, the attempt
    deadline, or a token that could not be had. ``reason`` names the URL."""

    reason: str
    retry_after: float | None = None
    reached_endpoint: bool = True
    """False when no request reached the enrichment endpoint (no token could be had, or no
    connection was made)."""
    maybe_applied: bool = True
    """The request may have reached the server, which may still apply it (a timeout, a
    connection lost after sending); False when it surely did not (no connection)."""


@dataclass(frozen=True)
class SendSettings:
    version: IntegrationVersion
    project_id: int
    max_batch_size: int
    max_batch_bytes: int
    max_retries: int
    batch_deadline: float
    """Seconds one batch may take, retries and waits included, before its items fail."""
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    """Batches in a row not delivered (no answer or 5xx) before the rest of the send fails."""
    send_deadline: float | None = None
    """Seconds the whole send may take; what has no outcome by then fails."""


@dataclass(eq=False)
class _Batch:
    contents: list[ValidItem] | ValidRun = field(repr=False)
    """The items, or a run of them as validated (the common case: see ``items``)."""
    deadline: float
    body: bytes = field(default=b"", repr=False)
    retries: int = 0
    renewed: bool = False
    """The last answer was a 401 and the token was renewed: a second 401 fails the batch,
    unless the token it was sent with was obtained before that renewal (another expiry)."""
    renewed_at: float = 0.0
    started: bool = False
    from_refusal: bool = False
    """A part of a refused batch: its items were refused together with others."""
    refusal: Refusal | None = None
    """For a part: the (status, code, field) of the refusal that made it."""
    not_before: float = 0.0
    first_attempt: float = 0.0
    refused_token: object | None = field(default=None, repr=False)
    maybe_applied: bool = False
    """An attempt got no answer after it may have reached the server: failed, the batch
    may still be applied later, after any later write of its keys."""
    key_set: set[ItemKey] | None = field(default=None, repr=False)
    """Its keys as a set, when one was made for it: the sets of keys in flight are
    updated from it with the hashes it holds, not by hashing each key again."""

    @property
    def items(self) -> list[ValidItem]:
        """The items one by one; a run is split the first time they are needed (a
        refusal, a failure), never when the batch is accepted."""
        if isinstance(self.contents, ValidRun):
            self.contents = self.contents.split()
        return self.contents

    @property
    def count(self) -> int:
        contents = self.contents
        return len(contents.keys if isinstance(contents, ValidRun) else contents)

    def keys(self) -> Iterable[ItemKey]:
        if self.key_set is not None:
            return self.key_set
        contents = self.contents
        if isinstance(contents, ValidRun):
            return contents.keys
        return map(_KEY, contents)

    @property
    def first_position(self) -> int:
        contents = self.contents
        if isinstance(contents, ValidRun):
            return contents.first_position
        return min(item.position for item in contents)

    def make_body(self, builder: BatchBuilder) -> bytes:
        contents = self.contents
        if isinstance(contents, ValidRun):
            return builder.prefix + contents.json + builder.suffix
        return builder.body(contents)


class SendPlan:
    """The plan of one send (see the module's docstring)."""

    def __init__(
        self,
        settings: SendSettings,
        rng: random.Random,
        clock: Callable[[], float],
        *,
        on_failure: Callable[[ItemFailure], None] | None = None,
        secrets: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.settings = settings
        self.rng = rng
        self.clock = clock
        self.report = SendReport()
        self._on_failure = on_failure
        self._on_failure_error: BaseException | None = None
        """What ``on_failure`` raised: the send stops, and ends with it (at once for a
        KeyboardInterrupt or a cancellation)."""
        self._secrets = secrets
        """What must never appear in a reason: the token in use, the client secret."""
        self._builder = BatchBuilder(
            settings.version.number,
            settings.project_id,
            settings.max_batch_size,
            settings.max_batch_bytes,
        )
        self._started_at = clock()
        self._send_deadline = (
            None
            if settings.send_deadline is None
            else self._started_at + settings.send_deadline
        )
        self._ready: deque[_Batch] = deque()
        self._backoff: list[_Batch] = []
        self._in_flight: dict[Post, _Batch] = {}
        self._busy: set[ItemKey] = set()
        """Keys of the batches that have no outcome yet (queued, waiting or in flight)."""
        self._waiting: dict[ItemKey, ValidItem] = {}
        """A later write of a busy key, held until the earlier one's outcome is known."""
        self._failed_keys: dict[ItemKey, str] = {}
        """Keys of the writes that failed, with why a later write of one is not sent
        (see ``_fail``)."""
        self._unsent: list[_Batch] = []
        """Batches never started when the send was stopped."""
        self._unsettled: int | None = None
        """Lowered to the first position a call decides outcomes from, and put back when
        the call ends (``_deciding``): an exception that breaks into the call (a Ctrl-C, which comes
        between any two steps) leaves it lowered, and the send resumes there at the
        latest (``_first_unfinished``), whatever the call had decided."""
        self._read = 0
        self._reading = True
        self._input_ended = False
        self._stopped = False
        self._input_error: BaseException | None = None
        self._window = settings.max_in_flight
        self._paused_until = 0.0
        self._failures_in_a_row = 0
        self._failing_since: float | None = None
        """When the first batch of the current run of undelivered batches was first sent."""
        self._last_undelivered = ""
        """Why the last batch of the current run of undelivered batches was not."""
        self._endpoint_answered = self._started_at
        """When the endpoint last answered with a status below 500."""
        self._batches_refused: tuple[tuple[int, str | None], int] | None = None
        """Batches refused whole in a row: (status, errorCode), how many."""
        self._closed: str | None = None
        """Why the rest of the send fails at once (the breaker, the send deadline)."""
        self._items_refused: tuple[Refusal, int] | None = None
        """Single items refused in a row by the refusal search: (status, errorCode,
        field), how many."""
        self._systematic: dict[Refusal, str] = {}
        """The refusals found systematic, with the reason their items fail with."""

    # -- what to do next ------------------------------------------------------------

    def next_action(self) -> Action:
        if self._on_failure_error is not None:
            # The caller's callback raised: the send stops as stop() does (what is in
            # flight finishes) and ends with that error, every decided item's outcome in
            # the report (see _record); a KeyboardInterrupt or a cancellation ends it now.
            if not isinstance(self._on_failure_error, Exception):
                return self.abandon()
            self.stop()
        now = self.clock()
        if (
            self._send_deadline is not None
            and now >= self._send_deadline
            and self._closed is None
        ):
            self._close(
                f"the send deadline of {self.settings.send_deadline:g} s passed"
            )
        if self._breaker_due(now):
            self._open_breaker()
        self._expire(now)
        if self._backoff:
            for due in [b for b in self._backoff if b.not_before <= now]:
                self._ready.appendleft(due)  # in both a moment, never in neither
                self._backoff.remove(due)
        while True:
            ready = self._next_ready(now)
            if ready is not None:
                return self._post(ready, now)
            if self._reading and len(self._ready) < self._window:
                # Batches made ready while the posts are in flight: answers come in bursts,
                # and each free place should find a batch waiting, not a chunk to validate.
                return ReadItems(VALIDATION_CHUNK)
            if not self._reading and not self._stopped and self._builder.count:
                self._enqueue(self._builder.flush(), now)
                continue
            break
        if self._in_flight or self._backoff or self._ready:
            return Wait(self._next_timer())
        return self._finish()

    def _expire(self, now: float) -> None:
        """What has outlived its deadline: a queued batch fails, and a post whose answer
        has not come by its deadline (the shell could not stop it) counts as unanswered.
        """
        late = [
            post for post in self._in_flight if now > post.deadline + LATE_ANSWER_GRACE
        ]
        for post in late:
            self.post_failed(post, NoAnswer("no answer by the attempt's deadline"))
        for queue in (self._ready, self._backoff):
            expired = [batch for batch in queue if now > batch.deadline]
            for batch in expired:
                if batch not in queue:
                    continue  # failing the one before closed the send, and failed it
                with self._deciding(batch.first_position):
                    queue.remove(batch)
                    reason = "not sent: its batch deadline passed while it waited"
                    if self._paused_until > now:
                        reason += " (the server asked to wait with Retry-After)"
                    self._fail_batch(batch, reason, None)

    def _next_ready(self, now: float) -> _Batch | None:
        """The batch to post now, if any (still in the queue: see ``_post``).

        A batch in backoff keeps its place: a new batch starts only while fewer than
        ``window`` batches are under way, so a dead endpoint costs a few batches' retries,
        not every batch's. The parts of a refused batch go one at a time: the search for
        the refused items is sequential, so a systematic refusal is seen early.
        """
        if len(self._in_flight) >= self._window or now < self._paused_until:
            return None
        under_way = len(self._in_flight) + len(self._backoff)
        searching = any(batch.from_refusal for batch in self._in_flight.values())
        for batch in self._ready:
            if batch.from_refusal and searching:
                continue
            if batch.started or under_way < self._window:
                return batch  # _post takes it out, once it is in flight
        return None

    def _next_timer(self) -> float | None:
        timers = [batch.not_before for batch in self._backoff]
        timers += [batch.deadline for batch in self._ready]
        timers += [post.deadline + LATE_ANSWER_GRACE for post in self._in_flight]
        if self._ready and self._paused_until > self.clock():
            timers.append(self._paused_until)
        if self._send_deadline is not None and self._closed is None:
            timers.append(self._send_deadline)
        armed = self._breaker_armed_since()
        if armed is not None:
            # when the outage comes of age (next_action opens the breaker then: this
            # time is never in the past for long, and a shell never spins on it)
            timers.append(armed + BREAKER_MIN_OUTAGE)
        return min(timers) if timers else None

    def _post(self, batch: _Batch, now: float) -> Post:
        if not batch.body:
            batch.body = batch.make_body(self._builder)
        if not batch.started:
            batch.first_attempt = now
        batch.started = True
        deadline = batch.deadline
        if self._send_deadline is not None:
            deadline = min(deadline, self._send_deadline)
        post = Post(batch.body, batch.count, deadline, batch.refused_token)
        # In flight before it leaves the queue: a Ctrl-C in between leaves it in one of
        # them (both a moment), never in neither, so first_unfinished covers it.
        self._in_flight[post] = batch
        self._ready.remove(batch)
        return post

    def _finish(self) -> Finished:
        if self._stopped:
            self.report.first_unfinished = self._first_unfinished()
        logger.info("send finished: %s", self.report)
        return Finished(self.report, self._on_failure_error or self._input_error)

    # -- the input ------------------------------------------------------------------

    def items_read(self, items: list[object], paused: bool = False) -> None:
        """The answer to ``ReadItems``: the items read (fewer than asked: the input
        ended, unless it ``paused``: it has nothing more for now, and what is held goes
        without waiting for a full batch)."""
        with self._deciding(self._read):
            if len(items) < VALIDATION_CHUNK and not paused:
                self._reading = False
                self._input_ended = True
            self._admit_chunk(items)
            if paused and self._builder.count and not self._stopped:
                self._enqueue(self._builder.flush(), self.clock())

    def input_failed(self, error: BaseException, items: list[object]) -> None:
        """Reading the input raised ``error`` after ``items``: they are still sent, then the
        send raises ``error``."""
        with self._deciding(self._read):
            self._reading = False
            self._input_ended = True
            self._input_error = error
            self._admit_chunk(items)

    @contextlib.contextmanager
    def _deciding(self, position: int | None) -> Iterator[None]:
        """Lowers ``_unsettled`` to ``position`` (None: leaves it) for the block, and puts
        it back when the block ends normally; a block broken into leaves it lowered."""
        settled = self._unsettled
        if position is not None:
            self._unsettled = position if settled is None else min(settled, position)
        yield
        self._unsettled = settled

    def _admit_chunk(self, items: list[object]) -> None:
        now = self.clock()
        first = self._read
        self._read += len(items)
        run = validate_run(first, items, self.settings.version)
        if run is not None and self._admit_run(run, now):
            return
        if run is not None:
            results: list[ValidItem | InvalidItem] = list(run.split())
        else:
            results = validate_chunk(first, items, self.settings.version, try_run=False)
        valid = [result for result in results if isinstance(result, ValidItem)]
        if (
            valid
            and len(valid) == len(results)
            and self._in_bulk(keys := list(map(_KEY, valid)))
            and self._builder.fits(max(map(len, map(_WIRE, valid))))
            and self._busy.isdisjoint(keys)
            # a key of the batch being built could go out with it in the middle of the
            # chunk, and its later write in the next batch: at once, in either order
            and not self._builder.holds_any(keys)
        ):
            # The common case, at one Python step per item: all valid, none too big, each
            # key once, and none held back by a batch in flight.
            batches, superseded = self._builder.extend(valid)
            self.report.superseded += superseded
            for batch in batches:
                self._enqueue(batch, now)
            return
        for result in results:
            if isinstance(result, InvalidItem):
                self._record(
                    ItemFailure(
                        result.position, result.item, result.reason, result.field
                    )
                )
            elif not self._builder.fits_alone(result):
                reason = (
                    f"item is {len(result.wire)} bytes of JSON, too big for a batch "
                    f"of at most {self.settings.max_batch_bytes} bytes"
                )
                self._record(ItemFailure(result.position, result.item, reason))
            else:
                self._admit(result, now)

    def _in_bulk(
        self, keys: list[ItemKey], distinct: set[ItemKey] | None = None
    ) -> bool:
        """Items with these keys (``distinct``: as a set) may skip the item-by-item path
        (``_admit``): the send is open, no later write is held back, and no key comes
        twice."""
        if distinct is None:
            distinct = set(keys)
        return (
            self._closed is None
            and not self._waiting
            and (not self._failed_keys or self._failed_keys.keys().isdisjoint(distinct))
            and len(distinct) == len(keys)
        )

    def _admit_run(self, run: ValidRun, now: float) -> bool:
        """A run sent as one batch, as it is, when it may be (the common case: none of
        its keys twice or held back, and it fits); else ``False``."""
        keys = run.keys
        distinct = set(keys)  # hashed once, while the keys are fresh in the cache
        if (
            not self._in_bulk(keys, distinct)
            or len(keys) > self._builder.max_size
            or not self._builder.fits(len(run.json))
        ):
            return False
        builder = self._builder
        if builder.count and not builder.fits_more(len(keys), len(run.json)):
            self._enqueue(builder.flush(), now)  # the batch being built goes first
        if not self._busy.isdisjoint(distinct):
            return False
        if builder.count:
            # The run completes the batch being built, which goes: one request, not two.
            batches, superseded = builder.extend(run.split())
            self.report.superseded += superseded
            for batch in [*batches, builder.flush()]:
                self._enqueue(batch, now)
        else:
            self._enqueue(run, now, distinct)
        return True

    def _admit(self, item: ValidItem, now: float) -> None:
        if item.key in self._failed_keys:
            self._fail([item], self._failed_keys[item.key], None)
        elif item.key in self._busy:
            # Held back, closed or not: it fails (if it must) after the write before it,
            # so that the failures, resent in order, end with the last write.
            if self._waiting.pop(item.key, None) is not None:
                self.report.superseded += 1
            self._waiting[item.key] = item
        elif self._closed is not None and not self._stopped:
            self._fail([item], self._closed, None)
        else:  # after stop(), an item that is not sent stays unfinished: resumed later
            ready, superseded = self._builder.add(item)
            if superseded is not None:
                self.report.superseded += 1
            if ready:
                self._enqueue(ready, now)

    def _enqueue(
        self,
        items: list[ValidItem] | ValidRun,
        now: float,
        key_set: set[ItemKey] | None = None,
    ) -> None:
        batch = _Batch(items, now + self.settings.batch_deadline, key_set=key_set)
        self._busy.update(batch.keys())
        (self._unsent if self._stopped else self._ready).append(batch)

    # -- stopping early -------------------------------------------------------------

    def stop(self) -> None:
        """Read nothing more and start no new batch; batches already started go on until
        each of their items has an outcome. The report's ``first_unfinished`` then says
        where to resume."""
        if self._stopped:
            return
        self._reading = False
        self._stopped = True
        self._unsent += [batch for batch in self._ready if not batch.started]
        self._ready = deque(batch for batch in self._ready if batch.started)

    def abandon(self) -> Finished:
        """End now: what is in flight is left without an outcome (``first_unfinished``)."""
        self.stop()
        self._unsent += [*self._ready, *self._backoff, *self._in_flight.values()]
        self._in_flight.clear()
        self._ready.clear()
        self._backoff.clear()
        logger.info("send abandoned")
        return self._finish()

    def _first_unfinished(self) -> int | None:
        """The position of the first item read with no outcome, or of the first item not
        read; ``None`` when every item of the input has one."""
        positions = [item.position for batch in self._unsent for item in batch.items]
        positions += [item.position for item in self._builder.pending]
        positions += [item.position for item in self._waiting.values()]
        if not self._input_ended:
            positions.append(self._read)
        if self._unsettled is not None:
            positions.append(self._unsettled)
        return min(positions) if positions else None

    # -- answers --------------------------------------------------------------------

    def post_answered(self, post: Post, answer: Answer) -> None:
        """The endpoint answered ``post``."""
        batch = self._in_flight.get(post)
        if batch is None:
            return  # abandoned
        with self._deciding(batch.first_position):
            del self._in_flight[post]
            self._answered(batch, answer)

    def _answered(self, batch: _Batch, answer: Answer) -> None:
        self.report.requests += 1
        status = answer.status
        verdict = classify(status)
        now = self.clock()
        logger.debug("batch of %d items: HTTP %d", batch.count, status)
        if status < 500:
            self._failures_in_a_row = 0  # the endpoint is there
            self._failing_since = None
            self._endpoint_answered = now
        if verdict is Verdict.ACCEPTED:
            self._window = min(self.settings.max_in_flight, self._window + 1)
            self._items_refused = None
            self._batches_refused = None
            self._accept(batch)
        elif self._closed is not None:
            self._fail_batch(batch, self._closed, status)
        elif verdict is Verdict.RENEW_TOKEN and (
            not batch.renewed or _obtained_before(answer, batch.renewed_at)
        ):
            # A token obtained before this batch's last renewal was merely reused: its
            # refusal is another expiry, not new tokens refused (which fails the batch).
            logger.info("token refused (HTTP 401): renewing it and resending")
            batch.renewed = True
            batch.renewed_at = now
            batch.refused_token = answer.token
            self._ready.appendleft(batch)
        elif verdict is Verdict.RETRY:
            # Whatever comes next, the token was not refused again right after its renewal:
            # a 401 later in this batch's retries is a new expiry, renewed again.
            batch.renewed = False
            if status in SLOW_DOWN_STATUSES or status >= 500:
                self._slow_down(f"HTTP {status}")
            retry_after = parse_retry_after(answer.retry_after)
            if status == 429 and retry_after:
                self._paused_until = max(self._paused_until, now + retry_after)
            self._retry(batch, f"HTTP {status}", retry_after, status, now)
        elif verdict in (Verdict.SPLIT, Verdict.SPLIT_SMALLER):
            error = parse_error(status, answer.content, self._answer_secrets(answer))
            if verdict is Verdict.SPLIT_SMALLER:
                self._too_large(batch, error, status)
            else:
                self._refused(batch, error, status)
        else:
            error = parse_error(status, answer.content, self._answer_secrets(answer))
            self._fail_batch(batch, _with_status(status, error), status)
            self._count_refused_batch(status, error)

    def _answer_secrets(self, answer: Answer) -> tuple[str, ...]:
        """What must not appear in a reason drawn from ``answer``: the secrets, and the token
        the post was made with (a late answer may echo one replaced many times since).
        """
        made_with = answer.token
        own = (made_with.access_token,) if isinstance(made_with, Token) else ()
        return (*self._secrets(), *own)

    def post_failed(self, post: Post, failure: NoAnswer) -> None:
        """``post`` got no usable answer."""
        batch = self._in_flight.get(post)
        if batch is None:
            return  # abandoned
        with self._deciding(batch.first_position):
            del self._in_flight[post]
            self._not_answered(batch, failure)

    def _not_answered(self, batch: _Batch, failure: NoAnswer) -> None:
        if failure.reached_endpoint:
            self.report.requests += 1
        logger.info("batch of %d items: %s", batch.count, failure.reason)
        batch.maybe_applied = batch.maybe_applied or failure.maybe_applied
        if self._closed is not None:
            self._fail_batch(batch, self._closed, None)
        else:
            batch.renewed = False  # as after a retryable answer
            self._slow_down("no answer")
            self._retry(batch, failure.reason, failure.retry_after, None, self.clock())

    # -- outcomes -------------------------------------------------------------------

    def _retry(
        self,
        batch: _Batch,
        what: str,
        retry_after: float | None,
        status: int | None,
        now: float,
    ) -> None:
        delay = backoff_delay(batch.retries + 1, retry_after, self.rng)
        if batch.retries < self.settings.max_retries and now + delay <= batch.deadline:
            batch.retries += 1
            batch.not_before = now + delay
            self.report.retries += 1
            self._backoff.append(batch)
            logger.info(
                "retry %d of a batch of %d items in %.2f s",
                batch.retries,
                batch.count,
                delay,
            )
            return
        reason = f"not delivered after {batch.retries} retries (last: {what})"
        if batch.retries < self.settings.max_retries:
            reason += " before the batch deadline"
        self._fail_batch(batch, reason, status)
        if status is None or status >= 500:
            self._failures_in_a_row += 1
            self._last_undelivered = what
            if self._failing_since is None:
                # the outage began after the endpoint last answered, at the earliest
                self._failing_since = max(batch.first_attempt, self._endpoint_answered)
            if self._breaker_due(now):
                self._open_breaker()

    def _breaker_due(self, now: float) -> bool:
        """``failure_threshold`` batches in a row were not delivered, over an outage of
        ``BREAKER_MIN_OUTAGE`` at least: the outage may come of age after the failures, with
        no other failure to tell it."""
        armed = self._breaker_armed_since()
        return armed is not None and now - armed >= BREAKER_MIN_OUTAGE

    def _breaker_armed_since(self) -> float | None:
        """When the outage began, once ``failure_threshold`` batches in a row were not
        delivered and the send is still open; else ``None``."""
        if (
            self._closed is None
            and self._failures_in_a_row >= self.settings.failure_threshold
        ):
            return self._failing_since
        return None

    def _open_breaker(self) -> None:
        self._close(
            f"not sent: {self._failures_in_a_row} batches in a row were not "
            f"delivered (last: {self._last_undelivered})"
        )

    def _count_refused_batch(self, status: int, error: ServerError) -> None:
        """Batches refused whole, one after another, for one reason (403, 404, a 401 after
        a renewal): after a few, the rest of the send would be refused the same way."""
        signature = (status, error.code)
        refusals = self._batches_refused
        count = refusals[1] + 1 if refusals and refusals[0] == signature else 1
        self._batches_refused = (signature, count)
        if count >= self.settings.failure_threshold:
            self._close(
                f"not sent: the endpoint refused {count} batches in a row with "
                + _with_status(status, error)
            )

    def _slow_down(self, what: str) -> None:
        """Fewer batches under way: the endpoint is overloaded, failing or unreachable."""
        window = max(1, self._window // 2)
        if window < self._window:
            logger.info("%s: at most %d batches in flight for now", what, window)
        self._window = window

    def _refused(self, batch: _Batch, error: ServerError, status: int) -> None:
        items = batch.items
        signature = (status, error.code, error.field)
        index = 0 if len(items) == 1 else error.index
        if signature in self._systematic and not index:
            # The first item (or the batch, unnamed) refused for a reason every item gets.
            self._fail_batch(batch, self._systematic[signature], status)
            return
        if index is not None and 0 <= index < len(items):
            refused = items[index]
            rest = items[:index] + items[index + 1 :]
            if rest:
                self._requeue(rest, batch, signature)
            self._reject(
                refused, f"refused by the server: {error}", error.field, status
            )
            if index == 0:
                self._count_single_refusal(signature, error)
            else:
                self._items_refused = None  # the items before it were fine
            return
        half = len(items) // 2
        self._requeue(items[half:], batch, signature)
        self._requeue(items[:half], batch, signature)

    def _count_single_refusal(self, signature: Refusal, error: ServerError) -> None:
        refused = self._items_refused
        count = refused[1] + 1 if refused and refused[0] == signature else 1
        self._items_refused = (signature, count)
        if count < SYSTEMATIC_REFUSALS:
            return
        reason = (
            f"not sent: the server refused {count} items in a row for the same reason "
            f"({error})"
        )
        if error.field is not None and self._field_unknown(error):
            reason += (
                f"; field {error.field!r}: the schema registered with Contentsquare for "
                f"integrationVersion {self.settings.version.number} seems to differ "
                "from this package's"
            )
        reason += "; safe to resend once that is fixed"
        # The log says which refusal without the server's words, which may quote a value.
        status, code, field = signature
        which = ", ".join(
            [f"HTTP {status}"]
            + ([code] if code else [])
            + ([f"field {field!r}"] if field else [])
        )
        logger.warning(
            "the server refused %d items in a row for one reason (%s): the items of the "
            "search not yet tried are failed, safe to resend once that is fixed",
            count,
            which,
        )
        self._systematic[signature] = reason
        # The parts of searches for this refusal; one for another goes on.
        parts = [batch for batch in self._ready if batch.refusal == signature]
        self._ready = deque(
            batch for batch in self._ready if batch.refusal != signature
        )
        for part in parts:
            self._fail_batch(part, reason, None)

    def _field_unknown(self, error: ServerError) -> bool:
        """The server speaks of a field this version does not have, or says one is
        missing or unknown: the schemas on both sides seem to differ."""
        code = (error.code or "").upper()
        return error.field not in self.settings.version.field_types or any(
            word in code for word in ("UNKNOWN", "MISSING", "REQUIRED", "UNEXPECTED")
        )

    def _too_large(self, batch: _Batch, error: ServerError, status: int) -> None:
        items = batch.items
        if len(items) == 1:
            self._reject(
                items[0], f"refused by the server as too large: {error}", None, status
            )
            return
        half = len(items) // 2
        if half < self._builder.max_size:
            self._builder.max_size = half
            logger.info("HTTP 413: batches of at most %d items from now on", half)
            self._ready = deque(self._smaller(self._ready, half))
        signature = (status, error.code, error.field)
        self._requeue(items[half:], batch, signature)
        self._requeue(items[:half], batch, signature)

    def _smaller(self, batches: Iterable[_Batch], size: int) -> Iterable[_Batch]:
        """Batches not sent yet, cut to ``size`` items at most."""
        for batch in batches:
            if batch.started or batch.count <= size:
                yield batch
                continue
            for start in range(0, len(batch.items), size):
                yield _Batch(
                    batch.items[start : start + size],
                    batch.deadline,
                    maybe_applied=batch.maybe_applied,
                )

    def _requeue(
        self,
        items: list[ValidItem],
        parent: _Batch,
        refusal: Refusal,
    ) -> None:
        """A part of a refused batch goes first, as a new request (not a retry)."""
        part = _Batch(
            items,
            parent.deadline,
            from_refusal=True,
            refusal=refusal,
            started=True,
            maybe_applied=parent.maybe_applied,
        )
        self._ready.appendleft(part)

    def _accept(self, batch: _Batch) -> None:
        self.report.accepted += batch.count
        if self._waiting:
            self._free(batch.items)
        else:
            self._busy.difference_update(batch.keys())

    def _reject(
        self, item: ValidItem, reason: str, field: str | None, status: int | None
    ) -> None:
        self._record(ItemFailure(item.position, item.item, reason, field, status))
        self._free([item])

    def _fail_batch(self, batch: _Batch, reason: str, status: int | None) -> None:
        """``_fail`` for the items of ``batch``, which may still reach the server if one
        of its attempts got no answer after it may have reached it."""
        self._fail(batch.items, reason, status, maybe_applied=batch.maybe_applied)

    def _fail(
        self,
        items: list[ValidItem],
        reason: str,
        status: int | None,
        *,
        maybe_applied: bool = False,
    ) -> None:
        """``items`` are ``failed``; no later write of their keys is sent in this send
        (resending the failures in order must end with the last write). An item with a
        later write of its key waiting is ``superseded`` instead, and that write goes;
        unless ``maybe_applied``: it may still reach the server, after anything sent now.
        """
        held_back = _AFTER_DOUBTFUL_WRITE if maybe_applied else _AFTER_FAILED_WRITE
        for item in items:
            if item.key in self._waiting and not maybe_applied:
                # A later write of this key goes next: resending this one would undo it.
                self.report.superseded += 1
                continue
            self._record(
                ItemFailure(item.position, item.item, reason, None, status, "failed")
            )
            if self._closed is None:  # else every later item fails anyway
                self._failed_keys.setdefault(item.key, held_back)
        self._free(items)
        if len(self._failed_keys) >= MAX_FAILED_KEYS and self._closed is None:
            self._close(
                f"{MAX_FAILED_KEYS:,} writes failed in this send: the rest fails too "
                "(each later write of their keys would have to be held back)"
            )

    def _record(self, failure: ItemFailure) -> None:
        if failure.outcome == "rejected":
            self.report.rejected_count += 1
            outcomes = self.report.rejected
        else:
            self.report.failed_count += 1
            outcomes = self.report.failed
        if self._on_failure is None or self._on_failure_error is not None:
            outcomes.append(failure)
            return
        try:
            self._on_failure(failure)
        except BaseException as error:  # Ctrl-C in the callback too
            # Raised in the middle of deciding a batch or a chunk: the decisions go on
            # (each failure from now on kept in the report), the send ends after them.
            self._on_failure_error = error
            outcomes.append(failure)

    def _free(self, items: list[ValidItem]) -> None:
        """These items have their outcome: a later write of their keys may go now.

        A key is in one unfinished batch at most (later writes wait), so an item's outcome
        frees its key.
        """
        if not self._waiting:
            self._busy.difference_update(item.key for item in items)
            return
        now = self.clock()
        for item in items:
            self._busy.discard(item.key)
            later = self._waiting.pop(item.key, None)
            if later is not None:
                self._admit(later, now)

    def _close(self, reason: str) -> None:
        """Fail everything that has no outcome and is not in flight, and every item read
        from now on."""
        logger.warning("%s", reason)
        self._closed = reason
        parts = [*self._ready, *self._backoff]
        positions = [part.first_position for part in parts]
        positions += [item.position for item in self._builder.pending[:1]]  # in order
        with self._deciding(min(positions) if positions else None):
            self._ready.clear()
            self._backoff.clear()
            for part in parts:
                self._fail_batch(part, reason, None)
            # Once stopped, they stay unfinished: first_unfinished covers them.
            if not self._stopped:
                self._fail(self._builder.flush(), reason, None)
        # A later write held back by one in flight fails after it (see _free), so that
        # the failures, resent in order, end with the last write.


def _obtained_before(answer: Answer, moment: float) -> bool:
    obtained = answer.token_obtained_at
    return obtained is not None and obtained < moment


def _with_status(status: int, error: ServerError) -> str:
    """``HTTP <status>: <explanation>``, the status once (an answer with no error body
    is explained by its status and text already)."""
    text = str(error)
    status_text = f"HTTP {status}"
    if text == status_text or text.startswith(status_text + ":"):
        return text
    return f"{status_text}: {text}"


class SendControl:
    """Stops a send from outside it (a signal handler, another thread or task).

    ``stop()``: read nothing more and start no new batch, let what is in flight finish.
    ``abandon()``: end now, leaving what is in flight without an outcome. Either way the
    report's ``first_unfinished`` says where to resume the input.
    """

    POLL_SECONDS = 0.2
    """How often a waiting client looks at the control."""

    def __init__(self) -> None:
        self.stopping = False
        self.abandoning = False

    def stop(self) -> None:
        self.stopping = True

    def abandon(self) -> None:
        self.stopping = True
        self.abandoning = True

    def steer(self, plan: SendPlan) -> Finished | None:
        """Pass what was asked on to ``plan``; its end, when abandoned."""
        if self.abandoning:
            return plan.abandon()
        if self.stopping:
            plan.stop()
        return None
