"""The generated client against a real HTTP server on 127.0.0.1: every wire rule, sync and
async alike (the call-tracking example package is the client under test)."""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from call_tracking_enrichment import (
    AsyncEnrichmentClient,
    AuthenticationError,
    Enrichment,
    EnrichmentClient,
    EnrichmentItem,
    SendReport,
    UnsafeEndpointError,
)
from call_tracking_enrichment.endpoint import check_url, enrichments_url
from call_tracking_enrichment.token import Token

from conftest import record_client_waits
from scripted_server import Reply, ScriptedServer

SECRET = "s3cr3t-client-secret-value"
PROJECT = 123456


def item(user: str, number: int = 1, duration: int = 42, **extra: Any) -> dict[str, Any]:
    return {
        "userId": user,
        "sessionNumber": 7,
        "enrichmentNumber": number,
        "enrichment": {
            "call_answered": True,
            "call_duration": duration,
            "call_started_at": "2024-03-10T12:00:00Z",
            **extra,
        },
    }


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff waits instead of sleeping them (no test depends on timing)."""
    return record_client_waits(monkeypatch, "call_tracking_enrichment")


@pytest.fixture(params=["sync", "async"])
def send(request: pytest.FixtureRequest, server: ScriptedServer, delays: list[float]) -> Any:
    """``send(items, **options) -> SendReport`` through the sync or the async client."""

    def run(items: Any, **options: Any) -> SendReport:
        options = {"auth_url": server.auth_url, **options}
        if request.param == "sync":
            with EnrichmentClient("my-client", SECRET, PROJECT, **options) as client:
                return client.send(items)

        async def main() -> SendReport:
            async with AsyncEnrichmentClient("my-client", SECRET, PROJECT, **options) as client:
                return await client.send(items)

        return asyncio.run(main())

    return run


def test_token_request_and_enrichment_request_on_the_wire(send: Any, server: ScriptedServer) -> None:
    report = send([item("a"), EnrichmentItem.model_validate(item("b", number=2))])
    assert report.ok and report.accepted == 2 and report.batches == 1
    assert server.token_requests == [
        {
            "client_id": "my-client",
            "client_secret": SECRET,
            "grant_type": "client_credentials",
            "project_id": PROJECT,
            "scope": "enrichment",
        }
    ]
    [body] = server.enrichment_requests
    assert body["integrationVersion"] == 1 and body["projectId"] == PROJECT
    assert [entry["enrichmentNumber"] for entry in body["enrichments"]] == [1, 2]
    assert server.headers_seen[0]["Authorization"] == "Bearer token-1"
    # with no proxy set, the client's own pools post the batch: these headers and no other
    assert sorted(server.headers_seen[0]) == [
        "Accept-Encoding", "Authorization", "Content-Length", "Content-Type", "Host",
        "User-Agent",
    ]
    assert server.headers_seen[0]["Accept-Encoding"] == "identity"
    assert server.headers_seen[0]["Content-Type"] == "application/json"
    assert body["enrichments"][0] == item("a")


def test_scope_none_is_left_out(send: Any, server: ScriptedServer) -> None:
    send([item("a")], scope=None)
    assert "scope" not in server.token_requests[0]


def test_the_token_is_cached_between_sends(server: ScriptedServer, delays: list[float]) -> None:
    with EnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url) as client:
        client.send([item("a")])
        client.send([item("b")])
    assert len(server.token_requests) == 1


def test_an_async_client_serves_one_event_loop_after_another(
    server: ScriptedServer, delays: list[float]
) -> None:
    """Two asyncio.run() calls with one client (a script that sends twice, a test suite):
    the second loop gets its own pools and lock, not the first's, closed with its loop."""
    client = AsyncEnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url)
    for run in range(3):
        report = asyncio.run(client.send([item(f"u{run}-{n}") for n in range(10)]))
        assert report.accepted == 10, report
    asyncio.run(client.aclose())
    assert len(server.token_requests) == 1  # the token outlives the loops


@pytest.mark.parametrize(
    ("lifetime", "renewed_from"),
    [(3600.0, 3240.0), (7200.0, 6480.0), (100.0, 50.0), (30.0, 15.0), (2.0, 1.0)],
)
def test_a_token_is_renewed_when_max_60s_or_10_percent_remains(
    lifetime: float, renewed_from: float
) -> None:
    # The margin is max(60 s, 10 %) of the lifetime, never more than half of it.
    token = Token("t", "https://x.contentsquare.com", lifetime, obtained_at=1000.0)
    assert not token.needs_renewal(1000.0 + renewed_from - 0.001)
    assert token.needs_renewal(1000.0 + renewed_from)


def test_a_token_near_expiry_is_renewed(delays: list[float]) -> None:
    with ScriptedServer(token_ttl=3600) as server:
        with EnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url) as client:
            client.send([item("a")])
            client._token = dataclasses.replace(client._token, obtained_at=time.monotonic() - 3300)
            client.send([item("b")])
        assert len(server.token_requests) == 2


def test_401_renews_once_and_resends_once_without_counting_a_retry(
    send: Any, server: ScriptedServer
) -> None:
    server.replies.append(
        Reply(401, {"success": False, "errorCode": "JWT_EXPIRED", "errorMessage": "Auth token is expired."})
    )
    report = send([item("a")])
    assert report.ok and report.retries == 0 and report.batches == 2
    assert len(server.token_requests) == 2


def test_a_second_401_fails_the_batch(send: Any, server: ScriptedServer) -> None:
    server.replies.extend([Reply(401, {"errorCode": "JWT_EXPIRED", "errorMessage": "x"})] * 2)
    report = send([item("a")])
    assert report.accepted == 0
    assert [failure.status for failure in report.failed] == [401]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(
    send: Any, server: ScriptedServer, status: int, delays: list[float]
) -> None:
    server.replies.extend([Reply(status, {"errorMessage": "busy"}), Reply(status, {})])
    report = send([item("a")])
    assert report.ok and report.retries == 2 and report.batches == 3
    assert len(delays) == 2


def test_retry_after_seconds_is_a_floor(send: Any, server: ScriptedServer, delays: list[float]) -> None:
    server.replies.append(Reply(429, {}, {"Retry-After": "7"}))
    assert send([item("a")]).ok
    assert delays and delays[0] >= 6.9  # 7 s after the answer: a little went by already


def test_retry_after_http_date_is_a_floor(send: Any, server: ScriptedServer, delays: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    server.replies.append(Reply(503, {}, {"Retry-After": when}))
    assert send([item("a")]).ok
    assert delays and 100 <= delays[0] <= 121


def test_retries_are_bounded_then_items_fail(send: Any, server: ScriptedServer) -> None:
    server.replies.extend([Reply(503, {})] * 10)
    report = send([item("a"), item("b")], max_retries=2)
    assert report.retries == 2 and report.batches == 3
    assert [f.index for f in report.failed] == [0, 1]
    assert all(f.status == 503 for f in report.failed)


def test_a_dropped_connection_is_retried(send: Any, server: ScriptedServer) -> None:
    server.replies.append(Reply(drop=True))
    report = send([item("a")])
    assert report.ok and report.retries == 1


def test_a_stall_past_the_timeout_is_retried(send: Any, server: ScriptedServer) -> None:
    server.replies.append(Reply(stall=5.0))
    report = send([item("a")], timeout=0.3)
    assert report.ok and report.retries == 1


def test_400_isolates_the_items_the_server_refuses(send: Any, server: ScriptedServer) -> None:
    def refuse_duration_13(items: list[dict[str, Any]]) -> Reply | None:
        for position, entry in enumerate(items):
            if entry["enrichment"]["call_duration"] == 13:
                return Reply(400, {"success": False, "errorCode": "INVALID_VALUE",
                                   "errorMessage": f"item {position}: call_duration refused",
                                   "field": "call_duration"})
        return None

    server.script = refuse_duration_13
    items = [item(f"u{i}", duration=13 if i in (5, 77) else 1) for i in range(100)]
    report = send(items)
    assert report.accepted == 98
    assert sorted(f.index for f in report.rejected) == [5, 77]
    assert all("INVALID_VALUE" in f.reason and f.status == 400 for f in report.rejected)
    assert all(f.field == "call_duration" for f in report.rejected)
    assert len(server.store) == 98


def test_413_splits_and_uses_smaller_batches(send: Any, server: ScriptedServer) -> None:
    server.script = lambda items: Reply(413, {"errorMessage": "too large"}) if len(items) > 10 else None
    report = send([item(f"u{i}") for i in range(100)], max_batch_size=40, max_in_flight=1)
    assert report.accepted == 100
    sizes = [len(body["enrichments"]) for body in server.enrichment_requests]
    # Only the first batch (40) and its two halves are refused: later batches start small.
    assert sorted(size for size in sizes if size > 10) == [20, 20, 40]


@pytest.mark.parametrize("status", [403, 404, 409])
def test_other_4xx_fail_the_batch_with_its_status(send: Any, server: ScriptedServer, status: int) -> None:
    server.replies.append(Reply(status, {"errorMessage": "no"}))
    report = send([item("a")])
    assert [f.status for f in report.failed] == [status]
    assert [f.reason for f in report.failed] == [f"HTTP {status}: no"]
    assert report.retries == 0


@pytest.mark.parametrize("body", [{}, "not json at all"])
def test_a_refusal_without_an_error_body_names_its_status_once(
    send: Any, server: ScriptedServer, body: Any
) -> None:
    server.replies.append(Reply(307, body))
    [failure] = send([item("a")]).failed
    assert failure.status == 307 and failure.reason.count("HTTP 307") == 1, failure.reason


def test_batches_respect_count_and_bytes(send: Any, server: ScriptedServer) -> None:
    report = send([item(f"user-{i}") for i in range(250)], max_batch_size=100, max_batch_bytes=5000)
    assert report.accepted == 250
    for body in server.enrichment_requests:
        assert len(body["enrichments"]) <= 100
        assert len(json.dumps(body, separators=(",", ":")).encode()) <= 5000


def test_an_item_too_big_for_any_batch_is_rejected_locally(send: Any, server: ScriptedServer) -> None:
    report = send([item("a"), item("b" * 400)], max_batch_bytes=400)
    assert report.accepted == 1
    assert [f.index for f in report.rejected] == [1]
    assert "too big" in report.rejected[0].reason


def test_invalid_items_are_rejected_locally_and_never_sent(send: Any, server: ScriptedServer) -> None:
    bad = item("bad", client_rating=float("nan"))
    report = send([item("a"), bad, "not an item", item("c", number=4)])
    assert report.accepted == 1
    assert [(f.index, f.field) for f in report.rejected] == [
        (1, "client_rating"), (2, None), (3, "enrichmentNumber")
    ]
    sent = [e["userId"] for body in server.enrichment_requests for e in body["enrichments"]]
    assert sent == ["a"]


def test_duplicates_within_a_batch_are_superseded_by_the_last(send: Any, server: ScriptedServer) -> None:
    report = send([item("a", duration=1), item("b"), item("a", duration=2)])
    assert report.accepted == 2 and report.superseded == 1
    assert server.store[("a", 7, 1)]["call_duration"] == 2


def test_a_lazy_generator_is_read_as_it_goes(send: Any, server: ScriptedServer) -> None:
    produced: list[int] = []
    read_when_a_request_came: list[int] = []

    def generate() -> Iterator[dict[str, Any]]:
        for number in range(20_000):
            produced.append(number)
            yield item(f"u{number}")

    def note(batch: list[dict[str, Any]]) -> None:
        read_when_a_request_came.append(len(produced))

    server.script = note
    report = send(generate(), max_batch_size=500, max_in_flight=1)
    assert report.accepted == 20_000 and report.requests == 40
    # With one batch in flight the client reads a chunk or two ahead of what it has sent,
    # never the whole input.
    for sent, read in enumerate(read_when_a_request_came):
        assert read <= 2_000 + 500 * sent


def test_bad_credentials_raise_without_the_secret(send: Any, server: ScriptedServer) -> None:
    server.token_replies.append(Reply(401, {"error": "invalid_client"}))
    with pytest.raises(AuthenticationError) as caught:
        send([item("a")])
    message = str(caught.value)
    assert "my-client" in message and "client_secret" in message and SECRET not in message
    assert server.enrichment_requests == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://enrichment.contentsquare.com",
        "https://contentsquare.com.evil.example",
        "https://evilcontentsquare.com",
        "https://user:pw@enrichment.contentsquare.com",
        "http://192.168.1.20:8080",
        # no valid host names: the socket layer would raise UnicodeError looking them up
        "https://api..contentsquare.com",
        "https://xn--evil-.contentsquare.com",
    ],
)
def test_unsafe_endpoints_are_refused_and_sent_nothing(
    endpoint: str, send: Any, server: ScriptedServer
) -> None:
    server.endpoint_override = endpoint
    with pytest.raises(UnsafeEndpointError):
        send([item("a")])
    assert server.enrichment_requests == []


@pytest.mark.parametrize(
    ("url", "allowed", "loopback", "ok"),
    [
        ("https://api.contentsquare.com/x", None, False, True),
        ("https://contentsquare.com", None, False, True),
        ("https://eu.enrichment.contentsquare.com.", None, False, True),
        ("https://contentsquare.com.evil.example", None, False, False),
        ("https://evilcontentsquare.com", None, False, False),
        ("https://partner.example", ["partner.example"], False, True),
        ("http://partner.example", ["partner.example"], True, False),
        ("http://127.0.0.1:8000", None, True, True),
        ("http://[::1]:8000", None, True, True),
        ("http://localhost:8000", None, True, True),
        ("http://127.0.0.1:8000", None, False, False),
        ("https://u:p@api.contentsquare.com", None, False, False),
        ("ftp://api.contentsquare.com", None, False, False),
        ("https://api..contentsquare.com", None, False, False),
        ("https://xn--evil-.contentsquare.com", None, False, False),
        ("https://" + "a" * 64 + ".contentsquare.com", None, False, False),
    ],
)
def test_endpoint_check(url: str, allowed: list[str] | None, loopback: bool, ok: bool) -> None:
    if ok:
        check_url(url, what="endpoint", allowed_hosts=allowed, loopback_http_allowed=loopback)
    else:
        with pytest.raises(UnsafeEndpointError):
            check_url(url, what="endpoint", allowed_hosts=allowed, loopback_http_allowed=loopback)


def test_an_unsafe_auth_url_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(UnsafeEndpointError):
        EnrichmentClient("id", SECRET, PROJECT, auth_url="http://auth.example/token")


def test_enrichments_url() -> None:
    assert enrichments_url("https://e.contentsquare.com/") == "https://e.contentsquare.com/v1/enrichments"
    assert enrichments_url("https://e.contentsquare.com/v1/enrichments/") == "https://e.contentsquare.com/v1/enrichments"
    # The path goes before a query; a fragment is never sent (it used to swallow the path).
    assert enrichments_url("https://e.contentsquare.com/eu?region=1") == "https://e.contentsquare.com/eu/v1/enrichments?region=1"
    assert enrichments_url("https://e.contentsquare.com#x") == "https://e.contentsquare.com/v1/enrichments"


def test_randomized_faults_every_item_gets_exactly_one_outcome(
    send: Any, server: ScriptedServer
) -> None:
    rng = random.Random(20261127)
    items: list[Any] = []
    expected: dict[tuple[str, int, int], dict[str, Any]] = {}
    bad = set()
    for index in range(3000):
        user = f"user-{rng.randrange(800)}"
        number = rng.randint(1, 3)
        entry = item(user, number=number, duration=rng.randrange(10_000))
        if rng.random() < 0.01:
            entry["enrichment"]["call_duration"] = "not an int"
            bad.add(index)
        else:
            expected[(user, 7, number)] = entry["enrichment"]
        items.append(entry)

    def faults(batch: list[dict[str, Any]]) -> Reply | None:
        roll = rng.random()
        if roll < 0.10:
            return Reply(rng.choice([500, 502, 503, 504]), {})
        if roll < 0.15:
            return Reply(429, {}, {"Retry-After": "1"})
        if roll < 0.20:
            return Reply(drop=True)
        return None

    server.script = faults
    report = send(items, max_batch_size=100, max_retries=20)
    outcomes = (
        report.accepted + len(report.rejected) + len(report.failed) + report.superseded
    )
    assert outcomes == len(items)
    assert report.failed == []
    assert {f.index for f in report.rejected} == bad
    assert all(f.field == "call_duration" for f in report.rejected)
    assert server.store == expected


def test_one_token_request_for_many_threads(server: ScriptedServer, delays: list[float]) -> None:
    with EnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url) as client:
        reports: list[SendReport] = []
        threads = [
            threading.Thread(target=lambda n=n: reports.append(client.send([item(f"t{n}-{i}") for i in range(50)])))
            for n in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(server.token_requests) == 1
    assert sum(report.accepted for report in reports) == 16 * 50


def test_one_token_request_for_many_tasks(server: ScriptedServer, delays: list[float]) -> None:
    async def main() -> list[SendReport]:
        async with AsyncEnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url) as client:
            return await asyncio.gather(
                *(client.send([item(f"t{n}-{i}") for i in range(50)]) for n in range(16))
            )

    reports = asyncio.run(main())
    assert len(server.token_requests) == 1
    assert sum(report.accepted for report in reports) == 16 * 50


def test_one_renewal_after_expiry_across_threads(server: ScriptedServer, delays: list[float]) -> None:
    with EnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url) as client:
        client.send([item("warm-up")])
        server.revoke_tokens()  # every in-flight token now gets 401 JWT_EXPIRED
        threads = [threading.Thread(target=client.send, args=([item(f"r{n}")],)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(server.token_requests) == 2


def test_no_secret_token_or_value_in_logs_reprs_or_errors(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, delays: list[float]
) -> None:
    planted = "planted-field-value-9f8e7d"
    caplog.set_level(logging.DEBUG)
    server.replies.extend([Reply(503, {}), Reply(401, {"errorCode": "JWT_EXPIRED", "errorMessage": "x"})])
    texts = []
    with EnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url) as client:
        report = client.send([
            item("a", call_center_name=planted),
            item("b", call_center_name=planted, call_duration="x"),
            {"userId": planted, "sessionNumber": 0, "enrichment": {}},
        ])
        texts += [repr(client), repr(client._token), str(report), repr(report)]
        texts += [f.reason for f in report.rejected] + [repr(f) for f in report.rejected]
    server.token_replies.append(Reply(401, {"error": "invalid_client"}))
    with EnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.send([item("c")])
        texts.append(str(caught.value))
    texts.append(caplog.text)
    everything = "\n".join(texts)
    assert "token-1" not in everything and "token-2" not in everything
    assert SECRET not in everything and planted not in everything
    assert "HTTP 503" in caplog.text or "503" in caplog.text


def test_a_shared_http_client_is_used_and_left_open(server: ScriptedServer, delays: list[float]) -> None:
    with httpx.Client() as pool:
        for customer in range(3):
            with EnrichmentClient(f"c{customer}", SECRET, PROJECT, auth_url=server.auth_url,
                                  http_client=pool) as client:
                assert client.send([item(f"c{customer}")]).ok
        assert not pool.is_closed
    assert len(server.store) == 3


def test_models_can_be_built_by_attribute_name_and_sent(send: Any, server: ScriptedServer) -> None:
    from datetime import datetime, timezone

    enrichment = Enrichment(
        call_answered=True, call_duration=42,
        call_started_at=datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc), call_outcome="SALE",
    )
    report = send([EnrichmentItem(user_id="a1b2c3", session_number=7, enrichment=enrichment)])
    assert report.ok
    assert server.store[("a1b2c3", 7, 1)]["callOutcome"] == "SALE"


class InputBroke(Exception):
    pass


def test_an_input_that_fails_has_what_was_read_sent_then_raises(
    send: Any, server: ScriptedServer
) -> None:
    def items() -> Iterator[dict[str, Any]]:
        for n in range(1_234):
            yield item(f"u{n}")
        raise InputBroke("the database cursor went away")

    with pytest.raises(InputBroke):
        send(items(), max_batch_size=100)
    assert len(server.store) == 1_234  # nothing read before the failure is lost


def test_the_async_client_reads_an_async_iterable(
    server: ScriptedServer, delays: list[float]
) -> None:
    async def items() -> AsyncIterator[dict[str, Any]]:
        for n in range(1_100):
            await asyncio.sleep(0)
            yield item(f"u{n % 1_000}", number=1 + n // 1_000)

    async def main() -> SendReport:
        async with AsyncEnrichmentClient(
            "id", SECRET, PROJECT, auth_url=server.auth_url, max_batch_size=300
        ) as client:
            return await client.send(items())

    report = asyncio.run(main())
    assert report.ok and report.accepted == 1_100 and report.batches == 4
    assert len(server.store) == 1_100


def test_a_failing_async_iterable_has_what_was_read_sent_then_raises(
    server: ScriptedServer, delays: list[float]
) -> None:
    async def items() -> AsyncIterator[dict[str, Any]]:
        for n in range(777):
            yield item(f"u{n}")
        raise InputBroke("the queue closed")

    async def main() -> SendReport:
        async with AsyncEnrichmentClient("id", SECRET, PROJECT, auth_url=server.auth_url) as client:
            return await client.send(items())

    with pytest.raises(InputBroke):
        asyncio.run(main())
    assert len(server.store) == 777


def test_each_worker_thread_keeps_its_own_connection_pool(server: ScriptedServer) -> None:
    from call_tracking_enrichment.client import _mark_send_worker, _PoolPerThread, _ssl_context

    transport = _PoolPerThread(_ssl_context())
    http = httpx.Client(transport=transport)

    def post_twice(worker: bool) -> None:
        if worker:
            _mark_send_worker()
        for _ in range(2):
            assert http.post(server.auth_url, json={}).status_code == 200

    threads = [threading.Thread(target=post_twice, args=(n < 3,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # three workers with a pool each, and one shared by the three other threads
    pools = list(transport._pools)
    assert len(pools) == 4 and all(pool._pool.connections for pool in pools)
    http.close()
    assert not any(pool._pool.connections for pool in pools)
    with pytest.raises(RuntimeError, match="closed"):
        transport.handle_request(httpx.Request("POST", server.auth_url))


def test_the_async_client_keeps_a_connection_pool_per_post_under_way(
    server: ScriptedServer,
) -> None:
    async def main() -> tuple[SendReport, Any]:
        async with AsyncEnrichmentClient(
            "my-client", SECRET, PROJECT, auth_url=server.auth_url, max_in_flight=3
        ) as client:
            report = await client.send([item(f"u{n}") for n in range(5000)])
            direct = client._direct
            pools = list(direct._pools)
            assert all(pool._pool.connections for pool in pools)
        assert not any(pool._pool.connections for pool in pools)  # closed with the client
        with pytest.raises(RuntimeError, match="closed"):
            async with direct.posting(httpx.Request("POST", server.url)):
                pass
        return report, pools

    report, pools = asyncio.run(main())
    assert report.accepted == 5000 and report.batches == 10
    # at most one pool per post under way, each reusing its connection
    assert 1 <= len(pools) <= 3 and len(server.peers) == len(pools)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
@pytest.mark.parametrize("shell", ["sync", "async"])
def test_proxies_from_the_environment_still_apply(
    monkeypatch: pytest.MonkeyPatch, variable: str, shell: str
) -> None:
    # The proxy answers for the endpoint too: nothing listens on port 9.
    with ScriptedServer(endpoint="http://127.0.0.1:9/") as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(variable, proxy.url)
        auth_url = "http://127.0.0.1:9/v1/oauth/token"  # nothing listens there: the proxy does
        if shell == "sync":
            with EnrichmentClient("my-client", SECRET, PROJECT, auth_url=auth_url) as client:
                client.token()
                # the batches too (posted by the client's own pools when no proxy is set)
                report = client.send([item("a")])
        else:

            async def main() -> SendReport:
                async with AsyncEnrichmentClient(
                    "my-client", SECRET, PROJECT, auth_url=auth_url
                ) as client:
                    await client.token()
                    return await client.send([item("a")])

            report = asyncio.run(main())
        assert report.ok and report.accepted == 1
        # the absolute URLs, as a proxy is asked
        assert proxy.paths == [auth_url, "http://127.0.0.1:9/v1/enrichments"]


def test_answers_are_taken_before_more_input_is_read(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer frees its place in flight before the next chunk is validated: with the
    window full, the next batch goes as soon as an answer is in, not after the client has
    read a window's worth of input ahead. Posts run in the sending thread here, so each
    answer is in before the next step: deterministic."""

    class Inline:
        def submit(self, function: Any, *args: Any) -> None:
            function(*args)

    monkeypatch.setattr(EnrichmentClient, "_pool", lambda self: Inline())
    noted: list[int] = []
    chunks = 40

    def items() -> Iterator[dict[str, Any]]:
        for number in range(chunks * 500):
            if number % 500 == 0:
                noted.append(len(server.enrichment_requests))
            yield item(f"user-{number}")

    with EnrichmentClient("my-client", SECRET, PROJECT, auth_url=server.auth_url) as client:
        report = client.send(items())
    assert report.accepted == chunks * 500
    # chunk k is read once the k - 1 chunks before it are posted and answered (before,
    # the 17th batch waited until 16 more chunks were read)
    assert noted == list(range(chunks))


@pytest.mark.parametrize("kind", ["iterable", "async iterable"])
def test_the_async_client_takes_answers_before_more_input_is_read(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The same for the asyncio client: attempts that are over when the loop comes back
    to the send (here, a fake endpoint that answers at once) are taken before reading,
    from an iterable or from an async iterable that never waits."""
    from call_tracking_enrichment.sending import Answer, Post

    attempts = 0

    async def answer_at_once(self: Any, post: Post) -> Answer:
        nonlocal attempts
        attempts += 1
        return Answer(200, b'{"success":true}')

    monkeypatch.setattr(AsyncEnrichmentClient, "_attempt", answer_at_once)
    noted: list[int] = []
    chunks = 40

    def items() -> Iterator[dict[str, Any]]:
        for number in range(chunks * 500):
            if number % 500 == 0:
                noted.append(attempts)
            yield item(f"user-{number}")

    async def async_items() -> AsyncIterator[dict[str, Any]]:
        for one in items():
            yield one

    async def main() -> SendReport:
        async with AsyncEnrichmentClient("my-client", SECRET, PROJECT) as client:
            return await client.send(items() if kind == "iterable" else async_items())

    report = asyncio.run(main())
    assert report.accepted == chunks * 500
    assert noted == list(range(chunks))


def test_a_burst_of_async_sends_leaves_at_most_max_in_flight_connections_open(
    server: ScriptedServer,
) -> None:
    """Ten sends at once on one client, 16 posts each under way: up to 160 pools at the
    peak, at most 16 kept open afterwards (one send's worth), the others closed as their
    posts end."""
    server.script = lambda items: Reply(delay=0.2)

    async def main() -> tuple[int, int]:
        async with AsyncEnrichmentClient(
            "my-client", SECRET, PROJECT, auth_url=server.auth_url, max_batch_size=1
        ) as client:
            sends = [client.send([item(f"t{t}-{n}") for n in range(16)]) for t in range(10)]
            reports = await asyncio.gather(*sends)
            assert all(report.accepted == 16 for report in reports)
            direct = client._direct
            open_connections = sum(len(pool._pool.connections) for pool in direct._pools)
            return len(direct._pools), open_connections

    pools, open_connections = asyncio.run(main())
    assert len(server.peers) > 16  # the burst did use more than 16 connections at once
    assert pools <= 16 and open_connections <= 16


def test_no_proxy_alone_keeps_the_direct_path(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("no_proxy", "example.com")
    with EnrichmentClient("my-client", SECRET, PROJECT, auth_url=server.auth_url) as client:
        assert client._direct is not None and client.send([item("a")]).ok
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # any proxy: the httpx.Client path
    with EnrichmentClient("my-client", SECRET, PROJECT, auth_url=server.auth_url) as client:
        assert client._direct is None


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_a_callers_http_client_carries_the_batches_too(server: ScriptedServer, shell: str) -> None:
    seen: list[str] = []
    if shell == "sync":
        with httpx.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]}) as http:
            with EnrichmentClient(
                "my-client", SECRET, PROJECT, auth_url=server.auth_url, http_client=http
            ) as client:
                assert client.send([item("a")]).ok
    else:

        async def hook(request: httpx.Request) -> None:
            seen.append(request.url.path)

        async def main() -> None:
            async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
                async with AsyncEnrichmentClient(
                    "my-client", SECRET, PROJECT, auth_url=server.auth_url, http_client=http
                ) as client:
                    assert (await client.send([item("a")])).ok

        asyncio.run(main())
    assert seen == ["/v1/oauth/token", "/v1/enrichments"]


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_a_compressed_answer_is_inflated_no_further_than_it_is_kept(
    server: ScriptedServer, shell: str
) -> None:
    """0.2 MB of gzip holding 200 MB: httpx inflates each chunk it reads whole (about
    64 MB a chunk); the client stops at the bytes it keeps of an answer. A gzip or deflate
    answer it can read is read, though it asks for none."""
    import gzip
    import tracemalloc
    import zlib

    refusal = json.dumps({"errorMessage": "no", "errorCode": "BAD", "index": 0}).encode()
    for encoding, body in (
        ("gzip", gzip.compress(b"{" + b" " * 200_000_000, compresslevel=9)),
        ("gzip", gzip.compress(refusal)),
        ("deflate", zlib.compress(refusal)),
    ):
        server.replies.append(Reply(400, raw=body, headers={"Content-Encoding": encoding}))
    auth_url = server.auth_url
    reports: list[SendReport] = []
    tracemalloc.start()
    try:
        if shell == "sync":
            with EnrichmentClient("my-client", SECRET, PROJECT, auth_url=auth_url) as client:
                reports += [client.send([item(f"u{n}")]) for n in range(3)]
        else:

            async def main() -> None:
                async with AsyncEnrichmentClient(
                    "my-client", SECRET, PROJECT, auth_url=auth_url
                ) as client:
                    for n in range(3):
                        reports.append(await client.send([item(f"u{n}")]))

            asyncio.run(main())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # never the 200 MB, nor a 64 MB chunk of them
    assert [report.rejected_count for report in reports] == [1, 1, 1]
    assert all("BAD: no" in report.rejected[0].reason for report in reports[1:])


def test_an_interrupted_async_send_counts_the_answers_already_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while the asyncio client reads its input: a post whose answer is in (its
    task done, not yet collected) counts as accepted, not as abandoned in flight."""
    from call_tracking_enrichment.errors import SendInterrupted
    from call_tracking_enrichment.sending import Answer, Post

    async def answer_at_once(self: Any, post: Post) -> Answer:
        return Answer(200, b'{"success":true}')

    monkeypatch.setattr(AsyncEnrichmentClient, "_attempt", answer_at_once)

    def items() -> Iterator[dict[str, Any]]:
        for number in range(500):
            yield item(f"user-{number}")
        raise KeyboardInterrupt  # at the first item of the second chunk

    async def main() -> SendReport:
        async with AsyncEnrichmentClient("my-client", SECRET, PROJECT) as client:
            return await client.send(items())

    with pytest.raises(SendInterrupted) as interrupted:
        asyncio.run(main())
    report = interrupted.value.report
    assert report.accepted == 500 and report.first_unfinished == 500


def test_a_cancelled_async_send_ends_at_once_and_its_error_carries_the_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled while it reads its input (a timeout around it, say): the same
    CancelledError goes on, so asyncio.timeout and task groups work, and it carries the
    report: the answers already in count, the rest has no outcome, and
    first_unfinished says where to resume."""
    from call_tracking_enrichment.sending import Answer, Post

    async def answer_at_once(self: Any, post: Post) -> Answer:
        return Answer(200, b'{"success":true}')

    monkeypatch.setattr(AsyncEnrichmentClient, "_attempt", answer_at_once)

    async def items() -> AsyncIterator[dict[str, Any]]:
        for number in range(700):
            if number == 600:  # in the second chunk
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
                await asyncio.sleep(0)
            yield item(f"user-{number}")

    async def main() -> SendReport:
        async with AsyncEnrichmentClient("my-client", SECRET, PROJECT) as client:
            return await client.send(items())

    with pytest.raises(asyncio.CancelledError) as cancelled:
        asyncio.run(main())
    report = cancelled.value.report  # type: ignore[attr-defined]
    assert report.accepted == 500 and report.first_unfinished == 500
    assert report.failed_count == 0 and report.rejected_count == 0


def test_an_answer_in_an_encoding_it_cannot_read_is_no_answer_and_retried(
    send: Any, server: ScriptedServer
) -> None:
    """Over a real socket (a MockTransport's answer is decoded by httpx before the client
    sees it): a gzip body that is not gzip, and an encoding the client cannot inflate, are
    no usable answer, retried like a dropped connection; nothing is lost."""
    server.replies.append(Reply(200, raw=b"not gzip", headers={"Content-Encoding": "gzip"}))
    server.replies.append(Reply(200, raw=b"\x0b\x02\x80{}\x03", headers={"Content-Encoding": "br"}))
    report = send([item("a")])
    assert report.ok and report.accepted == 1 and report.retries == 2
