"""The sandbox against a hostile or careless client, over raw sockets on 127.0.0.1: no Nagle
delay, bodies read with a cap, a 4xx (never a 500) for odd input, clean log lines, the Host
check, the token endpoint's content types, connections that cannot be held for ever, and a
fuzzing test of the request checks."""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sandbox import (
    CALL_TRACKING,
    PROJECT,
    body,
    item,
    post,
    sandbox_command,
    start,
    token_of,
    token_request,
)

from generator.sandbox import Sandbox
from generator.sandbox.bodies import (
    MAX_BODY_BYTES,
    MAX_BODY_BYTES_AT_ONCE,
    MAX_TOKEN_BODY_BYTES,
)
from generator.sandbox.checks import Refusal, parse_body, read_batch

# A recv that waits this long means the sandbox holds the connection: the test fails then,
# it does not measure anything.
HANG_GUARD = 20.0
MB = 1_000_000


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    running = start()
    yield running
    running.stop()


def port_of(sandbox: Sandbox) -> int:
    return int(sandbox.url.rsplit(":", 1)[1])


def connect(sandbox: Sandbox) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_of(sandbox)), timeout=HANG_GUARD)


def head(
    sandbox: Sandbox,
    method: str,
    path: str,
    headers: dict[str, str],
    host: str | None = None,
) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host or f'127.0.0.1:{port_of(sandbox)}'}",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the sandbox sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_and_json(answer: bytes) -> tuple[int, Any]:
    head_part, _, content = answer.partition(b"\r\n\r\n")
    return int(head_part.split(b" ", 2)[1]), json.loads(content)


def bearer(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_of(sandbox)}"}


# -- kept-alive connections answer at once --------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_every_accepted_connection_has_nagle_off(host: str) -> None:
    # With Nagle on, uvicorn's second write of an answer (its body) waits for the client's
    # delayed acknowledgement of the first: 44 ms for every request after the first on a
    # kept-alive connection. Timing that would make a flaky test; the option is the cause.
    try:
        sandbox = start(host=host)
    except Exception as error:  # an IPv6-less machine cannot bind ::1
        pytest.skip(f"cannot listen on {host}: {error}")
    try:
        with httpx.Client() as client:
            for _ in range(3):
                assert client.get(sandbox.url + "/sandbox/stats").status_code == 200
            sockets = sandbox.connection_sockets()
            assert (
                len(sockets) == 1
            )  # the three requests shared one kept-alive connection
            assert all(
                s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets
            )
    finally:
        sandbox.stop()


# -- bodies are read with a cap --------------------------------------------------------------


def test_a_declared_oversized_enrichment_body_is_refused_before_it_is_read(
    sandbox: Sandbox,
) -> None:
    with connect(sandbox) as sock:
        headers = {**bearer(sandbox), "Content-Length": str(400 * MB)}
        # Only the start of the body is sent: the answer must come without the rest. (Bytes
        # sent and left unread when the sandbox closes would make it reset the connection.)
        sock.sendall(head(sandbox, "POST", "/v1/enrichments", headers) + b'{"a": 1')
        status, error = status_and_json(read_until_closed(sock))
    assert status == 413
    assert error["errorCode"] == "PAYLOAD_TOO_LARGE"
    assert str(MAX_BODY_BYTES) in error["errorMessage"]
    assert sandbox.stats()["faultsInjected"]["tooLarge"] == 1


def chunked(sandbox: Sandbox, path: str, headers: dict[str, str], size: int) -> bytes:
    """A chunked body (no declared length) of ``size`` bytes, answered before its end."""
    with connect(sandbox) as sock:
        sock.sendall(
            head(sandbox, "POST", path, {**headers, "Transfer-Encoding": "chunked"})
        )
        chunk = 64 * 1024
        sent = 0
        while sent < size:
            part = min(chunk, size - sent)
            sock.sendall(f"{part:x}\r\n".encode() + b"x" * part + b"\r\n")
            sent += part
        # No final zero-length chunk: the sandbox must answer as soon as it passes its cap.
        return read_until_closed(sock)


def test_a_chunked_enrichment_body_is_cut_off_at_the_cap(sandbox: Sandbox) -> None:
    status, error = status_and_json(
        chunked(sandbox, "/v1/enrichments", bearer(sandbox), MAX_BODY_BYTES + 1)
    )
    assert status == 413 and error["errorCode"] == "PAYLOAD_TOO_LARGE"


def test_a_token_body_has_a_small_cap(sandbox: Sandbox) -> None:
    json_type = {"Content-Type": "application/json"}
    with connect(sandbox) as sock:
        declared = {**json_type, "Content-Length": str(100 * MB)}
        sock.sendall(head(sandbox, "POST", "/v1/oauth/token", declared) + b"{")
        status, error = status_and_json(read_until_closed(sock))
    assert status == 413 and error["error"] == "invalid_request"
    status, error = status_and_json(
        chunked(sandbox, "/v1/oauth/token", json_type, MAX_TOKEN_BODY_BYTES + 1)
    )
    assert status == 413 and error["error"] == "invalid_request"
    # A body at the cap is read (and refused for what it says, not for its size).
    padded = json.dumps(token_request(padding=""))
    padded = padded.replace('"padding": ""', '"padding": "' + "x" * 100 + '"')
    assert (
        httpx.post(sandbox.auth_url, content=padded, headers=json_type).status_code
        == 200
    )


def test_the_bodies_read_at_once_have_a_budget_all_requests_together(
    sandbox: Sandbox,
) -> None:
    # Each of these bodies is within the cap, and stays open: its first byte only is sent.
    largest = {
        **bearer(sandbox),
        "Content-Length": str(MAX_BODY_BYTES),
        "Connection": "close",
    }
    held = [connect(sandbox) for _ in range(MAX_BODY_BYTES_AT_ONCE // MAX_BODY_BYTES)]
    for sock in held:
        sock.sendall(head(sandbox, "POST", "/v1/enrichments", largest) + b"{")
    while sandbox.stats()["requests"] < 1 + len(held):  # the token, then these
        time.sleep(0.01)
    # One more does not fit: 503 to try again soon, its body unread and its connection
    # closed, where it used to be read and held like the others.
    with connect(sandbox) as sock:
        sock.sendall(head(sandbox, "POST", "/v1/enrichments", largest) + b"{")
        answer = read_until_closed(sock)
    status, error = status_and_json(answer)
    assert status == 503 and error["errorCode"] == "SERVER_BUSY"
    assert b"\r\nretry-after: 1\r\n" in answer.lower()
    # What is left of the budget still takes a batch of the usual size.
    assert post(sandbox, body(item())).status_code == 200
    for sock in held:
        # The rest of the body: read, refused for what it says, and the budget given back.
        sock.sendall(b" " * (MAX_BODY_BYTES - 1))
        status, error = status_and_json(read_until_closed(sock))
        assert status == 400 and error["errorCode"] == "INVALID_JSON"
        sock.close()
    padded = json.dumps(body(item("padded"))).encode()
    padded += b" " * (MAX_BODY_BYTES - len(padded))
    assert post(sandbox, padded).status_code == 200


def test_a_refusal_before_the_body_is_read_closes_the_connection(
    sandbox: Sandbox,
) -> None:
    # A 401 answered before a large body was read: the connection cannot carry another
    # request (its body would be read as one), so the sandbox closes it.
    with connect(sandbox) as sock:
        headers = {"Authorization": "Bearer forged", "Content-Length": str(5 * MB)}
        sock.sendall(head(sandbox, "POST", "/v1/enrichments", headers) + b"{")
        status, error = status_and_json(read_until_closed(sock))
    assert status == 401 and error["errorCode"] == "JWT_INVALID"


# -- odd input gets a 4xx, never a 500 -------------------------------------------------------

_VALID_ENRICHMENT = (
    '"enrichment": {"call_answered": true, "call_duration": 1, '
    '"call_started_at": "2026-11-02T10:15:00Z"}'
)


def _raw_item(fields: str) -> bytes:
    envelope = f'"integrationVersion": 1, "projectId": {PROJECT}'
    return (
        f'{{{envelope}, "enrichments": [{{{fields}, {_VALID_ENRICHMENT}}}]}}'.encode()
    )


ODD_BODIES: list[tuple[str, Any, str]] = [
    ("unknown item key outside latin-1", body({**item(), "clé→ā": 1}), "clé→ā"),
    ("unknown envelope key outside latin-1", body(item(), **{"版本": 2}), "版本"),
    (
        "unknown key with a line break",
        body({**item(), "x\r\nPOST /v1/enrichments 200 0.1 ms stored 999": 1}),
        "x\r\nPOST /v1/enrichments 200 0.1 ms stored 999",
    ),
    ("sessionNumber 2**63", body(item(session=2**63)), "sessionNumber"),
    ("sessionNumber 2**31", body(item(session=2**31)), "sessionNumber"),
    (
        "a lone surrogate in userId",
        _raw_item('"userId": "\\ud800", "sessionNumber": 1'),
        "userId",
    ),
    (
        "a lone surrogate as an unknown key",
        _raw_item('"userId": "u", "sessionNumber": 1, "\\udfff": 1'),
        "\udfff",
    ),
]


@pytest.mark.parametrize(
    ("payload", "field"),
    [case[1:] for case in ODD_BODIES],
    ids=[case[0] for case in ODD_BODIES],
)
def test_odd_items_get_a_400_naming_the_field(
    sandbox: Sandbox, payload: Any, field: str
) -> None:
    headers = {**bearer(sandbox), "Content-Type": "application/json"}
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    answer = httpx.post(
        sandbox.url + "/v1/enrichments", content=content, headers=headers
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field
    assert sandbox.stats()["stored"] == 0


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
def test_a_lone_surrogate_in_the_credentials_gets_a_400_naming_the_field(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    caplog.set_level(logging.WARNING)
    # The escape is valid JSON; the text it stands for cannot be encoded as UTF-8.
    content = json.dumps(token_request(**{field: "@"})).replace("@", "\\ud800")
    answer = httpx.post(
        sandbox.auth_url,
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert answer.json()["error_description"].startswith(f"{field}: ")
    assert sandbox.stats()["tokensRefused"] == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "query",
    [
        "limit=" + "9" * 30,
        "projectId=" + "1" * 30,
        "sessionNumber=" + "7" * 5000,
        "limit=-1",
        "limit=%C2%B2",  # a superscript two: a digit to str.isdigit, not to SQLite
        "projectId=9223372036854775808",
    ],
)
def test_odd_filters_of_the_listing_get_a_400(sandbox: Sandbox, query: str) -> None:
    answer = httpx.get(sandbox.url + "/sandbox/enrichments?" + query)
    assert answer.status_code == 400
    assert "is an integer from 0 to" in answer.json()["error"]


def test_a_filter_at_the_largest_integer_is_accepted(sandbox: Sandbox) -> None:
    answer = httpx.get(sandbox.url + "/sandbox/enrichments?limit=9223372036854775807")
    assert answer.status_code == 200 and answer.json()["count"] == 0


# -- log lines ---------------------------------------------------------------------------------


def test_client_text_cannot_forge_a_log_line(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="enrichgen.sandbox")
    forged = "x\r\n12:00:00 POST /v1/enrichments 200 0.1 ms stored 999\u2028\x1b[2J"
    headers = bearer(sandbox)
    httpx.post(
        sandbox.url + "/v1/enrichments",
        json=body({**item(), forged: 1}),
        headers=headers,
    )
    httpx.get(sandbox.url + "/sandbox/stats%0D%0Aforged%1B[2J")
    lines = [r.getMessage() for r in caplog.records if r.name == "enrichgen.sandbox"]
    assert len(lines) == 3  # the token, the refused batch, the unknown page
    for line in lines:
        assert line.isascii() and line.isprintable(), line
    assert "field x\\x0d\\x0a12:00:00 POST" in lines[1]
    assert lines[2].startswith("GET /sandbox/stats\\x0d\\x0aforged\\x1b[2J 404")


# -- the Host header ---------------------------------------------------------------------------


def ask_with_host(sandbox: Sandbox, host: str) -> tuple[int, Any]:
    with connect(sandbox) as sock:
        sock.sendall(
            head(sandbox, "GET", "/sandbox/stats", {"Connection": "close"}, host=host)
        )
        return status_and_json(read_until_closed(sock))


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example:{port}",  # DNS rebinding: the page's own name
        "attacker.example",
        "localhost.attacker.example:{port}",
        "127.0.0.1.nip.io:{port}",
        "10.0.0.1:{port}",
        "127.0.0.1:{other}",
        "127.0.0.1",
        "user@127.0.0.1:{port}",
        "127.0.0.1:{port}, attacker.example",
    ],
)
def test_a_host_the_sandbox_does_not_answer_for_gets_421(
    sandbox: Sandbox, host: str
) -> None:
    port = port_of(sandbox)
    status, error = ask_with_host(sandbox, host.format(port=port, other=port + 1))
    assert status == 421
    assert error["error"] == "misdirected_request"
    assert error["error_description"]


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"]
)
def test_loopback_names_with_the_right_port_are_answered(
    sandbox: Sandbox, host: str
) -> None:
    status, stats = ask_with_host(sandbox, host.format(port=port_of(sandbox)))
    assert status == 200 and "requests" in stats


def test_a_request_with_no_host_is_refused(sandbox: Sandbox) -> None:
    with connect(sandbox) as sock:
        sock.sendall(b"GET /sandbox/stats HTTP/1.0\r\n\r\n")
        status, _ = status_and_json(read_until_closed(sock))
    assert status == 421


# -- the token endpoint's content types --------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain;charset=UTF-8", None]
)
def test_a_token_request_a_web_page_could_send_unasked_gets_415(
    sandbox: Sandbox, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = httpx.post(
        sandbox.auth_url, content=json.dumps(token_request()), headers=headers
    )
    assert answer.status_code == 415
    assert answer.json()["error"] == "invalid_request"
    assert sandbox.stats()["tokensIssued"] == 0


def test_json_with_a_charset_is_still_json(sandbox: Sandbox) -> None:
    answer = httpx.post(
        sandbox.auth_url,
        content=json.dumps(token_request()),
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert answer.status_code == 200


# -- connections cannot be held for ever -------------------------------------------------------


def test_idle_half_open_and_trickling_connections_are_closed() -> None:
    sandbox = start(idle_timeout=0.3, body_timeout=0.3)
    try:
        silent = [connect(sandbox) for _ in range(10)]
        half_heads = [connect(sandbox) for _ in range(10)]
        half_bodies = [connect(sandbox) for _ in range(10)]
        kept_alive = [connect(sandbox) for _ in range(10)]
        for sock in half_heads:
            sock.sendall(
                b"POST /v1/enrichments HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
            )
        token = token_of(sandbox)
        for sock in half_bodies:
            headers = {"Authorization": f"Bearer {token}", "Content-Length": "1000"}
            sock.sendall(head(sandbox, "POST", "/v1/enrichments", headers) + b'{"a": ')
        for sock in kept_alive:
            sock.sendall(head(sandbox, "GET", "/sandbox/stats", {}))
        for sock in silent + half_heads:
            assert read_until_closed(sock) == b""
        for sock in half_bodies:
            status, error = status_and_json(read_until_closed(sock))
            assert status == 408 and error["errorCode"] == "INVALID_REQUEST"
        for sock in kept_alive:
            # The answer, then the close once the connection has been idle too long.
            assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")
        for sock in silent + half_heads + half_bodies + kept_alive:
            sock.close()
        assert httpx.get(sandbox.url + "/sandbox/stats").status_code == 200
    finally:
        sandbox.stop()


def test_an_endless_request_head_gets_a_400(sandbox: Sandbox) -> None:
    with connect(sandbox) as sock:
        sock.sendall(b"GET /sandbox/stats HTTP/1.1\r\nX-Long: " + b"a" * 20_000)
        # The head never ends: the sandbox stops at h11's 16 KiB instead of buffering it.
        assert read_until_closed(sock).startswith(b"HTTP/1.1 400 ")


def test_beyond_the_connection_limit_requests_get_503() -> None:
    sandbox = start(max_connections=3)
    try:
        held = [connect(sandbox) for _ in range(3)]
        with connect(sandbox) as extra:
            extra.sendall(
                head(sandbox, "GET", "/sandbox/stats", {"Connection": "close"})
            )
            assert read_until_closed(extra).startswith(b"HTTP/1.1 503 ")
        for sock in held:
            sock.close()
    finally:
        sandbox.stop()


def _with_few_descriptors() -> None:
    """In the sandbox's process before it starts: room for 64 open files, so that the
    connections below are more than it can accept."""
    import resource  # POSIX only

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(64, hard), hard))


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX descriptor limit")
def test_out_of_file_descriptors_the_sandbox_logs_one_line_and_serves_again() -> None:
    process = sandbox_command(preexec_fn=_with_few_descriptors)
    held: list[socket.socket] = []
    logged = [""]
    try:
        assert process.stdout is not None and process.stderr is not None
        auth_url = next(
            line for line in process.stdout if line.startswith("export CS_AUTH_URL=")
        )
        url = auth_url.strip().split("=", 1)[1].removesuffix("/v1/oauth/token")
        port = int(url.rsplit(":", 1)[1])
        with httpx.Client() as kept_alive:
            assert kept_alive.get(url + "/sandbox/stats").status_code == 200
            held = [
                socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD)
                for _ in range(100)
            ]
            # Read up to the sandbox's first word of it: it has run out.
            while "Too many open files" not in logged[-1]:
                logged.append(process.stderr.readline())
                assert logged[-1], "the sandbox ended before it ran out"
            # Out of descriptors, the sandbox still serves the connections it has. These
            # requests outlast a few pauses of the accept loop: its retries fail silently.
            for _ in range(200):
                assert kept_alive.get(url + "/sandbox/stats").status_code == 200
        for sock in held:
            sock.close()
        # Once descriptors are free, new connections are accepted again.
        assert httpx.get(url + "/sandbox/stats", timeout=HANG_GUARD).status_code == 200
    finally:
        for sock in held:
            sock.close()
        process.terminate()
        _, rest = process.communicate(timeout=HANG_GUARD)
    stderr = "".join(logged) + rest
    assert stderr.count("Too many open files") == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.count("GET /sandbox/stats 200") == 202
    assert process.returncode == 0


# -- fuzzing the request checks ----------------------------------------------------------------


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=12), children, max_size=4
    )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    _containers,
    max_leaves=20,
)
ITEM_KEYS = st.sampled_from(
    ["userId", "sessionNumber", "enrichmentNumber", "enrichment"]
)
FIELD_NAMES = (
    st.sampled_from([field.wire_name for field in CALL_TRACKING.fields]) | st.text()
)
# Items of the right shape with values of any kind: many are valid, so that the fuzzing
# reaches storage too, and the others fail on one field.
SHAPED_ITEMS = st.fixed_dictionaries(
    {
        "userId": st.text(min_size=1, max_size=10) | st.just(""),
        "sessionNumber": st.integers(1, 2**31 - 1) | st.integers(),
        "enrichment": st.fixed_dictionaries(
            {
                "call_answered": st.booleans(),
                "call_duration": st.integers(-(2**40), 2**40),
                "call_started_at": st.just("2026-11-02T10:15:00Z")
                | st.sampled_from(["2026-02-30T10:15:00Z", "2026-11-02T10:15:00+01:00"])
                | st.text(max_size=25),
            },
            optional={
                "client_rating": st.floats(allow_nan=False) | st.integers(),
                "call_center_name": st.text(max_size=60),
                "callOutcome": JSON_VALUES,
            },
        ),
    },
    optional={"enrichmentNumber": st.integers(1, 3) | st.integers()},
)
# Bodies close to valid ones, so that the fuzzing reaches the checks of every field.
NEAR_VALID_BODIES = st.fixed_dictionaries(
    {
        # Mostly right, so that most bodies get as far as the items.
        "integrationVersion": st.sampled_from([1] * 8 + [2, 0, 2**63, "1", None]),
        "projectId": st.sampled_from([PROJECT] * 8 + [PROJECT + 1, -1, 2**64]),
        "enrichments": st.lists(
            SHAPED_ITEMS
            | st.dictionaries(
                ITEM_KEYS | st.text(max_size=8),
                JSON_VALUES | st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=7),
                max_size=5,
            ),
            max_size=3,
        ),
    }
)


def _checked(content: bytes) -> None:
    """What the enrichment endpoint does with a body: parse, check, never raise."""
    parsed = parse_body(content)
    outcome = (
        parsed
        if isinstance(parsed, Refusal)
        else read_batch({1: CALL_TRACKING}, PROJECT, parsed)
    )
    if isinstance(outcome, Refusal):
        assert 400 <= outcome.status < 500
        assert outcome.message and "\n" not in outcome.message
        json.dumps(outcome.body())  # the answer can be written
    else:
        assert outcome  # a batch is never empty


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_get_a_refusal_or_a_batch(content: bytes) -> None:
    _checked(content)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES | NEAR_VALID_BODIES)
def test_fuzz_random_json_gets_a_refusal_or_a_batch(value: Any) -> None:
    _checked(json.dumps(value).encode())


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content=st.binary(max_size=200)
    | NEAR_VALID_BODIES.map(lambda v: json.dumps(v).encode()),
    path=st.sampled_from(["/v1/enrichments", "/v1/oauth/token"]),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain"]
    ),
    query=st.text(max_size=30),
)
def test_fuzz_through_a_socket_never_gets_a_500(
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    content: bytes,
    path: str,
    content_type: str,
    query: str,
) -> None:
    caplog.set_level(logging.WARNING)
    headers = {
        "Content-Type": content_type,
        "Authorization": f"Bearer {fuzz_token(sandbox)}",
    }
    answer = httpx.post(sandbox.url + path, content=content, headers=headers)
    assert answer.status_code < 500, answer.text
    answer.json()
    listing = httpx.get(
        sandbox.url + "/sandbox/enrichments", params={"userId": query, "limit": query}
    )
    assert listing.status_code in (200, 400)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


_TOKENS: dict[str, str] = {}


def fuzz_token(sandbox: Sandbox) -> str:
    if sandbox.url not in _TOKENS:
        _TOKENS[sandbox.url] = token_of(sandbox)
    return _TOKENS[sandbox.url]
