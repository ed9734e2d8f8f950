"""Both clients offline, over httpx's MockTransport: the shells carry out the plan (tokens,
posts, answers read up to a bound, redirects never followed) and report what happened.

The decisions themselves (batching, retries, splitting, the breaker) are tested without any
transport in ``test_sending``.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import random
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from .. import (
    AsyncEnrichmentClient,
    AuthenticationError,
    EnrichmentClient,
    EnrichmentError,
    EnrichmentItem,
    SendControl,
    SendInterrupted,
    SendReport,
    UnsafeEndpointError,
)
from ..attempt_deadline import ending_by
from ..client import (
    _HTTPX_ERRORS,
    _LONGEST_WAIT,
    MAX_SECONDS,
    _as_httpx_errors,
    _core_request,
    _direct_request,
    _wait_seconds,
)
from ..endpoint import enrichments_url
from .test_models import VALID_WIRE

AUTH_URL = "http://127.0.0.1:8000/v1/oauth/token"
ENDPOINT = "http://127.0.0.1:8000"
SECRET = "client-secret-value"

Reply = Callable[[httpx.Request], httpx.Response]


class NoJitter(random.Random):
    """Backoff waits of zero (the plan's own tests check the delays)."""

    def uniform(self, a: float, b: float) -> float:
        return a


class FakeApi:
    """The token endpoint, then the enrichment endpoint: scripted answers, then 200."""

    def __init__(self) -> None:
        self.token_requests: list[dict[str, Any]] = []
        self.token_replies: list[Reply] = []
        self.batches: list[list[dict[str, Any]]] = []
        self.replies: list[Reply] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if request.url.path == "/v1/oauth/token":
                self.token_requests.append(json.loads(request.content))
                if self.token_replies:
                    return self.token_replies.pop(0)(request)
                return httpx.Response(
                    200,
                    json={
                        "access_token": f"token-{len(self.token_requests)}",
                        "endpoint": ENDPOINT,
                        "expires_in": 3600,
                    },
                )
            self.batches.append(json.loads(request.content)["enrichments"])
            if self.replies:
                return self.replies.pop(0)(request)
            return httpx.Response(200, json={"success": True})


def status(code: int, body: Any = None, **headers: str) -> Reply:
    return lambda request: httpx.Response(code, json=body or {}, headers=headers)


def items(count: int) -> list[dict[str, Any]]:
    return [
        {"userId": f"user-{n}", "sessionNumber": 1, "enrichment": VALID_WIRE}
        for n in range(count)
    ]


class Clients:
    """Either client with the same calls: ``send`` runs to its end in both cases."""

    def __init__(self, kind: str, api: FakeApi) -> None:
        self.kind = kind
        self.api = api

    def send(self, batch: Any, **options: Any) -> SendReport:
        send_options = {
            key: options.pop(key) for key in ("on_failure", "control") if key in options
        }
        credentials = ("client-id", SECRET, 42)
        options["auth_url"] = AUTH_URL
        if self.kind == "sync":
            with httpx.Client(transport=httpx.MockTransport(self.api)) as http:
                with EnrichmentClient(
                    *credentials, http_client=http, **options
                ) as client:
                    client._rng = NoJitter()
                    return client.send(batch, **send_options)

        async def main() -> SendReport:
            transport = httpx.MockTransport(self.api)
            async with httpx.AsyncClient(transport=transport) as http:
                async with AsyncEnrichmentClient(
                    *credentials, http_client=http, **options
                ) as client:
                    client._rng = NoJitter()
                    return await client.send(batch, **send_options)

        return asyncio.run(main())


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture(params=["sync", "async"])
def clients(request: pytest.FixtureRequest, api: FakeApi) -> Clients:
    return Clients(request.param, api)


def test_items_are_sent_in_batches_with_one_token(
    clients: Clients, api: FakeApi
) -> None:
    report = clients.send(items(25), max_batch_size=10)
    assert (report.accepted, report.requests, report.batches) == (25, 3, 3)
    assert sorted(len(batch) for batch in api.batches) == [5, 10, 10]
    assert len(api.token_requests) == 1
    assert api.token_requests[0] == {
        "client_id": "client-id",
        "client_secret": SECRET,
        "grant_type": "client_credentials",
        "project_id": 42,
        "scope": "enrichment",
    }


def test_models_and_mappings_are_both_accepted(clients: Clients, api: FakeApi) -> None:
    model = EnrichmentItem.model_validate(items(1)[0])
    report = clients.send([model, items(2)[1]])
    assert report.accepted == 2
    assert api.batches[0][0] == {**items(1)[0], "enrichmentNumber": 1}


def test_a_401_renews_the_token_and_resends(clients: Clients, api: FakeApi) -> None:
    api.replies.append(status(401))
    report = clients.send(items(2))
    assert report.ok and report.retries == 0 and report.requests == 2
    assert len(api.token_requests) == 2


@pytest.mark.parametrize("code", [429, 500, 503])
def test_transient_errors_are_retried(
    clients: Clients, api: FakeApi, code: int
) -> None:
    api.replies.append(status(code, **{"Retry-After": "0"}))
    report = clients.send(items(2))
    assert report.ok and report.retries == 1 and report.accepted == 2


def test_the_token_endpoint_is_retried_when_it_fails(
    clients: Clients, api: FakeApi
) -> None:
    api.token_replies += [status(503), status(502)]
    report = clients.send(items(2))
    assert report.ok and report.retries == 2
    assert len(api.token_requests) == 3


def test_an_unreachable_token_endpoint_fails_the_items_and_names_the_url(
    clients: Clients, api: FakeApi
) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    api.token_replies += [unreachable] * 10
    report = clients.send(items(3), max_retries=2)
    assert report.failed_count == 3 and report.accepted == 0
    assert AUTH_URL in report.failed[0].reason
    assert "ConnectError" in report.failed[0].reason


def test_a_token_lifetime_no_float_can_hold_is_the_default_one(
    clients: Clients, api: FakeApi
) -> None:
    """JSON allows an integer of hundreds of digits; float() of it raised OverflowError
    out of send()."""
    api.token_replies.append(
        status(200, {"access_token": "t", "endpoint": ENDPOINT, "expires_in": 10**400})
    )
    report = clients.send(items(2))
    assert report.ok and report.accepted == 2
    assert len(api.token_requests) == 1


def test_a_connection_never_made_is_not_counted_as_a_request(
    clients: Clients, api: FakeApi
) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    api.replies += [refused] * 3
    report = clients.send(items(2), max_retries=3)
    assert report.ok and report.retries == 3
    assert report.requests == 1  # the one answered; three connections were refused


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_post_whose_deadline_passed_while_it_waited_for_the_token_is_not_made(
    kind: str, api: FakeApi
) -> None:
    """Sent anyway (with a timeout of 1 ms), it could land after the plan had counted it
    unanswered."""
    now = [0.0]

    def slow_token(request: httpx.Request) -> httpx.Response:
        now[0] += 1000.0  # the token came after the batch deadline
        token = {"access_token": "t", "endpoint": ENDPOINT, "expires_in": 36000}
        return httpx.Response(200, json=token)

    api.token_replies.append(slow_token)
    options: dict[str, Any] = {"auth_url": AUTH_URL, "batch_deadline": 10.0}
    if kind == "sync":
        with httpx.Client(transport=httpx.MockTransport(api)) as http:
            with EnrichmentClient(
                "client-id", SECRET, 42, http_client=http, **options
            ) as client:
                client._clock = lambda: now[0]
                report = client.send(items(3))
    else:

        async def main() -> SendReport:
            async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
                async with AsyncEnrichmentClient(
                    "client-id", SECRET, 42, http_client=http, **options
                ) as client:
                    client._clock = lambda: now[0]
                    return await client.send(items(3))

        report = asyncio.run(main())
    assert api.batches == [] and report.failed_count == 3
    assert "while it waited for a token" in report.failed[0].reason


def test_a_write_failed_for_want_of_a_token_leaves_the_later_write_of_its_key_free(
    clients: Clients, api: FakeApi
) -> None:
    """No token, so no enrichment request: nothing of write 1 can land later. It is
    superseded by write 2, which is tried in turn (and fails here for the same want of a
    token, remembered), not failed unsent as after a write that may still land."""
    first, later = items(1)[0], {**items(1)[0], "enrichmentNumber": 1}
    api.token_replies.append(status(503))
    report = clients.send(
        [first, later], max_retries=0, max_batch_size=1, max_in_flight=1
    )
    assert report.superseded == 1
    [failure] = report.failed
    assert failure.index == 1 and "token endpoint" in failure.reason
    assert "may still reach the server" not in failure.reason


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (status(401, {"error": "invalid_client"}), "check client_id and client_secret"),
        (status(403, {"error": "access_denied"}), "give access to project 42"),
        (status(404), f"auth_url {AUTH_URL} does not look like the token endpoint"),
        (
            lambda request: httpx.Response(200, text="<html>login</html>"),
            "its answer is not JSON",
        ),
    ],
)
def test_a_refusal_or_a_wrong_auth_url_raises_with_the_report(
    clients: Clients, api: FakeApi, reply: Reply, expected: str
) -> None:
    api.token_replies.append(reply)
    with pytest.raises(AuthenticationError) as caught:
        clients.send(items(2))
    assert expected in str(caught.value)
    assert SECRET not in str(caught.value)
    assert caught.value.report is not None
    assert caught.value.report.first_unfinished == 0


def test_server_text_in_a_refusal_is_cleaned(clients: Clients, api: FakeApi) -> None:
    echo = {
        "error": "invalid_client",
        "error_description": f"got {SECRET}\r\nINFO forged",
    }
    api.token_replies.append(status(401, echo))
    with pytest.raises(AuthenticationError) as caught:
        clients.send(items(1))
    message = str(caught.value)
    assert SECRET not in message and "\n" not in message and "[redacted]" in message


def test_the_token_never_leaks_into_a_reason(clients: Clients, api: FakeApi) -> None:
    def echo_headers(request: httpx.Request) -> httpx.Response:
        text = f"bad request, you sent {request.headers['authorization']}"
        return httpx.Response(403, json={"errorCode": "DENIED", "errorMessage": text})

    api.replies.append(echo_headers)
    report = clients.send(items(1))
    [failure] = report.failed
    assert "token-1" not in failure.reason and "[redacted]" in failure.reason


def test_redirects_are_never_followed(clients: Clients, api: FakeApi) -> None:
    api.replies.append(status(307, Location="https://elsewhere.example/steal"))
    report = clients.send(items(1))
    assert [failure.status for failure in report.failed] == [307]
    assert len(api.batches) == 1  # nothing was posted to the redirect's target


def test_a_redirect_from_the_token_endpoint_is_not_followed(
    clients: Clients, api: FakeApi
) -> None:
    api.token_replies.append(status(307, Location="https://elsewhere.example/token"))
    with pytest.raises(AuthenticationError, match="HTTP 307"):
        clients.send(items(1))
    assert len(api.token_requests) == 1


def test_an_endless_answer_is_read_up_to_a_bound(
    clients: Clients, api: FakeApi
) -> None:
    chunks = 0

    def endless() -> Iterator[bytes]:
        nonlocal chunks
        while chunks < 100_000:
            chunks += 1
            yield b"x" * 65536

    async def endless_async() -> AsyncIterator[bytes]:
        for chunk in endless():
            yield chunk

    content = endless() if clients.kind == "sync" else endless_async()
    api.replies.append(lambda request: httpx.Response(400, content=content))
    report = clients.send(items(1))
    assert len(report.rejected) == 1
    assert chunks < 10


def test_an_answer_that_cannot_be_decoded_is_a_missing_answer(
    clients: Clients, api: FakeApi
) -> None:
    def broken_gzip(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b"not gzip", headers={"Content-Encoding": "gzip"}
        )

    api.replies.append(broken_gzip)
    report = clients.send(items(1))
    assert report.ok and report.retries == 1


def test_a_token_that_cannot_go_in_a_header_is_refused(
    clients: Clients, api: FakeApi
) -> None:
    api.token_replies.append(
        status(200, {"access_token": "tökén", "endpoint": ENDPOINT})
    )
    with pytest.raises(AuthenticationError, match="printable ASCII"):
        clients.send(items(1))


def test_an_endpoint_that_is_not_allowed_raises_before_the_token_is_used(
    clients: Clients, api: FakeApi
) -> None:
    api.token_replies.append(
        status(200, {"access_token": "t", "endpoint": "https://evil.example"})
    )
    with pytest.raises(UnsafeEndpointError):
        clients.send(items(1))
    assert api.batches == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://" + SECRET + ".evil.example",  # a host the secret is in
        "https://" + "a" * 60_000 + ".evil.example",  # a host of 60 kB
    ],
)
def test_an_unsafe_endpoint_is_named_without_the_secret_and_cut(
    clients: Clients, api: FakeApi, endpoint: str
) -> None:
    api.token_replies.append(status(200, {"access_token": "t", "endpoint": endpoint}))
    with pytest.raises(UnsafeEndpointError) as raised:
        clients.send(items(1))
    assert SECRET not in str(raised.value) and len(str(raised.value)) <= 200


@pytest.mark.parametrize(
    "token",
    [
        "token-value-0123456789",
        "token<value>`0123456789`{x}",  # characters httpx's form of a URL percent-encodes
    ],
)
def test_an_endpoint_url_holding_the_secret_or_the_token_is_redacted_in_reasons(
    clients: Clients, api: FakeApi, token: str
) -> None:
    """The endpoint's URL comes from the token answer and goes into a failure's reason."""
    endpoint = f"http://127.0.0.1:1/{SECRET}/{token}"
    api.token_replies.append(
        status(200, {"access_token": token, "endpoint": endpoint, "expires_in": 3600})
    )

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    api.replies += [unreachable] * 10
    report = clients.send(items(1), max_retries=1)
    [failure] = report.failed
    assert failure.reason.count("[redacted]") == 2
    assert SECRET not in failure.reason and token not in failure.reason
    assert "0123456789" not in failure.reason  # nor the token in another form


def test_on_failure_receives_failures_as_they_happen(
    clients: Clients, api: FakeApi
) -> None:
    received: list[int] = []
    batch = items(3)
    batch[1] = {"userId": "", "sessionNumber": 1, "enrichment": VALID_WIRE}
    report = clients.send(
        batch, on_failure=lambda failure: received.append(failure.index)
    )
    assert received == [1]
    assert (report.accepted, report.rejected, report.rejected_count) == (2, [], 1)


def test_a_stopped_send_says_where_to_resume(clients: Clients, api: FakeApi) -> None:
    control = SendControl()
    control.stop()
    report = clients.send(items(3), control=control)
    assert report.accepted == 0 and report.first_unfinished == 0
    assert api.batches == []


def test_reading_the_input_is_lazy_and_its_failure_is_raised_after_sending(
    clients: Clients, api: FakeApi
) -> None:
    produced: list[int] = []

    def source() -> Iterator[dict[str, Any]]:
        for n, entry in enumerate(items(3)):
            produced.append(n)
            yield entry
        raise OSError("the input broke")

    with pytest.raises(OSError, match="the input broke"):
        clients.send(source())
    assert produced == [0, 1, 2]
    assert [entry["userId"] for entry in api.batches[0]] == [
        "user-0",
        "user-1",
        "user-2",
    ]


def test_options_are_checked() -> None:
    """Counts are whole numbers (not bools, not 2.5); seconds are finite numbers above
    0 that the operating system's timers can take (inf and 1e10 overflowed a wait in
    the middle of a send; NaN max_retries turned retries off)."""
    bad_options: list[dict[str, Any]] = [
        {"max_in_flight": 0},
        {"max_in_flight": True},
        {"max_batch_size": 2.5},
        {"max_retries": float("nan")},
        {"max_retries": -1},
        {"failure_threshold": "3"},
        {"integration_version": True},
        {"integration_version": 1.0},
        {"timeout": 0},
        {"timeout": True},
        {"timeout": float("inf")},
        {"timeout": float("nan")},
        {"batch_deadline": 1e10},
        {"send_deadline": -1.0},
        {"send_deadline": "60"},
    ]
    for bad in bad_options:
        with pytest.raises(ValueError):
            EnrichmentClient("id", SECRET, 42, auth_url=AUTH_URL, **bad)
    # any real number (numpy's register as numbers.Real too), any integer for counts
    good: dict[str, Any] = {
        "max_batch_size": 10,
        "timeout": fractions.Fraction(5, 2),
        "send_deadline": MAX_SECONDS,
    }
    with EnrichmentClient("id", SECRET, 42, auth_url=AUTH_URL, **good) as client:
        assert client.settings.max_batch_size == 10 and client.timeout == 2.5
    with pytest.raises(ValueError, match="integration_version 99"):
        EnrichmentClient("id", SECRET, 42, auth_url=AUTH_URL, integration_version=99)
    with pytest.raises(UnsafeEndpointError):
        EnrichmentClient("id", SECRET, 42, auth_url="http://127.0.0.1\t:8000/token")


def test_credentials_and_allowed_hosts_are_checked() -> None:
    """An unset environment variable gives None: refused at once, without showing the
    value; one host name given as a str would be a set of its characters."""
    credentials: list[tuple[Any, Any]] = [
        (None, SECRET),
        ("id", None),
        ("id", ""),
        ("", SECRET),
    ]
    for client_id, secret in credentials:
        with pytest.raises(ValueError, match="must be a non-empty str") as raised:
            EnrichmentClient(client_id, secret, 42, auth_url=AUTH_URL)
        assert SECRET not in str(raised.value)
    with pytest.raises(ValueError, match="allowed_hosts must be a collection"):
        EnrichmentClient("id", SECRET, 42, auth_url=AUTH_URL, allowed_hosts="a.example")


def test_token_raises_enrichment_errors_and_prefers_a_fresh_token_to_a_past_failure(
    api: FakeApi,
) -> None:
    api.token_replies.append(status(503))
    with httpx.Client(transport=httpx.MockTransport(api)) as http:
        with EnrichmentClient(
            "client-id", SECRET, 42, auth_url=AUTH_URL, http_client=http
        ) as client:
            with pytest.raises(EnrichmentError, match="503"):
                client.token()
            failed_at = client._clock()
            # A caller that asked before that failure, and got the lock after a later
            # success, gets the token rather than the failure.
            token = client.token()
            assert client._usable_token(None, asked=failed_at - 1.0) is token
            # Raising a recorded failure to a waiter does not record it again.
            client._token = None
            recorded = client._token_failure
            with pytest.raises(EnrichmentError) as first:
                client._usable_token(None, asked=failed_at - 1.0)
            assert client._token_failure is recorded
            # Each waiter gets its own copy: the send it ends attaches its own report.
            with pytest.raises(EnrichmentError) as second:
                client._usable_token(None, asked=failed_at - 1.0)
            assert recorded is not None
            assert len({id(first.value), id(second.value), id(recorded[1])}) == 3


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_refused_credentials_are_asked_once_however_many_posts_wait(
    kind: str, api: FakeApi
) -> None:
    """16 posts wait for the token; the credentials are refused: one request, not one per
    post (an account can be locked for less), and no post after send raised."""
    api.token_replies.append(status(401, {"error": "invalid_client"}))
    options: dict[str, Any] = {"auth_url": AUTH_URL, "max_batch_size": 10}
    if kind == "sync":
        with httpx.Client(transport=httpx.MockTransport(api)) as http:
            client = EnrichmentClient(
                "client-id", SECRET, 42, http_client=http, **options
            )
            with pytest.raises(AuthenticationError):
                client.send(items(200))
            client._pool().shutdown(wait=True)  # the posts handed to workers are over
            client.close()
    else:

        async def answer(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(
                0
            )  # as a network would: the other posts start meanwhile
            return api(request)

        async def main() -> None:
            transport = httpx.MockTransport(answer)
            async with httpx.AsyncClient(transport=transport) as http:
                async with AsyncEnrichmentClient(
                    "client-id", SECRET, 42, http_client=http, **options
                ) as client:
                    with pytest.raises(AuthenticationError):
                        await client.send(items(200))

        asyncio.run(main())
    assert len(api.token_requests) == 1 and api.batches == []


def test_a_send_whose_deadlines_are_far_off_waits_in_bounded_steps(
    clients: Clients, api: FakeApi
) -> None:
    """max_retries=10**9 makes a batch deadline of about 10**11 s: a wait that long
    overflowed the operating system's timers (OverflowError in the middle of a send).
    A shell waits at most _LONGEST_WAIT before asking its plan again."""
    assert _wait_seconds(1e11, 0.0, None) == _LONGEST_WAIT
    assert _wait_seconds(5.0, 2.0, None) == 3.0 and _wait_seconds(1.0, 2.0, None) == 0.0
    report = clients.send(items(30), max_batch_size=10, max_retries=10**9)
    assert report.accepted == 30


def test_the_repr_names_the_client_and_hides_the_secret() -> None:
    with EnrichmentClient("client-id", SECRET, 42, auth_url=AUTH_URL) as client:
        text = repr(client)
    assert text.startswith("EnrichmentClient(client_id='client-id', project_id=42")
    assert SECRET not in text


def test_a_shared_client_that_follows_redirects_still_does_not(api: FakeApi) -> None:
    """The README invites passing your own httpx.Client: one made to follow redirects must
    not carry the token request's body (the client secret) to another host."""
    api.token_replies.append(status(307, Location="https://elsewhere.example/token"))
    transport = httpx.MockTransport(api)
    with httpx.Client(transport=transport, follow_redirects=True) as http:
        with EnrichmentClient(
            "client-id", SECRET, 42, auth_url=AUTH_URL, http_client=http
        ) as client:
            with pytest.raises(AuthenticationError, match="HTTP 307"):
                client.send(items(1))
    assert len(api.token_requests) == 1  # the redirect was not followed


def test_the_package_exports_what_stops_a_send() -> None:
    """``SendControl`` and ``SendInterrupted`` are documented API, imported from the
    package itself (they were only in ``sending`` and ``errors``)."""
    assert issubclass(SendInterrupted, KeyboardInterrupt)
    control = SendControl()
    control.stop()
    assert control.stopping and not control.abandoning


def test_a_model_changed_after_it_was_made_is_checked_then_not_sent_unchecked(
    clients: Clients, api: FakeApi
) -> None:
    """A model is sent as it is: a value written into it later is validated where it is
    written; one that bypasses validation (model_construct) and cannot be encoded is
    rejected with its reason, in the report, and the others are sent."""
    from pydantic import ValidationError

    model = EnrichmentItem.model_validate(items(1)[0])
    with pytest.raises(ValidationError):
        model.session_number = 0
    with pytest.raises(ValidationError):
        model.enrichment_number = 7
    assert model.session_number == 1  # unchanged
    broken = EnrichmentItem.model_validate(items(2)[1])
    enrichment = broken.enrichment
    field = next(iter(type(enrichment).model_fields))
    # as model_construct leaves it: a value of no type a field can have, never validated
    object.__setattr__(enrichment, field, object())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic warns of the unexpected type
        report = clients.send([model, broken])
    assert report.accepted == 1 and report.rejected_count == 1
    assert "cannot be encoded" in report.rejected[0].reason
    assert [entry["userId"] for entry in api.batches[0]] == [model.user_id]


def test_a_model_copied_with_unchecked_updates_is_rejected_not_sent(
    clients: Clients, api: FakeApi
) -> None:
    """model_copy(update=...) validates nothing: the wire rules check every model before
    it is sent, alone or in a chunk of models."""
    models = [EnrichmentItem.model_validate(item) for item in items(4)]
    models[1] = models[1].model_copy(update={"session_number": 0})
    models[3] = models[3].model_copy(update={"enrichment_number": 7})
    report = clients.send(models)
    assert report.accepted == 2 and report.rejected_count == 2
    assert [failure.index for failure in report.rejected] == [1, 3]
    assert [failure.field for failure in report.rejected] == [
        "sessionNumber",
        "enrichmentNumber",
    ]
    sent = [entry["userId"] for batch in api.batches for entry in batch]
    assert sent == [models[0].user_id, models[2].user_id]


def test_an_error_of_the_callers_code_ends_the_send_with_the_report(
    clients: Clients, api: FakeApi
) -> None:
    """An on_failure callback that raises: the same error goes on, and carries the
    report of what happened until then (the items sent before count)."""

    class Full(Exception):
        pass

    def on_failure(failure: object) -> None:
        raise Full

    bad = {"userId": "bad", "sessionNumber": 0, "enrichment": VALID_WIRE}
    # the first item is bad: the callback raises while the other 499 items of the chunk
    # are still to be decided; then 500 more that are never read
    source = [bad, *items(999)]
    with pytest.raises(Full) as caught:
        clients.send(source, on_failure=on_failure, max_batch_size=100)
    report = caught.value.report  # type: ignore[attr-defined]
    assert isinstance(report, SendReport)
    # the failure the callback raised on is kept in the report, as all after it
    assert report.rejected_count == 1 and len(report.rejected) == 1
    # every item before first_unfinished has an outcome in the report (none was sent)
    assert report.accepted == 0 and report.first_unfinished == 1


def test_a_callback_raising_on_a_refused_batch_leaves_no_item_without_outcome(
    clients: Clients, api: FakeApi
) -> None:
    """A batch of 10 refused (403): the callback raises on the first; all 10 still get
    their outcome, kept in the report, and the same error ends the send."""

    class Full(Exception):
        pass

    def on_failure(failure: object) -> None:
        raise Full

    api.replies.append(lambda request: httpx.Response(403, json={"errorMessage": "no"}))
    with pytest.raises(Full) as caught:
        clients.send(items(10), on_failure=on_failure)
    report = caught.value.report  # type: ignore[attr-defined]
    assert report.failed_count + report.rejected_count == 10
    # the one the callback raised on is kept in the report, as the 9 after it
    assert len(report.failed) + len(report.rejected) == 10
    assert report.first_unfinished is None


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_a_closed_client_says_so_before_reading_any_item(shell: str) -> None:
    read: list[int] = []

    def source() -> Iterator[dict[str, Any]]:
        for entry in items(3):
            read.append(1)
            yield entry

    if shell == "sync":
        client = EnrichmentClient("id", SECRET, 42, auth_url=AUTH_URL)
        client.close()
        with pytest.raises(RuntimeError, match="is closed"):
            client.send(source())
    else:

        async def main() -> None:
            client = AsyncEnrichmentClient("id", SECRET, 42, auth_url=AUTH_URL)
            await client.aclose()
            with pytest.raises(RuntimeError, match="is closed"):
                await client.send(source())

        asyncio.run(main())
    assert read == []


def test_the_clients_pools_end_socket_operations_by_the_attempts_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every socket operation of an attempt ends by its deadline (headers trickled a byte
    at a time included: enrichgen's tests do that over sockets). Here, with the httpx and
    httpcore installed, a deadline already past stops a request before it connects; a
    pool that was not bounded would try to connect, and be refused."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    past = lambda: 10.0  # noqa: E731 - a clock after the deadline
    url = "http://127.0.0.1:9/v1/enrichments"  # the discard port: nothing listens there
    with EnrichmentClient("id", "secret", 1) as client:
        with ending_by(past, 1.0), pytest.raises(httpx.ConnectTimeout):
            client._pool_http().post(url)  # the token request's way
        assert client._direct is not None  # the posts' way
        with ending_by(past, 1.0), pytest.raises(httpx.ConnectTimeout):
            client._direct.handle_request(httpx.Request("POST", url))

    async def post_async() -> None:
        async with AsyncEnrichmentClient("id", "secret", 1) as client:
            client._in_this_loop()
            with ending_by(past, 1.0), pytest.raises(httpx.ConnectTimeout):
                await client._pool_http().post(url)
            assert client._direct is not None
            with ending_by(past, 1.0), pytest.raises(httpx.ConnectTimeout):
                async with client._direct.posting(httpx.Request("POST", url)):
                    pass  # pragma: no cover - never answered

    asyncio.run(post_async())


# --- a sync post straight to httpcore (no proxy set) --------------------------------------


@pytest.mark.parametrize(("raised", "expected"), _HTTPX_ERRORS)
def test_httpcore_errors_of_a_post_are_the_httpx_errors_httpx_would_raise(
    raised: type[Exception], expected: type[Exception]
) -> None:
    with pytest.raises(expected) as caught, _as_httpx_errors():
        raise raised("no answer")
    assert type(caught.value) is expected
    assert str(caught.value) == "no answer"
    # the same as httpx.HTTPTransport's own mapping (private: compared, not used)
    from httpx._transports.default import map_httpcore_exceptions

    with pytest.raises(httpx.TransportError) as by_httpx, map_httpcore_exceptions():
        raise raised("no answer")
    assert type(by_httpx.value) is expected


def test_other_errors_of_a_post_pass_as_they_are() -> None:
    with pytest.raises(KeyError), _as_httpx_errors():
        raise KeyError("not httpcore's")


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8080",
        "https://api.example.com",
        "https://[::1]:8443/base/",
        "https://api.example.com/path?query=1",
        "https://xn--nxasmq6b.example:443",
    ],
)
def test_a_post_straight_to_httpcore_has_the_headers_and_target_httpx_gives_it(
    endpoint: str,
) -> None:
    request = {
        "url": enrichments_url(endpoint),
        "content": b'{"enrichments":[]}',
        "headers": {
            "Authorization": "Bearer t",
            "Content-Type": "application/json",
            "User-Agent": "pkg/enrichgen",
            "Accept-Encoding": "identity",
        },
        "timeout": 2.5,
    }
    core = _core_request(request)
    by_httpx = _direct_request(request)
    assert core.method == b"POST"
    assert sorted(core.headers) == sorted(by_httpx.headers.raw)
    assert (core.url.scheme, core.url.host, core.url.port, core.url.target) == (
        by_httpx.url.raw_scheme,
        by_httpx.url.raw_host,
        by_httpx.url.port,
        by_httpx.url.raw_path,
    )
    assert core.extensions == by_httpx.extensions
