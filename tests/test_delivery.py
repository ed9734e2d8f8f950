"""The delivery engine over real sockets on 127.0.0.1: several batches in flight with the
order of writes per key kept, fail fast on a dead endpoint, bounded attempts, fork safety,
and the package command line stopped by a real signal and resumed where it said."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from call_tracking_enrichment import AsyncEnrichmentClient, EnrichmentClient

from conftest import EXAMPLES, record_client_waits
from scripted_server import Reply, ScriptedServer

Key = tuple[str, int, int]


def call(n: int, user: int) -> dict[str, Any]:
    """The ``n``-th write, for the session of ``user``: its duration tells writes apart."""
    return {
        "userId": f"user-{user}",
        "sessionNumber": 1,
        "enrichmentNumber": 1,
        "enrichment": {
            "call_answered": True,
            "call_duration": n,
            "call_started_at": "2024-03-10T12:00:00Z",
        },
    }


def last_writes(items: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    final = {}
    for item in items:
        final[(item["userId"], item["sessionNumber"], item["enrichmentNumber"])] = item[
            "enrichment"
        ]
    return final


def send_with(kind: str, settings: dict[str, Any], items: list[dict[str, Any]]) -> Any:
    """The report of sending ``items`` with the sync or the async client."""
    if kind == "sync":
        with EnrichmentClient(**settings) as client:
            return client.send(items)

    async def main() -> Any:
        async with AsyncEnrichmentClient(**settings) as client:
            return await client.send(items)

    return asyncio.run(main())


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        yield scripted


def options(server: ScriptedServer, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": "id",
        "client_secret": "secret",
        "project_id": 42,
        "auth_url": server.auth_url,
        **extra,
    }


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_last_write_of_every_key_wins_whatever_the_answer_times(
    server: ScriptedServer, kind: str
) -> None:
    rng = random.Random(11)
    # 20,000 writes of 1,500 keys: each key written about 13 times, at random distances
    # (some within the batches in flight, some far apart).
    items = [call(n, rng.randrange(1_500)) for n in range(20_000)]
    answer_times = random.Random(5)
    server.script = lambda batch: Reply(delay=answer_times.uniform(0.0, 0.01))
    settings = options(server, max_batch_size=100, max_in_flight=8)
    report = send_with(kind, settings, items)
    assert report.ok, str(report)
    assert report.accepted + report.superseded == len(items)
    assert server.store == last_writes(items)
    assert server.most_in_flight > 1  # the batches really were in flight together
    assert server.key_overlaps == 0  # and never two writes of one key at once


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_soak_every_fault_at_random_times_loses_nothing_and_keeps_the_order(
    server: ScriptedServer, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrency, random answer times, keys written far apart and close, 5xx, 429,
    dropped connections and tokens that expire: nothing lost, the store = the last writes."""
    record_client_waits(monkeypatch, "call_tracking_enrichment")
    rng = random.Random(23)
    items = [call(n, rng.randrange(8_000)) for n in range(20_000)]
    faults = random.Random(29)
    counts = {"500": 0, "429": 0, "drop": 0, "expired": 0}
    older: set[str] = set()  # the tokens issued before the last expiry

    def script(batch: list[dict[str, Any]]) -> Reply | None:
        delay = faults.uniform(0.0, 0.01)
        roll = faults.random()
        if roll < 0.06:
            counts["500"] += 1
            return Reply(500, {"errorMessage": "try again"}, delay=delay)
        if roll < 0.10:
            counts["429"] += 1
            return Reply(429, {}, {"Retry-After": "0"}, delay=delay)
        if roll < 0.13:
            counts["drop"] += 1
            return Reply(drop=True)
        if len(server.enrichment_requests) % 50 == 25:
            # The tokens issued before the last expiry expire now (as hour-old ones do: a
            # token lives at least one of these rounds, never a few requests): the requests
            # in flight with one get 401, renew, and are sent once more.
            counts["expired"] += 1
            server.valid_tokens -= older
            older.clear()
            older.update(server.valid_tokens)
        return Reply(delay=delay)

    server.script = script
    settings = options(server, max_batch_size=100, max_retries=15)
    report = send_with(kind, settings, items)
    assert report.ok, str(report)
    assert report.accepted + report.superseded == len(items)
    assert server.store == last_writes(items)
    assert server.most_in_flight > 1 and server.key_overlaps == 0
    assert min(counts.values()) > 0, counts  # every kind of fault happened
    assert server.tokens_issued > 1


def test_a_dead_endpoint_fails_the_whole_send_after_a_few_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there any more: every connection is refused
    waits = record_client_waits(monkeypatch, "call_tracking_enrichment")
    with ScriptedServer(endpoint=dead) as server:
        with EnrichmentClient(**options(server, max_in_flight=4)) as client:
            report = client.send(call(n, n) for n in range(20_000))
    assert report.failed_count == 20_000 and report.accepted == 0
    # The breaker opens once three batches in a row failed and the outage has lasted its
    # minimum (15 s): some batches with their retries, not all 40 of them.
    # No connection was made, so no request counts; each retry is a connection refused.
    assert report.requests == 0
    assert 0 < report.retries <= 20 * 5  # 40 batches would make 200
    reasons = {failure.reason for failure in report.failed}
    assert any(re.search(r"\d+ batches in a row were not delivered", r) for r in reasons)
    assert all(dead in reason for reason in reasons)
    assert sum(waits) < 150  # the backoff of a few batches, not of 40


TRICKLE_BUDGET = 2_000
"""Bytes a trickling server sends, one every 0.05 s, before it gives up by itself."""


class _Trickle:
    """A server that answers the token request, and each post, a byte at a time: in the
    answer's body (``what="body"``), in its headers (``"headers"``), or in the headers of
    the token answer (``"token headers"``). ``sent`` counts the bytes trickled before the
    client hung up (or ``TRICKLE_BUDGET``); ``hung_up`` is set once it has."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.sent = 0
        self.proxied = 0  # requests that came with an absolute URL: through a proxy
        self.hung_up = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += connection.recv(65536)
            self.proxied += head.startswith(b"POST http://")
            if b"/oauth/token" in head:
                if self.what == "token headers":
                    self._trickle(connection, b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")
                    return
                answer = json.dumps({"access_token": "t", "endpoint": self.url}).encode()
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
            elif self.what == "headers":
                self._trickle(connection, b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")
            else:
                self._trickle(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b" ")

    def _trickle(self, connection: socket.socket, start: bytes, byte: bytes) -> None:
        try:
            connection.sendall(start)
            while self.sent < TRICKLE_BUDGET:
                time.sleep(0.05)
                connection.sendall(byte)
                self.sent += 1
        except OSError:
            self.hung_up.set()


def send_to_trickle(
    what: str, kind: str, proxy: pytest.MonkeyPatch | None = None, **deadlines: float
) -> str:
    """The reason the one item sent to a ``_Trickle(what)`` failed with, once the client
    has hung up by itself.

    The server, ready to trickle for ``TRICKLE_BUDGET`` bytes, sees the client hang up far
    sooner (bytes, not seconds, so that a slow machine cannot fail it). Before every
    socket operation of an attempt had its deadline, an answer trickling in its headers
    held the worker (or the token lock) until the server stopped.

    With ``proxy``, the server is also the proxy of the environment (``HTTP_PROXY``).
    """
    trickle = _Trickle(what)
    if proxy is not None:
        proxy.setenv("HTTP_PROXY", trickle.url)
        for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            proxy.delenv(name, raising=False)
    settings = {
        "client_id": "id",
        "client_secret": "secret",
        "project_id": 42,
        "auth_url": trickle.url + "/v1/oauth/token",
        "max_retries": 0,
        **deadlines,
    }
    try:
        report = send_with(kind, settings, [call(1, 1)])
        trickle.hung_up.wait(TRICKLE_BUDGET * 0.05 * 2)
        assert trickle.hung_up.is_set()
        assert trickle.sent < TRICKLE_BUDGET / 2
    finally:
        trickle.close()
    assert trickle.proxied == (2 if proxy else 0)  # the token request and the post
    [failure] = report.failed
    return str(failure.reason)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("what", ["body", "headers"])
def test_an_answer_trickled_slowly_is_given_up_at_the_batch_deadline(
    kind: str, what: str
) -> None:
    # `timeout` bounds each read; the server's bytes come well within it.
    reason = send_to_trickle(what, kind, timeout=2.0, batch_deadline=0.5)
    assert "still answering when the attempt's deadline passed" in reason


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_answer_trickled_through_a_proxy_is_given_up_at_the_batch_deadline(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = send_to_trickle("headers", kind, monkeypatch, timeout=2.0, batch_deadline=0.5)
    assert "still answering when the attempt's deadline passed" in reason


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_token_answer_trickled_slowly_is_given_up_after_timeout(kind: str) -> None:
    # Given up after `timeout` in all, not after `timeout` without a byte.
    reason = send_to_trickle("token headers", kind, timeout=1.0, batch_deadline=10.0)
    assert "/v1/oauth/token was still answering when the attempt's deadline passed" in reason


def test_a_request_body_the_server_reads_slowly_is_given_up_at_the_deadline() -> None:
    """httpcore gives each ``send()`` of a body the whole timeout: a server that reads a
    little at a time would take a large body for as long as it likes. The client's pools
    write it with one ``sendall()`` given what is left of the attempt."""
    from call_tracking_enrichment.attempt_deadline import ending_by

    received = [0]
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    body = b"x" * 64_000_000  # far more than the sockets' buffers hold

    def drain() -> None:  # what has come, every 0.2 s: each send() moves on well in time
        connection, _ = listener.accept()
        with connection:
            while not stop.is_set() and received[0] < len(body) / 2:
                received[0] += len(connection.recv(1 << 20))
                time.sleep(0.2)

    reader = threading.Thread(target=drain)
    reader.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/enrichments"
    try:
        with EnrichmentClient("id", "secret", 1) as client:
            pools = client._direct
            assert pools is not None
            deadline = time.monotonic() + 1.0
            with ending_by(time.monotonic, deadline), pytest.raises(httpx.WriteTimeout):
                pools.handle_request(httpx.Request("POST", url, content=body))
    finally:
        stop.set()
        reader.join()
        listener.close()
    # Bytes, not seconds: half the body would take the server many seconds.
    assert received[0] < len(body) / 2


@pytest.mark.skipif(sys.platform != "linux", reason="Linux drops a SYN to a full backlog")
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_connection_never_made_is_not_called_an_answer_too_slow(kind: str) -> None:
    """A token endpoint whose backlog is full never answers the connection: "could not be
    reached (ConnectTimeout)", even once the deadline has passed, not "still answering"."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/oauth/token"
    waiting = []  # connected, never accepted: the backlog is full
    try:
        for _ in range(4):
            waiting.append(socket.socket())
            waiting[-1].setblocking(False)
            waiting[-1].connect_ex(listener.getsockname())
        settings = {"client_id": "id", "client_secret": "secret", "project_id": 42,
                    "auth_url": url, "timeout": 0.5, "max_retries": 0}
        report = send_with(kind, settings, [call(1, 1)])
    finally:
        for connection in waiting:
            connection.close()
        listener.close()
    [failure] = report.failed
    assert f"{url} could not be reached (ConnectTimeout)" in failure.reason


@pytest.mark.skipif(sys.platform != "linux", reason="Linux drops a SYN to a full backlog")
def test_a_host_with_two_addresses_is_connected_to_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The standard library gives each address of a host the whole time left: an IPv6
    address that drops the connection, then a working IPv4 one, would connect after
    the deadline. The client's pools give each address what is left, so the second is
    never tried."""
    from call_tracking_enrichment.attempt_deadline import ending_by

    dropping = socket.socket(socket.AF_INET6)
    dropping.bind(("::1", 0))
    dropping.listen(0)
    port = dropping.getsockname()[1]
    working = socket.create_server(("127.0.0.1", port))
    waiting = []  # connected to ::1, never accepted: its backlog is full
    for _ in range(4):
        waiting.append(socket.socket(socket.AF_INET6))
        waiting[-1].setblocking(False)
        waiting[-1].connect_ex(("::1", port))
    real_getaddrinfo = socket.getaddrinfo

    def two_addresses(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "two.example":
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            ]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    try:
        with EnrichmentClient("id", "secret", 1) as client:
            pools = client._direct
            assert pools is not None
            request = httpx.Request("POST", f"http://two.example:{port}/v1/enrichments")
            deadline = time.monotonic() + 0.5
            with ending_by(time.monotonic, deadline), pytest.raises(httpx.ConnectTimeout):
                pools.handle_request(request)
        # No connection is waiting to be accepted on the working address.
        working.settimeout(0)
        with pytest.raises(BlockingIOError):
            working.accept()
    finally:
        for connection in [*waiting, dropping, working]:
            connection.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_client_used_before_fork_works_in_the_child_with_its_own_connections(
    server: ScriptedServer,
) -> None:
    with EnrichmentClient(**options(server)) as client:
        assert client.send([call(1, 1)]).ok
        parent_peers = set(server.peers)
        # A thread of the parent holds the token lock while the process forks.
        held = threading.Event()
        release = threading.Event()

        def hold_the_lock() -> None:
            with client._token_lock:
                held.set()
                release.wait()

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        held.wait()
        client._token = None  # the child must fetch a token, through the lock
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 when its send worked
            ok = client.send([call(2, 2)]).ok
            os._exit(0 if ok else 1)
        release.set()
        holder.join()
        status = _wait(pid)
        assert client.send([call(3, 3)]).ok
    assert os.waitstatus_to_exitcode(status) == 0
    child_peers = server.peers - parent_peers
    assert child_peers and not child_peers & parent_peers
    assert server.store.keys() >= {("user-1", 1, 1), ("user-2", 1, 1), ("user-3", 1, 1)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_an_async_client_used_before_fork_makes_its_own_pools_in_the_child(
    server: ScriptedServer,
) -> None:
    """The child runs its own event loop: a pool of the parent's, bound to the parent's
    loop and connections, would fail there or mix the answers."""
    client = AsyncEnrichmentClient(**options(server))
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(client.send([call(1, 1)])).ok
        parent_peers = set(server.peers)
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 when its send worked
            try:
                ok = asyncio.new_event_loop().run_until_complete(client.send([call(2, 2)])).ok
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        status = _wait(pid)
        assert loop.run_until_complete(client.send([call(3, 3)])).ok
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    assert os.waitstatus_to_exitcode(status) == 0
    child_peers = server.peers - parent_peers
    assert child_peers and not child_peers & parent_peers
    assert server.store.keys() >= {("user-1", 1, 1), ("user-2", 1, 1), ("user-3", 1, 1)}


def _wait(pid: int) -> int:
    """The child's exit status; a child that hangs is killed (and the test fails)."""
    for _ in range(600):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the child hung")


def _cli(*args: str, server: ScriptedServer, stdin: Any = None) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": str(EXAMPLES),
        "CS_CLIENT_ID": "id",
        "CS_CLIENT_SECRET": "secret",
        "CS_PROJECT_ID": "42",
        "CS_AUTH_URL": server.auth_url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "call_tracking_enrichment", "send", *args],
        env=environment,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_requests(server: ScriptedServer, count: int) -> None:
    for _ in range(600):
        if len(server.enrichment_requests) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"the server never saw {count} requests")


def _write_calls(path: Path, count: int) -> list[dict[str, Any]]:
    items = [call(n, n % 700) for n in range(count)]
    lines = [json.dumps(item) for item in items]
    lines[2] = '{"not": "an item"}'  # line 3: rejected, written to --failed-out at once
    path.write_text("\n".join(lines) + "\n")
    return [item for number, item in enumerate(items, start=1) if number != 3]


def test_ctrl_c_stops_the_send_and_says_where_to_resume(
    server: ScriptedServer, tmp_path: Path
) -> None:
    items = _write_calls(tmp_path / "calls.jsonl", 3_000)
    server.script = lambda batch: Reply(delay=0.2)
    failed_out = tmp_path / "failed.jsonl"
    process = _cli(
        str(tmp_path / "calls.jsonl"),
        "--failed-out",
        str(failed_out),
        "--max-batch-size",
        "100",
        "--max-in-flight",
        "2",
        server=server,
    )
    _wait_for_requests(server, 2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert "stopping: reading no more, finishing what is in flight" in err
    assert "accepted" in out and "rejected" in out  # the summary
    resume = int(re.search(r"resume with --start-line (\d+)", err).group(1))  # type: ignore[union-attr]
    assert 3 < resume <= 3_000
    written = [json.loads(line) for line in failed_out.read_text().splitlines()]
    assert [entry["line"] for entry in written] == [3]
    # Every line before the resume line has its outcome: stored, or in the file.
    sent_before = [item for item in items if item["enrichment"]["call_duration"] < resume - 1]
    stored_keys = set(server.store)
    assert all(
        (item["userId"], 1, 1) in stored_keys for item in sent_before
    )
    server.script = None
    again = _cli(str(tmp_path / "calls.jsonl"), "--start-line", str(resume), server=server)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert server.store == last_writes(items)


def test_a_second_ctrl_c_abandons_what_is_in_flight(
    server: ScriptedServer, tmp_path: Path
) -> None:
    _write_calls(tmp_path / "calls.jsonl", 1_000)
    server.script = lambda batch: Reply(stall=60)  # never answers while the test runs
    process = _cli(str(tmp_path / "calls.jsonl"), "--max-batch-size", "100", server=server)
    _wait_for_requests(server, 1)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "abandoning what is in flight" in err
    assert "resume with --start-line 1" in err


def _wait_until(condition: Any, what: str) -> None:
    """Until ``condition()`` holds; a generous bound only turns a hang into a failure."""
    for _ in range(1200):
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"never happened: {what}")


def test_a_trickling_pipe_is_sent_as_it_comes(server: ScriptedServer) -> None:
    """``send -`` from a pipe that writes a few lines and then nothing for a while: they
    are sent once the pipe is quiet, not when 500 items have come or the pipe closes."""
    process = _cli("-", server=server, stdin=subprocess.PIPE)
    assert process.stdin is not None
    for number in (1, 2, 3):
        process.stdin.write(json.dumps(call(number, number)) + "\n")
    process.stdin.flush()
    _wait_until(lambda: len(server.store) == 3, "the first three items stored")
    rest = "".join(json.dumps(call(number, number)) + "\n" for number in (4, 5))
    out, err = process.communicate(rest, timeout=60)  # and the pipe closes
    assert process.returncode == 0, err
    assert len(server.store) == 5
    assert "5 accepted" in out


def test_one_signal_ends_a_send_whose_input_pipe_is_idle(server: ScriptedServer) -> None:
    """The pipe has sent one item and gone quiet: the first Ctrl-C ends the send (the
    read waits for a quiet pipe only so long), and says where to resume."""
    process = _cli("-", server=server, stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(json.dumps(call(1, 1)) + "\n")
    process.stdin.flush()  # one item, then nothing
    _wait_for_signal_handlers(process.pid)
    _wait_until(lambda: len(server.store) == 1, "the item stored")
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)  # with the pipe still open: it has not ended
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    process.stdin.close()
    assert process.returncode == 1, (out, err)
    assert "1 accepted" in out
    assert "abandoning" not in err
    assert "resume with --start-line 2" in err


def test_two_quick_signals_still_count_the_answers_already_in(
    server: ScriptedServer,
) -> None:
    """Three items sent and answered while the reader waits on a quiet pipe, then two
    Ctrl-C at once: whether the second abandons the read or the send had ended first,
    the answers already in count (they were reported as abandoned, 0 accepted)."""
    process = _cli("-", server=server, stdin=subprocess.PIPE)
    assert process.stdin is not None
    for number in (1, 2, 3):
        process.stdin.write(json.dumps(call(number, number)) + "\n")
    process.stdin.flush()
    _wait_for_signal_handlers(process.pid)
    _wait_until(lambda: len(server.store) == 3, "the three items stored")
    process.send_signal(signal.SIGINT)
    time.sleep(0.1)  # two, not one: signals of a kind sent at once are delivered once
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    process.stdin.close()
    assert process.returncode == 1, (out, err)
    assert "3 accepted" in out, (out, err)
    assert "resume with --start-line 4" in err, err


def test_one_signal_ends_a_send_skipping_an_endless_line(server: ScriptedServer) -> None:
    """``send /dev/zero --format jsonl``: one line with no end, refused as too long and
    skipped a chunk at a time. The first Ctrl-C ends the send; it used to read on for
    ever, as /dev/zero is no pipe and the skip never paused."""
    process = _cli("/dev/zero", "--format", "jsonl", server=server)
    try:
        _wait_for_signal_handlers(process.pid)
        io_counts = Path(f"/proc/{process.pid}/io")

        def read_bytes() -> int:
            lines = io_counts.read_text().splitlines()
            return int(next(line for line in lines if line.startswith("rchar:")).split()[1])

        _wait_until(lambda: read_bytes() > 64 << 20, "64 MiB of the line skipped")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, (out, err)
    assert "0 accepted" in out and "line 1: rejected" in out, out
    assert "longer than 1,048,576 bytes" in out, out
    assert "resume with --start-line 2" in err, err


def _wait_for_signal_handlers(pid: int) -> None:
    """Until the command line handles SIGTERM (Python handles SIGINT from the start): then
    its handlers for both are in place."""
    status = Path(f"/proc/{pid}/status")

    def handled() -> bool:
        caught = next(
            (line for line in status.read_text().splitlines() if line.startswith("SigCgt:")),
            "SigCgt: 0",
        )
        return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))

    _wait_until(handled, "the command line's signal handlers installed")
