"""The send plan without a network: scripted answers in, the actions it asks for and the
report it returns out (the way h11 tests its connection state machine)."""

from __future__ import annotations

import itertools
import json
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .. import sending
from ..batching import BatchBuilder
from ..integration import LATEST
from ..report import ItemFailure
from ..sending import (
    SYSTEMATIC_REFUSALS,
    VALIDATION_CHUNK,
    Action,
    Answer,
    Finished,
    NoAnswer,
    Post,
    ReadItems,
    SendPlan,
    SendSettings,
    Wait,
)
from ..server_text import clean
from ..token import Token
from ..validation import ValidItem
from .test_models import VALID_WIRE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LongestWait(random.Random):
    """Full jitter at its top: each backoff is exactly its upper bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


def item(user: int | str, number: int = 1, **enrichment: Any) -> dict[str, Any]:
    return {
        "userId": f"user-{user}",
        "sessionNumber": 1,
        "enrichmentNumber": number,
        "enrichment": {**VALID_WIRE, **enrichment},
    }


def users(post: Post) -> list[str]:
    return [entry["userId"] for entry in json.loads(post.body)["enrichments"]]


class Run:
    """Drives a plan: answers ``ReadItems`` from ``items``, collects what else it asks."""

    def __init__(self, items: list[Any], **settings: Any) -> None:
        self.clock = Clock()
        defaults: dict[str, Any] = {
            "version": LATEST,
            "project_id": 42,
            "max_batch_size": 500,
            "max_batch_bytes": 1_000_000,
            "max_retries": 5,
            "batch_deadline": 10_000.0,
            "max_in_flight": 4,
        }
        defaults.update(settings)
        self.plan = SendPlan(SendSettings(**defaults), LongestWait(), self.clock)
        self.source: Iterator[Any] = iter(items)
        self.reads = 0

    def next(self) -> Action:
        while True:
            action = self.plan.next_action()
            if not isinstance(action, ReadItems):
                return action
            self.reads += 1
            self.plan.items_read(list(itertools.islice(self.source, action.count)))

    def posts(self) -> tuple[list[Post], Action]:
        """Every post the plan starts now, and the action after them."""
        posts = []
        while isinstance(action := self.next(), Post):
            posts.append(action)
        return posts, action

    def answer(self, post: Post, status: int = 200, **body: Any) -> None:
        headers = body.pop("retry_after", None)
        token, obtained_at = body.pop("token", None), body.pop("obtained_at", None)
        self.plan.post_answered(
            post, Answer(status, json.dumps(body).encode(), headers, token, obtained_at)
        )

    def accept_all(self) -> tuple[list[int], Finished]:
        """Accept each post as it comes: the sizes of the posts, and the end."""
        sizes = []
        while not isinstance(action := self.next(), Finished):
            assert isinstance(action, Post)
            sizes.append(len(users(action)))
            self.answer(action)
        return sizes, action

    def finish(self, status: int = 200) -> Finished:
        """Answer every post with ``status`` until the plan finishes."""
        while True:
            action = self.next()
            if isinstance(action, Finished):
                return action
            if isinstance(action, Post):
                self.answer(action, status)
            else:
                assert isinstance(action, Wait) and action.until is not None
                self.clock.now = action.until


def test_batches_hold_at_most_max_batch_size_items() -> None:
    run = Run([item(n) for n in range(7)], max_batch_size=3)
    posts, after = run.posts()
    assert [users(post) for post in posts] == [
        ["user-0", "user-1", "user-2"],
        ["user-3", "user-4", "user-5"],
        ["user-6"],
    ]
    assert isinstance(after, Wait)
    body = json.loads(posts[0].body)
    assert (body["integrationVersion"], body["projectId"]) == (LATEST.number, 42)
    assert body["enrichments"][0]["enrichmentNumber"] == 1
    for post in posts:
        run.answer(post)
    finished = run.next()
    assert isinstance(finished, Finished)
    assert (finished.report.accepted, finished.report.requests) == (7, 3)


def test_batches_hold_at_most_max_batch_bytes() -> None:
    def size(document: Any) -> int:
        return len(
            json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        )

    one = size(item(0))
    envelope = size(
        {"integrationVersion": LATEST.number, "projectId": 42, "enrichments": []}
    )
    run = Run([item(n) for n in range(5)], max_batch_bytes=envelope + 2 * one + 1)
    posts, _ = run.posts()
    assert [len(users(post)) for post in posts] == [2, 2, 1]
    assert all(len(post.body) <= envelope + 2 * one + 1 for post in posts)


def test_an_item_too_big_for_any_batch_is_rejected_without_a_request() -> None:
    run = Run([item(0)], max_batch_bytes=60)
    finished = run.finish()
    assert finished.report.requests == 0
    [failure] = finished.report.rejected
    assert "too big for a batch" in failure.reason


def test_invalid_items_are_rejected_locally_with_every_error_named() -> None:
    bad = {"userId": "", "sessionNumber": 0, "enrichment": {}}
    run = Run([item(0), bad, "not an item"])
    finished = run.finish()
    assert finished.report.accepted == 1
    first, second = finished.report.rejected
    assert (first.index, first.field) == (1, "userId")
    assert "sessionNumber" in first.reason
    required = [name for name in VALID_WIRE if name not in LATEST.optional_fields]
    assert all(name in first.reason for name in required)
    assert second.index == 2 and "mapping" in second.reason


def test_retries_wait_longer_each_time_and_retry_after_is_a_floor() -> None:
    run = Run([item(0)], max_retries=3)
    waits: list[float] = []
    [post], _ = run.posts()
    for status, retry_after in ((503, None), (500, "7"), (502, None)):
        run.answer(post, status, retry_after=retry_after)
        action = run.next()
        assert isinstance(action, Wait) and action.until is not None
        waits.append(action.until - run.clock.now)
        run.clock.now = action.until
        again = run.next()
        assert isinstance(again, Post) and users(again) == ["user-0"]
        post = again
    assert waits == [0.5, 7.0, 2.0]
    run.answer(post)
    finished = run.next()
    assert isinstance(finished, Finished)
    assert (finished.report.accepted, finished.report.retries) == (1, 3)


def test_after_max_retries_the_items_fail_with_the_last_error() -> None:
    run = Run([item(0), item(1)], max_retries=1)
    finished = run.finish(status=500)
    assert finished.report.retries == 1 and finished.report.requests == 2
    assert [f.index for f in finished.report.failed] == [0, 1]
    assert (
        finished.report.failed[0].reason
        == "not delivered after 1 retries (last: HTTP 500)"
    )
    assert finished.report.failed[0].status == 500


def test_the_batch_deadline_stops_retries_that_would_end_after_it() -> None:
    run = Run([item(0)], batch_deadline=1.0)
    [post], _ = run.posts()
    assert post.deadline == run.clock.now + 1.0
    run.clock.now += 0.6
    run.answer(post, 503)  # the next wait (0.5 s) would end after the deadline
    finished = run.next()
    assert isinstance(finished, Finished)
    [failure] = finished.report.failed
    assert failure.reason.endswith("before the batch deadline")


def test_a_401_renews_the_token_once_then_fails() -> None:
    run = Run([item(0)])
    [post], _ = run.posts()
    assert post.refused_token is None
    run.answer(post, 401, token="first")
    again = run.next()
    assert isinstance(again, Post) and again.refused_token == "first"
    run.answer(again, 401, token="second")
    finished = run.next()
    assert isinstance(finished, Finished)
    assert finished.report.retries == 0
    assert [f.status for f in finished.report.failed] == [401]


def test_a_second_401_renews_again_when_its_token_predates_the_renewal() -> None:
    """The batch was resent with a token cached before its first 401 (not one obtained
    for it), which expired in turn: that is another expiry, renewed again. A token
    obtained after the renewal and refused still fails the batch."""
    run = Run([item(0)])
    [post], _ = run.posts()
    run.clock.now = 100.0
    run.answer(post, 401, token="first", obtained_at=10.0)
    again = run.next()
    assert isinstance(again, Post)
    run.clock.now = 101.0
    run.answer(again, 401, token="cached", obtained_at=50.0)  # obtained before 100.0
    renewed = run.next()
    assert isinstance(renewed, Post) and renewed.refused_token == "cached"
    run.clock.now = 102.0
    run.answer(renewed, 401, token="fresh", obtained_at=101.5)  # obtained after 101.0
    finished = run.next()
    assert isinstance(finished, Finished)
    assert [f.status for f in finished.report.failed] == [401]
    assert finished.report.retries == 0


def test_a_refused_batch_is_halved_until_the_refused_item_is_found() -> None:
    run = Run([item(n) for n in range(8)])
    requests = 0
    while not isinstance(action := run.next(), Finished):
        assert isinstance(action, Post)
        requests += 1
        if "user-5" in users(action):
            run.answer(action, 400, errorCode="BAD_VALUE", errorMessage="refused")
        else:
            run.answer(action)
    assert action.report.accepted == 7
    [refused] = action.report.rejected
    assert (refused.index, refused.status) == (5, 400)
    assert refused.reason == "refused by the server: BAD_VALUE: refused"
    assert requests == 7  # 8 → 4+4 → 2+2 → 1+1


def test_the_index_in_an_error_body_takes_that_item_out_at_once() -> None:
    run = Run([item(n) for n in range(8)])
    [post], _ = run.posts()
    run.answer(
        post, 400, errorCode="BAD", errorMessage="no", index=3, field="call_duration"
    )
    rest = run.next()
    assert isinstance(rest, Post)
    assert "user-3" not in users(rest) and len(users(rest)) == 7
    run.answer(rest)
    finished = run.next()
    assert isinstance(finished, Finished)
    [refused] = finished.report.rejected
    assert (refused.index, refused.field) == (3, "call_duration")
    assert finished.report.accepted == 7


@pytest.mark.parametrize("with_index", [False, True])
def test_a_systematic_refusal_costs_a_few_requests_not_one_per_item(
    with_index: bool, caplog: pytest.LogCaptureFixture
) -> None:
    run = Run([item(n) for n in range(500)])
    requests = 0
    while not isinstance(action := run.next(), Finished):
        assert isinstance(action, Post)
        requests += 1
        extra = {"index": 0} if with_index else {}
        run.answer(
            action,
            400,
            errorCode="UNKNOWN_FIELD",
            field="call_lenght",
            errorMessage="'John Smith' is not a field",  # a server may quote a value
            **extra,
        )
    report = action.report
    # one warning, naming the refusal but not in the server's words
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert warning.getMessage().startswith(
        "the server refused 4 items in a row for one reason (HTTP 400, UNKNOWN_FIELD, "
        "field 'call_lenght')"
    )
    assert "John Smith" not in caplog.text
    assert requests <= 30
    assert len(report.rejected) == SYSTEMATIC_REFUSALS
    assert len(report.rejected) + len(report.failed) == 500
    reason = report.failed[0].reason
    assert "refused 4 items in a row for the same reason" in reason
    assert "schema registered with Contentsquare" in reason


def test_413_splits_the_batch_and_makes_later_batches_smaller() -> None:
    run = Run([item(n) for n in range(12)], max_batch_size=8, max_in_flight=1)
    [first], _ = run.posts()
    run.answer(first, 413)
    sizes, finished = run.accept_all()
    assert sizes == [4, 4, 4]
    assert finished.report.accepted == 12


def test_what_was_read_before_the_input_failed_is_sent_then_the_error_given() -> None:
    run = Run([])
    assert isinstance(run.plan.next_action(), ReadItems)
    error = RuntimeError("the file went away")
    run.plan.input_failed(error, [item(0), item(1)])
    [post], _ = run.posts()
    assert users(post) == ["user-0", "user-1"]
    run.answer(post)
    finished = run.next()
    assert isinstance(finished, Finished)
    assert finished.error is error and finished.report.accepted == 2


def test_several_batches_are_in_flight_and_answered_in_any_order() -> None:
    run = Run([item(n) for n in range(10)], max_batch_size=1, max_in_flight=3)
    posts, after = run.posts()
    assert len(posts) == 3 and isinstance(after, Wait)
    run.answer(posts[2])
    more, _ = run.posts()
    assert len(more) == 1  # one answer, one free place
    assert run.reads == 1  # the input is read a chunk at a time, not all at once


def test_429_and_503_halve_the_batches_in_flight_and_success_grows_them_back() -> None:
    run = Run([item(n) for n in range(40)], max_batch_size=1, max_in_flight=4)
    posts, _ = run.posts()
    run.answer(posts[0], 503)
    run.answer(posts[1], 503)
    # 4 → 2 → 1 batches in flight; two are still in flight, so none may start
    assert run.posts()[0] == []
    run.answer(posts[2])  # grows back to 2: one in flight, two waiting for their retry
    assert run.posts()[0] == []
    run.answer(posts[3])  # grows to 3: two under way, room for one more
    assert len(run.posts()[0]) == 1


def test_a_later_write_never_joins_a_batch_sent_within_the_same_chunk() -> None:
    # "k" waits in the batch being built; the next chunk fills that batch (which goes)
    # and writes "k" again further on: that write must wait for the batch's outcome.
    items = [item(f"u{n}") for n in range(499)] + [item("k")]
    items += [item(f"v{n}") for n in range(150)] + [item("k")]
    items += [item(f"w{n}") for n in range(349)]
    run = Run(items, max_batch_size=300, max_in_flight=16)
    posts, _ = run.posts()
    with_k = [post for post in posts if "user-k" in users(post)]
    assert len(with_k) == 1  # the second write waits
    for post in posts:
        run.answer(post)
    finished = run.finish()
    assert finished.report.accepted == len(items)


def test_a_429_with_retry_after_holds_back_every_new_post() -> None:
    run = Run([item(n) for n in range(8)], max_batch_size=1, max_in_flight=2)
    posts, _ = run.posts()
    run.answer(posts[0], 429, retry_after="5")
    run.answer(posts[1])
    held, action = run.posts()
    assert held == [] and isinstance(action, Wait)
    assert action.until == run.clock.now + 5
    run.clock.now += 5
    assert run.posts()[0]


# A field whose value tells the writes of one key apart (a BOOL field, when the schema
# has no other, tells each write from the one before and the one after).
MARKED = next(
    (name for name, kind in LATEST.field_types.items() if kind != "BOOL"),
    next(iter(LATEST.field_types)),
)


def write(user: str, number: int) -> dict[str, Any]:
    marks: dict[str, Any] = {
        "STRING": f"write {number}",
        "INT": number,
        "FLOAT": number + 0.5,
        "DATETIME": f"2024-01-0{number}T00:00:00Z",
        "BOOL": number % 2 == 1,
    }
    return item(user, **{MARKED: marks[LATEST.field_types[MARKED]]})


def test_a_key_is_never_in_two_posts_in_flight_and_the_last_write_goes_last() -> None:
    writes = [
        write("a", 1),
        item("b"),
        item("c"),
        write("a", 2),
        item("d"),
        write("a", 3),
    ]
    run = Run(writes, max_batch_size=2, max_in_flight=4)
    first, _ = run.posts()
    in_flight = [users(post) for post in first]
    assert in_flight == [["user-a", "user-b"], ["user-c", "user-d"]]
    run.answer(first[0])
    [later], _ = run.posts()
    assert users(later) == ["user-a"]
    assert json.loads(later.body)["enrichments"][0] == write("a", 3)
    run.answer(first[1])
    run.answer(later)
    finished = run.next()
    assert isinstance(finished, Finished)
    assert (finished.report.accepted, finished.report.superseded) == (5, 1)


def test_after_a_few_batches_are_not_delivered_the_rest_fails_at_once() -> None:
    run = Run(
        [item(n) for n in range(2000)],
        max_batch_size=100,
        max_retries=0,
        max_in_flight=2,
        failure_threshold=3,
    )
    requests = 0
    while not isinstance(action := run.next(), Finished):
        if isinstance(action, Post):
            requests += 1
            run.clock.now += 10  # each attempt takes a while: the outage lasts
            run.plan.post_failed(
                action, NoAnswer("http://127.0.0.1:9/v1/enrichments: refused")
            )
    report = action.report
    assert requests == 3
    assert report.failed_count == 2000 and report.accepted == 0
    reason = report.failed[-1].reason
    assert "3 batches in a row were not delivered" in reason
    assert "127.0.0.1:9" in reason


@pytest.mark.parametrize("maybe_applied", [True, False])
def test_a_write_that_failed_and_may_still_land_holds_back_the_later_writes_of_its_key(
    maybe_applied: bool,
) -> None:
    """Write 1 of a key times out (the server may still apply it, later), again on its
    retry: sending write 2 then could let write 1 land last. Write 2 fails too, and so
    does any later write of the key in this send; both go to the failures, in order.
    A write that surely never reached the server (no connection) leaves write 2 free."""
    first, later = write("k", 1), write("k", 2)
    run = Run([first, item("x"), later], max_batch_size=1, max_retries=1)
    posts, _ = run.posts()
    assert [users(post) for post in posts] == [["user-k"], ["user-x"]]
    run.answer(posts[1])
    no_answer = NoAnswer("read timed out", maybe_applied=maybe_applied)
    run.plan.post_failed(posts[0], no_answer)
    wait = run.next()
    assert isinstance(wait, Wait) and wait.until is not None
    run.clock.now = wait.until
    retry = run.next()
    assert isinstance(retry, Post) and users(retry) == ["user-k"]
    run.plan.post_failed(retry, no_answer)
    sent = []
    while not isinstance(action := run.next(), Finished):
        assert isinstance(action, Post)
        sent.append(json.loads(action.body)["enrichments"])
        run.answer(action)
    report = action.report
    if maybe_applied:
        assert sent == []  # write 2 never goes
        assert [failure.item for failure in report.failed] == [first, later]
        assert "may still reach the server" in report.failed[1].reason
    else:
        assert sent == [[later]]
        assert report.superseded == 1 and report.failed == []
        assert report.accepted == 2


def test_a_doubtful_write_whose_retry_outlives_its_deadline_holds_back_its_key() -> (
    None
):
    """Write 1 times out (it may still land); its retry waits past the batch deadline
    and fails there, not after its retries: write 2 must not go all the same."""
    first, later = write("k", 1), write("k", 2)
    run = Run([first, item("x"), later], max_batch_size=1, batch_deadline=5.0)
    posts, _ = run.posts()
    run.answer(posts[1])
    run.plan.post_failed(posts[0], NoAnswer("read timed out"))
    run.clock.now += 10  # the retry's batch deadline passes while it waits
    sent = []
    while not isinstance(action := run.next(), Finished):
        if isinstance(action, Post):
            sent.append(users(action))
            run.answer(action)
        else:
            assert isinstance(action, Wait) and action.until is not None
            run.clock.now = action.until
    assert sent == []
    assert [failure.item for failure in action.report.failed] == [first, later]


def test_a_later_write_read_after_its_key_failed_is_held_back_too() -> None:
    """Write 1 fails (503 after its retries) before write 2 is even read: sending write
    2 would make the failures unsafe to resend (write 1, resent, would undo it). Write 2
    fails unsent, after write 1 in the failures: resent in order, they end with it."""
    first, later = write("k", 1), write("k", 2)
    run = Run([], max_retries=0)
    plan = run.plan
    assert isinstance(plan.next_action(), ReadItems)
    plan.items_read([first], paused=True)  # a pipe with nothing more for now
    post = plan.next_action()
    assert isinstance(post, Post) and users(post) == ["user-k"]
    assert isinstance(plan.next_action(), ReadItems)
    run.answer(post, 503)
    plan.items_read([later])  # and the input ends
    finished = plan.next_action()
    assert isinstance(finished, Finished)
    assert [failure.item for failure in finished.report.failed] == [first, later]
    assert "an earlier write of this key failed" in finished.report.failed[1].reason


def test_a_send_with_too_many_failed_writes_to_remember_fails_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each failed write's key is remembered for the rest of the send; past
    MAX_FAILED_KEYS the send fails the rest at once, so memory stays bounded however
    many items fail."""
    monkeypatch.setattr(sending, "MAX_FAILED_KEYS", 3)
    run = Run([item(n) for n in range(10)], max_batch_size=1, max_retries=0)
    sent = []
    while not isinstance(action := run.next(), Finished):
        assert isinstance(action, Post)
        sent.append(users(action))
        run.answer(action, 503)
    report = action.report
    assert report.failed_count == 10 and report.accepted == 0
    assert len(sent) < 10  # the rest failed unsent
    assert "3 writes failed in this send" in report.failed[-1].reason


def test_the_cap_reached_while_queued_batches_expire_closes_the_send_cleanly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches queued behind a Retry-After pause outlive their deadline together; the
    first to fail reaches MAX_FAILED_KEYS and closes the send, which fails the others:
    the expiry goes on without failing them twice (it raised ValueError)."""
    monkeypatch.setattr(sending, "MAX_FAILED_KEYS", 6)
    run = Run(
        [item(n) for n in range(14)],
        max_batch_size=2,
        max_retries=0,
        batch_deadline=10.0,
        max_in_flight=1,
        failure_threshold=10**9,
    )
    [post], _ = run.posts()
    run.answer(post, 503)
    [post], _ = run.posts()
    run.answer(post, 429, retry_after="100")  # 4 failed keys, and a pause
    # the first batch to expire makes 6, the cap: the send closes, failing the others
    run.clock.now += 20  # the queued batches' deadline passes during the pause
    finished = run.finish()
    report = finished.report
    assert report.failed_count == 14 and report.accepted == 0
    assert len({failure.index for failure in report.failed}) == 14  # each once


class Full(Exception):
    """What a caller's on_failure callback raises in these tests."""


def raising(error: BaseException) -> Callable[[ItemFailure], None]:
    def on_failure(failure: ItemFailure) -> None:
        raise error

    return on_failure


def test_a_callback_raising_lets_what_is_in_flight_finish_then_ends_with_its_error() -> (
    None
):
    """Post 1 refused, the callback raises: nothing more is read or started, post 2 still
    has its answer (it counts), then the send ends with the callback's error."""
    run = Run([item(n) for n in range(4)], max_batch_size=1)
    error = Full()
    run.plan = SendPlan(
        run.plan.settings, LongestWait(), run.clock, on_failure=raising(error)
    )
    posts, _ = run.posts()
    run.answer(posts[0], 403)
    wait = run.next()
    assert isinstance(wait, Wait)  # for the posts in flight: none is dropped
    for post in posts[1:]:
        run.answer(post)
    finished = run.next()
    assert isinstance(finished, Finished) and finished.error is error
    assert finished.report.accepted == len(posts) - 1
    assert finished.report.failed_count == 1 and len(finished.report.failed) == 1


def test_a_callback_error_raised_when_the_send_deadline_closes_the_send_is_not_lost() -> (
    None
):
    run = Run([item(0), item(1)], max_batch_size=1, send_deadline=5.0)
    error = Full()
    run.plan = SendPlan(
        run.plan.settings, LongestWait(), run.clock, on_failure=raising(error)
    )
    posts, _ = run.posts()
    for post in posts:
        run.answer(post, 503, retry_after="100")
    run.clock.now += 10  # the send deadline passes while both wait to be retried
    finished = run.next()
    assert isinstance(finished, Finished) and finished.error is error
    assert finished.report.failed_count == 2 and len(finished.report.failed) == 2


def test_ctrl_c_in_the_callback_still_gives_every_item_of_the_batch_its_outcome() -> (
    None
):
    """A KeyboardInterrupt raised by the callback on the first of 10 refused items: the
    other 9 still get theirs, then the send ends at once with the interrupt."""
    run = Run([item(n) for n in range(10)])
    interrupt = KeyboardInterrupt()
    run.plan = SendPlan(
        run.plan.settings, LongestWait(), run.clock, on_failure=raising(interrupt)
    )
    [post], _ = run.posts()
    run.answer(post, 403)
    finished = run.next()
    assert isinstance(finished, Finished) and finished.error is interrupt
    assert (
        finished.report.failed_count == 10 and finished.report.first_unfinished is None
    )


def test_the_breaker_opens_when_the_outage_comes_of_age_not_at_the_next_failure() -> (
    None
):
    run = Run([item(n) for n in range(2000)], max_batch_size=100, max_retries=0)
    posts, _ = run.posts()
    for post in posts[:3]:  # three batches fail at once, moments after they were sent
        run.plan.post_failed(
            post, NoAnswer("http://127.0.0.1:9/v1/enrichments: refused")
        )
    more, wait = run.posts()  # the outage is young: the send goes on
    assert isinstance(wait, Wait)
    assert wait.until == 1000.0 + sending.BREAKER_MIN_OUTAGE  # when it comes of age
    run.clock.now = wait.until
    after, finished = run.posts()
    assert after == []  # no further request: what is in flight ends the send
    for post in [*posts[3:], *more]:
        run.plan.post_failed(post, NoAnswer("refused"))
    finished = run.next()
    assert isinstance(finished, Finished) and finished.report.accepted == 0
    assert finished.report.failed_count == 2000
    reason = finished.report.failed[-1].reason
    assert "3 batches in a row were not delivered" in reason and "127.0.0.1:9" in reason


def test_a_failure_below_the_threshold_sets_no_timer_in_the_past() -> None:
    # A Wait until a time already past would have the shells ask again at once, forever.
    run = Run([item(n) for n in range(300)], max_batch_size=100, max_retries=0)
    posts, _ = run.posts()
    run.plan.post_failed(posts[0], NoAnswer("refused"))  # one: below the threshold
    run.clock.now += 60  # long after, the others still in flight
    wait = run.next()
    assert isinstance(wait, Wait)
    assert wait.until is None or wait.until > run.clock.now


def test_the_send_deadline_fails_what_has_no_outcome_by_then() -> None:
    run = Run([item(n) for n in range(3)], max_batch_size=1, send_deadline=30.0)
    posts, _ = run.posts()
    assert all(post.deadline <= run.clock.now + 30 for post in posts)
    run.answer(posts[0])
    run.answer(posts[1], 503)
    action = run.next()
    assert isinstance(action, Wait)
    run.clock.now += 30
    run.plan.post_failed(posts[2], NoAnswer("timeout"))
    finished = run.next()
    assert isinstance(finished, Finished)
    assert finished.report.accepted == 1
    assert [f.index for f in finished.report.failed] == [1, 2]
    assert "send deadline" in finished.report.failed[0].reason


def test_stop_lets_started_batches_finish_and_says_where_to_resume() -> None:
    items = [item(n) for n in range(VALIDATION_CHUNK + 10)]
    run = Run(items, max_batch_size=100, max_in_flight=2)
    posts, _ = run.posts()
    run.plan.stop()
    assert run.posts()[0] == []
    for post in posts:
        run.answer(post)
    finished = run.next()
    assert isinstance(finished, Finished)
    assert finished.report.accepted == 200
    assert finished.report.first_unfinished == 200
    assert not finished.report.ok


def test_abandon_leaves_what_is_in_flight_without_an_outcome() -> None:
    run = Run([item(n) for n in range(10)], max_batch_size=5)
    posts, _ = run.posts()
    run.answer(posts[1])
    finished = run.plan.abandon()
    assert finished.report.accepted == 5
    assert finished.report.first_unfinished == 0
    run.answer(posts[0])  # a late answer changes nothing
    assert finished.report.accepted == 5


def test_on_failure_gets_each_failure_as_it_is_decided() -> None:
    received: list[ItemFailure] = []
    run = Run([item(0), {"userId": ""}, item(1)], max_retries=0)
    run.plan = SendPlan(
        run.plan.settings, LongestWait(), run.clock, on_failure=received.append
    )
    [post], _ = run.posts()
    assert [failure.index for failure in received] == [1]
    run.answer(post, 500)
    finished = run.next()
    assert isinstance(finished, Finished)
    assert [failure.index for failure in received] == [1, 0, 2]
    report = finished.report
    assert (report.rejected, report.failed) == ([], [])
    assert (report.rejected_count, report.failed_count) == (1, 2)


def test_server_text_is_cleaned_of_secrets_and_control_characters() -> None:
    run = Run([item(0)])
    run.plan = SendPlan(
        run.plan.settings, LongestWait(), run.clock, secrets=lambda: ("s3cret-token",)
    )
    [post], _ = run.posts()
    echoed = "Bearer s3cret-token\x1b[31m\r\nFAKE LOG LINE\u202e" + "x" * 500
    run.answer(post, 400, errorCode="BAD", errorMessage=echoed)
    finished = run.next()
    assert isinstance(finished, Finished)
    [refused] = finished.report.rejected
    assert "s3cret-token" not in refused.reason and "[redacted]" in refused.reason
    assert refused.reason.isprintable() and len(refused.reason) < 300


def test_the_token_a_post_was_made_with_is_redacted_from_its_answer() -> None:
    """An answer may come after the token it was sent with has been replaced many times
    (the client remembers only the last few): that token is redacted all the same."""
    run = Run([item(0)])
    [post], _ = run.posts()
    made_with = Token("old-token-4711", "https://e.contentsquare.com", 3600.0, 0.0)
    run.answer(
        post,
        400,
        errorCode="BAD",
        errorMessage="Bearer old-token-4711",
        token=made_with,
    )
    finished = run.next()
    assert isinstance(finished, Finished)
    [refused] = finished.report.rejected
    assert "old-token-4711" not in refused.reason and "[redacted]" in refused.reason


def test_a_secret_echoed_with_invisible_characters_inside_is_still_redacted() -> None:
    """Dropping a zero-width space or an escape from inside an echoed secret puts it
    back together: it is looked for after."""
    secrets = ("s3cret-token", "client\tsecret")
    for echoed in ("s\u200b3cret-token", "s3cret\x1b-token", "client\u200b secret"):
        cleaned = clean(f"was {echoed}!", secrets)
        assert cleaned == "was [redacted]!", cleaned


def test_after_a_413_batches_built_but_not_sent_are_cut_too() -> None:
    run = Run([item(n) for n in range(24)], max_batch_size=8, max_in_flight=1)
    [first], _ = run.posts()
    run.answer(first, 413)
    assert run.accept_all()[0] == [4, 4, 4, 4, 4, 4]


def test_a_401_after_retries_of_a_renewed_batch_renews_again() -> None:
    run = Run([item(0)])
    [post], _ = run.posts()
    run.answer(post, 401, token="first")
    again = run.next()
    assert isinstance(again, Post)
    run.answer(again, 503)  # then a long retry, during which the new token expires too
    wait = run.next()
    assert isinstance(wait, Wait) and wait.until is not None
    run.clock.now = wait.until
    retried = run.next()
    assert isinstance(retried, Post)
    run.answer(retried, 401, token="second")
    renewed = run.next()
    assert isinstance(renewed, Post) and renewed.refused_token == "second"
    run.answer(renewed)
    finished = run.next()
    assert isinstance(finished, Finished) and finished.report.accepted == 1


def test_a_short_outage_costs_retries_not_the_send() -> None:
    run = Run([item(n) for n in range(600)], max_batch_size=100, max_retries=0)
    posts, _ = run.posts()
    for post in posts[:3]:  # three batches fail at once, moments after they were sent
        run.plan.post_failed(post, NoAnswer("refused"))
    for post in posts[3:]:  # and the endpoint is back
        run.answer(post)
    # The breaker stayed closed (the outage was younger than its minimum): the rest goes.
    finished = run.finish()
    assert finished.report.failed_count == 300 and finished.report.accepted == 300


def test_batches_refused_whole_for_one_reason_end_the_send() -> None:
    run = Run([item(n) for n in range(2000)], max_batch_size=100, failure_threshold=3)
    requests = 0
    while not isinstance(action := run.next(), Finished):
        assert isinstance(action, Post)
        requests += 1
        run.answer(action, 403, errorCode="FORBIDDEN", errorMessage="not your project")
    assert requests <= 3 + 4  # the third refusal, and what was in flight with it
    assert action.report.failed_count == 2000
    assert "refused 3 batches in a row with HTTP 403" in action.report.failed[-1].reason


def test_an_item_too_big_never_frees_the_key_of_a_write_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = ("user-k", 1, 1)
    chunks = iter(
        [
            [
                ValidItem(0, "write 1", key, b'{"w":1}'),
                ValidItem(1, "a", ("a", 1, 1), b"{}"),
            ],
            [
                ValidItem(2, "write 2", key, b'{"w":2}'),
                ValidItem(3, "write 3", key, b"x" * 5_000),  # too big for any batch
                ValidItem(4, "b", ("b", 1, 1), b"{}"),
            ],
        ]
    )
    monkeypatch.setattr(
        sending, "validate_chunk", lambda *arguments, **options: next(chunks)
    )
    run = Run(
        [object()] * VALIDATION_CHUNK + [object()] * 3,
        max_batch_size=1,
        max_batch_bytes=1_000,
    )
    posts, _ = run.posts()
    assert posts[0].body.endswith(b'[{"w":1}]}')
    # write 2 waits for write 1, whatever became of write 3
    assert not any(b'"w":2' in post.body for post in posts[1:])
    run.answer(posts[0])
    [second], _ = run.posts()
    assert second.body.endswith(b'[{"w":2}]}')
    for post in [*posts[1:], second]:
        run.answer(post)
    finished = run.next()
    assert isinstance(finished, Finished)
    assert [failure.item for failure in finished.report.rejected] == ["write 3"]


def test_failures_resent_in_order_end_with_the_last_write() -> None:
    writes = [write("k", 1), item("other"), write("k", 2)]
    run = Run(writes, max_retries=0, max_batch_size=1, max_in_flight=4)
    posts, _ = run.posts()
    assert [users(post) for post in posts] == [["user-k"], ["user-other"]]
    # refused: no connection, so write 1 surely never reached the server (else see
    # test_a_write_that_failed_and_may_still_land_holds_back_the_later_writes_of_its_key)
    run.plan.post_failed(posts[0], NoAnswer("refused", maybe_applied=False))
    [second], _ = run.posts()
    assert json.loads(second.body)["enrichments"] == [write("k", 2)]
    run.answer(second)
    run.answer(posts[1])
    finished = run.next()
    assert isinstance(finished, Finished)
    # write 1 is not "failed": resending it would undo write 2, which was accepted
    assert finished.report.failed == [] and finished.report.superseded == 1


def test_a_few_bad_items_named_by_index_do_not_look_systematic() -> None:
    bad = {f"user-{n}" for n in (10, 30, 50, 70, 90)}
    run = Run([item(n) for n in range(100)])
    while not isinstance(action := run.next(), Finished):
        assert isinstance(action, Post)
        sent = users(action)
        refused = [index for index, user in enumerate(sent) if user in bad]
        if refused:
            run.answer(action, 400, errorCode="INVALID_VALUE", index=refused[0])
        else:
            run.answer(action)
    report = action.report
    assert report.accepted == 95 and report.failed == []
    assert sorted(failure.index for failure in report.rejected) == [10, 30, 50, 70, 90]


@pytest.mark.parametrize("spare", [0, -1])
def test_a_run_joins_the_batch_being_built_only_if_the_body_fits_to_the_byte(
    spare: int,
) -> None:
    overhead = len(BatchBuilder(1, 42, 500, 10_000).body([]))
    builder = BatchBuilder(1, 42, 500, overhead + len(b'{"a":1},{"b":22}') + spare)
    builder.add(ValidItem(0, "a", ("a", 1, 1), b'{"a":1}'))
    assert builder.fits_more(1, len(b'{"b":22}')) is (spare == 0)
    builder.add(ValidItem(1, "b", ("b", 1, 1), b'{"b":22}'))
    assert builder.count == 2 - (spare != 0)  # the second went into a batch of its own


def test_after_the_send_is_closed_the_failures_still_end_with_the_last_write() -> None:
    others = [item(f"o{n}") for n in range(2_997)]
    writes = [write("k", 1), *others[:499], write("k", 2), *others[499:1998]]
    third = len(writes)  # by position: with a BOOL mark, writes 1 and 3 are equal
    writes += [write("k", 3), *others[1998:]]
    run = Run(writes, send_deadline=30.0, max_in_flight=1)
    posts, _ = run.posts()  # write 1 in flight; write 2 held back behind it
    assert run.reads * VALIDATION_CHUNK <= third  # write 3 not read yet
    run.clock.now += 31  # the send deadline passes; write 3 is read after it
    while isinstance(action := run.next(), Post):
        posts.append(action)
    for post in posts:
        run.answer(post, 503)
    finished = run.finish()
    failed_k = [f.index for f in finished.report.failed if f.item["userId"] == "user-k"]
    assert failed_k == [third]  # resent, it is the last write that lands
    assert finished.report.failed_count + finished.report.superseded == len(writes)


def test_an_outage_is_counted_from_the_last_answer_not_from_before_it() -> None:
    run = Run([item(n) for n in range(2000)], max_batch_size=100, max_retries=0)
    posts, _ = run.posts()  # four batches at 1000
    run.clock.now += 10
    run.answer(posts[3])  # the endpoint answers at 1010
    run.clock.now += 10
    for post in posts[:3]:  # the three others time out at 1020: a 10 s outage
        run.plan.post_failed(post, NoAnswer("no answer by the attempt's deadline"))
    finished = run.finish()
    assert finished.report.accepted == 2000 - 300  # the breaker stayed closed


def test_a_send_stopped_then_closed_leaves_what_it_never_sent_unfinished() -> None:
    run = Run([], send_deadline=30.0)
    action = run.plan.next_action()
    assert isinstance(action, ReadItems)
    run.plan.items_read([item(n) for n in range(250)] + ["not an item"])
    run.plan.stop()  # the 250 valid items wait in the batch being built, never sent
    run.clock.now += 31  # then the send deadline passes
    finished = run.plan.next_action()
    assert isinstance(finished, Finished)
    # not failed (resuming at 0 sends them), so nothing is both resent and in the failures
    assert finished.report.failed_count == 0 and finished.report.first_unfinished == 0


def test_a_paused_input_has_what_is_held_posted_then_is_read_again() -> None:
    """``InputPaused`` (a pipe gone quiet): the items held for a batch go now, and the
    input is read again; a short read that is not a pause ends the input."""
    plan = SendPlan(
        SendSettings(LATEST, 42, 500, 1_000_000, 5, 10_000.0), LongestWait(), Clock()
    )
    assert isinstance(plan.next_action(), ReadItems)
    # An invalid item among them: the items go one by one into the batch being built.
    plan.items_read([item(0), {"userId": ""}, item(1)], paused=True)
    post = plan.next_action()
    assert isinstance(post, Post) and users(post) == ["user-0", "user-1"]
    assert isinstance(plan.next_action(), ReadItems)  # not the end: reading goes on
    plan.post_answered(post, Answer(200, b'{"success":true}'))
    plan.items_read([item(2)])  # fewer than asked, no pause: the end
    last = plan.next_action()
    assert isinstance(last, Post) and users(last) == ["user-2"]
    plan.post_answered(last, Answer(200, b'{"success":true}'))
    finished = plan.next_action()
    assert isinstance(finished, Finished)
    assert finished.report.accepted == 3 and finished.report.rejected_count == 1


class _InterruptOn(logging.Handler):
    """Raises KeyboardInterrupt on a log record, as a Ctrl-C coming at that step would."""

    def __init__(self, start: str) -> None:
        super().__init__(logging.DEBUG)
        self.start = start

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.start):
            raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["an answer", "no answer", "a chunk read"])
def test_an_interrupt_inside_the_plan_leaves_no_item_without_an_outcome_before_resuming(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C comes between any two steps: one in the middle of deciding a batch's
    outcome, or of admitting a chunk, must not lose its items (no outcome, and before
    ``first_unfinished``, so a resumed send would skip them)."""
    run = Run([item(n) for n in range(30)], max_batch_size=10)
    posts, _ = run.posts()
    assert len(posts) == 3
    if where == "a chunk read":
        # Ctrl-C while validating the next chunk (the new items 30 to 39)
        def interrupted(*arguments: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(sending, "validate_run", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run.plan.items_read([item(n) for n in range(30, 40)])
        run.answer(posts[1])
        lost_from = 30
    else:
        handler = _InterruptOn("batch of 10 items")
        sending.logger.addHandler(handler)
        level = sending.logger.level
        sending.logger.setLevel(logging.DEBUG)  # setLevel: the logger caches its level
        try:
            with pytest.raises(KeyboardInterrupt):
                if where == "an answer":
                    run.answer(posts[1])
                else:
                    run.plan.post_failed(posts[1], NoAnswer("read timed out"))
        finally:
            sending.logger.removeHandler(handler)
            sending.logger.setLevel(level)
        lost_from = 10
    for post in (posts[0], posts[2]):  # the answers already in (the shells give them)
        run.answer(post)
    report = run.plan.abandon().report
    assert report.first_unfinished is not None and report.first_unfinished <= lost_from
    assert report.accepted >= report.first_unfinished  # each item before it has one


def test_no_repr_of_the_engine_holds_a_field_value() -> None:
    """Reprs end up in tracebacks, debuggers and test output."""
    from ..validation import validate_chunk, validate_run

    value = "John Smith 555-0100"  # as a user ID: every schema has one
    chunk = [item(f"{value} {n}") for n in range(3)]
    run = validate_run(0, chunk, LATEST)
    assert run is not None
    shown = [repr(run), *map(repr, run.split())]
    [invalid] = validate_chunk(0, [{**chunk[0], "sessionNumber": "x"}], LATEST)
    shown.append(repr(invalid))
    plan = Run([]).plan
    read: list[object] = [*chunk]
    plan.items_read(read)
    post = plan.next_action()
    assert isinstance(post, Post)
    shown += [repr(post), repr(plan._in_flight[post])]
    shown.append(repr(Answer(400, json.dumps({"errorMessage": value}).encode())))
    assert not [text for text in shown if value in text]


def test_a_systematic_refusal_fails_only_its_own_search() -> None:
    """Two batches refused for two reasons: when one reason proves systematic, the parts
    of the other batch's search go on (they were failed with the wrong reason)."""
    run = Run([item(n) for n in range(20)], max_batch_size=10, max_in_flight=2)
    (first, second), _ = run.posts()
    run.answer(second, 400, errorCode="TOO_LONG", field="userId", index=0)
    run.answer(first, 400, errorCode="UNKNOWN_FIELD", field="call_lenght", index=0)
    while not isinstance(action := run.next(), Finished):
        assert isinstance(action, Post)
        if users(action)[0] in ("user-0", "user-1", "user-2", "user-3"):
            run.answer(
                action, 400, errorCode="UNKNOWN_FIELD", field="call_lenght", index=0
            )
        else:
            run.answer(action)
    report = action.report
    assert {failure.index for failure in report.failed} == set(range(4, 10))
    assert all("call_lenght" in failure.reason for failure in report.failed)
    assert report.accepted == 9 and report.rejected_count == 5


def test_an_interrupt_while_a_post_is_made_loses_no_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between taking a batch from the queue and putting it in flight (its body being
    made): a Ctrl-C there left it in neither, and first_unfinished after it."""
    run = Run([item(n) for n in range(30)], max_batch_size=10)
    made: list[Any] = []
    real_make_body = sending._Batch.make_body

    def make_body(self: Any, builder: BatchBuilder) -> bytes:
        if len(made) == 1:
            raise KeyboardInterrupt
        made.append(self)
        return real_make_body(self, builder)

    monkeypatch.setattr(sending._Batch, "make_body", make_body)
    with pytest.raises(KeyboardInterrupt):
        run.posts()
    [first] = run.plan._in_flight
    run.answer(first)
    report = run.plan.abandon().report
    assert report.accepted == 10 and report.first_unfinished == 10
