"""The sandbox on its own, over real sockets with plain httpx: tokens, every refusal, faults,
storage, the pages to look inside, the log, and the ``enrichgen sandbox`` command."""

from __future__ import annotations

import json
import logging
import math
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from conftest import SCHEMAS, SandboxClock, enrichgen
from generator.integration_spec import Integration, load_integration
from generator.sandbox import FaultSettings, Sandbox, SandboxOptionError
from generator.sandbox.server import MAX_TOKEN_TTL

CALL_TRACKING = load_integration(str(SCHEMAS / "call_tracking.json"))
PROJECT = 4242
SECRET = "sandbox-secret-under-test"


def enrichment(**changes: Any) -> dict[str, Any]:
    return {
        "call_answered": True,
        "call_duration": 42,
        "call_started_at": "2026-11-02T10:15:00Z",
        **changes,
    }


def item(
    user: str = "u1", session: int = 1, number: int = 1, **changes: Any
) -> dict[str, Any]:
    return {
        "userId": user,
        "sessionNumber": session,
        "enrichmentNumber": number,
        "enrichment": enrichment(**changes),
    }


def body(*items: Any, **envelope: Any) -> dict[str, Any]:
    return {
        "integrationVersion": 1,
        "projectId": PROJECT,
        "enrichments": list(items),
        **envelope,
    }


def start(
    integration: Integration | list[Integration] = CALL_TRACKING, **options: Any
) -> Sandbox:
    sandbox = Sandbox(
        integration,
        client_id="provider",
        client_secret=SECRET,
        project_id=PROJECT,
        **options,
    )
    sandbox.start()
    return sandbox


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock()


@pytest.fixture
def sandbox(clock: SandboxClock) -> Iterator[Sandbox]:
    running = start(token_ttl=60, clock=clock)
    yield running
    running.stop()


def token_request(**changes: Any) -> dict[str, Any]:
    return {
        "client_id": "provider",
        "client_secret": SECRET,
        "grant_type": "client_credentials",
        "scope": "enrichment",
        "project_id": PROJECT,
        **changes,
    }


def token_of(sandbox: Sandbox) -> str:
    answer = httpx.post(sandbox.auth_url, json=token_request())
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def post(
    sandbox: Sandbox, payload: Any, token: str | None = None, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or token_of(sandbox)}"}
    if isinstance(payload, (bytes, str)):
        return httpx.post(
            sandbox.url + "/v1/enrichments", content=payload, headers=headers
        )
    return httpx.post(
        sandbox.url + "/v1/enrichments", json=payload, headers=headers, **kwargs
    )


# -- the token endpoint -------------------------------------------------------------------


def test_a_token_is_a_signed_jwt_with_the_documented_answer(sandbox: Sandbox) -> None:
    answer = httpx.post(sandbox.auth_url, json=token_request()).json()
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 60
    assert answer["endpoint"] == sandbox.url
    assert answer["project_id"] == PROJECT
    assert answer["scope"] == "enrichment"
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "provider" and claims["project_id"] == PROJECT
    assert claims["exp"] - claims["iat"] >= 60


def test_a_form_body_is_accepted_too(sandbox: Sandbox) -> None:
    answer = httpx.post(
        sandbox.auth_url,
        data={key: str(value) for key, value in token_request().items()},
    )
    assert answer.status_code == 200
    assert post(sandbox, body(item()), answer.json()["access_token"]).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "everything"}, 400, "invalid_scope"),
        ({"project_id": PROJECT + 1}, 403, "access_denied"),
    ],
)
def test_wrong_credentials_get_an_oauth_error(
    sandbox: Sandbox, change: dict[str, Any], status: int, error: str
) -> None:
    answer = httpx.post(sandbox.auth_url, json=token_request(**change))
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert SECRET not in answer.text
    assert sandbox.stats()["tokensRefused"] == 1


def test_a_token_body_that_is_not_an_object_is_refused(sandbox: Sandbox) -> None:
    for content in (b"{not json", b"[1]", b""):
        answer = httpx.post(
            sandbox.auth_url,
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_request"


# -- the enrichment endpoint: refusals ----------------------------------------------------


def test_a_valid_batch_is_stored_last_write_wins(sandbox: Sandbox) -> None:
    first = post(sandbox, body(item("a"), item("b", call_duration=1)))
    assert first.status_code == 200
    assert first.json() == {"success": True, "accepted": 2}
    assert post(sandbox, body(item("b", call_duration=2))).status_code == 200
    stored = {entry["userId"]: entry for entry in sandbox.store.enrichments()}
    assert stored["b"]["enrichment"]["call_duration"] == 2
    assert stored["a"] == {
        "projectId": PROJECT,
        "userId": "a",
        "sessionNumber": 1,
        "enrichmentNumber": 1,
        "enrichment": enrichment(),
        "integrationVersion": 1,
    }
    assert sandbox.stats()["stored"] == 2


def test_enrichment_number_defaults_to_1(sandbox: Sandbox) -> None:
    without = {
        key: value for key, value in item("a").items() if key != "enrichmentNumber"
    }
    assert post(sandbox, body(without)).status_code == 200
    assert sandbox.store.enrichments()[0]["enrichmentNumber"] == 1


MALFORMED: list[tuple[str, Any, str, str | None]] = [
    ("bad JSON", b'{"integrationVersion": 1, "projectId": ', "INVALID_JSON", None),
    ("NaN is not JSON", b'{"integrationVersion": NaN}', "INVALID_JSON", None),
    ("not an object", [1, 2], "INVALID_REQUEST", None),
    (
        "no enrichments",
        {"integrationVersion": 1, "projectId": PROJECT},
        "INVALID_REQUEST",
        "enrichments",
    ),
    ("empty enrichments", body(), "INVALID_REQUEST", "enrichments"),
    ("unknown envelope key", body(item(), extra=1), "INVALID_REQUEST", "extra"),
    (
        "unknown version",
        body(item(), integrationVersion=2),
        "INVALID_INTEGRATION_VERSION",
        "integrationVersion",
    ),
    (
        "enrichmentNumber 4",
        body(item(), item(number=4)),
        "INVALID_ENRICHMENT",
        "enrichmentNumber",
    ),
    ("sessionNumber 0", body(item(session=0)), "INVALID_ENRICHMENT", "sessionNumber"),
    (
        "sessionNumber true",
        body(item(session=True)),
        "INVALID_ENRICHMENT",
        "sessionNumber",
    ),
    ("empty userId", body(item(user="")), "INVALID_ENRICHMENT", "userId"),
    (
        "a 51-byte string",
        body(item(call_center_name="é" * 25 + "x")),
        "INVALID_ENRICHMENT",
        "call_center_name",
    ),
    (
        "a string for an INT",
        body(item(call_duration="42")),
        "INVALID_ENRICHMENT",
        "call_duration",
    ),
    (
        "a float for an INT",
        body(item(call_duration=4.0)),
        "INVALID_ENRICHMENT",
        "call_duration",
    ),
    (
        "an INT beyond int32",
        body(item(call_duration=2**31)),
        "INVALID_ENRICHMENT",
        "call_duration",
    ),
    (
        "true for an INT",
        body(item(call_duration=True)),
        "INVALID_ENRICHMENT",
        "call_duration",
    ),
    (
        "1 for a BOOL",
        body(item(call_answered=1)),
        "INVALID_ENRICHMENT",
        "call_answered",
    ),
    (
        "a FLOAT overflowing to infinity",
        b'{"integrationVersion": 1, "projectId": 4242, '
        b'"enrichments": [{"userId": "u", "sessionNumber": 1, "enrichment": {"call_answered": '
        b'true, "call_duration": 1, "call_started_at": "2026-11-02T10:15:00Z", '
        b'"client_rating": 1e999}}]}',
        "INVALID_ENRICHMENT",
        "client_rating",
    ),
    (
        "a datetime with an offset",
        body(item(call_started_at="2026-11-02T10:15:00+01:00")),
        "INVALID_ENRICHMENT",
        "call_started_at",
    ),
    (
        "a datetime that does not exist",
        body(item(call_started_at="2026-02-30T10:15:00Z")),
        "INVALID_ENRICHMENT",
        "call_started_at",
    ),
    (
        "null for an optional field",
        body(item(client_rating=None)),
        "INVALID_ENRICHMENT",
        "client_rating",
    ),
    (
        "a missing required field",
        body({**item(), "enrichment": {"call_answered": True}}),
        "INVALID_ENRICHMENT",
        "call_duration",
    ),
    (
        "an unknown field",
        body(item(call_durration=3)),
        "INVALID_ENRICHMENT",
        "call_durration",
    ),
    (
        "an unknown item key",
        body({**item(), "userID": "x"}),
        "INVALID_ENRICHMENT",
        "userID",
    ),
    (
        "a lone surrogate",
        b'{"integrationVersion": 1, "projectId": 4242, "enrichments": '
        b'[{"userId": "u", "sessionNumber": 1, "enrichment": {"call_answered": true, '
        b'"call_duration": 1, "call_started_at": "2026-11-02T10:15:00Z", '
        b'"call_center_name": "\\ud800"}}]}',
        "INVALID_ENRICHMENT",
        "call_center_name",
    ),
]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_a_malformed_request_is_refused_whole_and_the_sandbox_keeps_serving(
    sandbox: Sandbox, payload: Any, code: str, field: str | None
) -> None:
    token = token_of(sandbox)
    answer = post(sandbox, payload, token)
    assert answer.status_code == 400
    error = answer.json()
    assert error["success"] is False
    assert error["errorCode"] == code
    assert error["errorMessage"]
    assert error.get("field") == field
    if code == "INVALID_ENRICHMENT":
        index = error["index"]
        assert f"enrichments[{index}]" in error["errorMessage"]
        assert field is not None and field in error["errorMessage"]
    assert sandbox.stats()["stored"] == 0  # all or nothing
    assert post(sandbox, body(item()), token).status_code == 200


def test_the_refused_item_is_named_by_its_index(sandbox: Sandbox) -> None:
    answer = post(sandbox, body(item("a"), item("b"), item("c", call_duration="x")))
    assert answer.json()["index"] == 2
    assert answer.json()["errorMessage"].startswith("enrichments[2]: call_duration")


def test_another_project_is_forbidden(sandbox: Sandbox) -> None:
    answer = post(sandbox, body(item(), projectId=PROJECT + 1))
    assert answer.status_code == 403
    assert answer.json()["errorCode"] == "FORBIDDEN_PROJECT"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "UNAUTHORIZED"),
        ("Basic abc", "UNAUTHORIZED"),
        ("Bearer not-a-jwt", "JWT_INVALID"),
        (
            "Bearer "
            + jwt.encode(
                {"sub": "provider", "project_id": PROJECT, "exp": 2**40},
                "a-guessed-key-of-32-bytes-or-more",
                algorithm="HS256",
            ),
            "JWT_INVALID",
        ),
        (
            "Bearer "
            + jwt.encode(
                {"sub": "provider", "project_id": PROJECT, "exp": 2**40},
                None,
                algorithm="none",
            ),
            "JWT_INVALID",
        ),
    ],
    ids=["missing", "not bearer", "garbage", "forged signature", "unsigned"],
)
def test_a_missing_or_forged_token_gets_401(
    sandbox: Sandbox, authorization: str | None, code: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.post(
        sandbox.url + "/v1/enrichments", json=body(item()), headers=headers
    )
    assert answer.status_code == 401
    assert answer.json()["errorCode"] == code
    assert sandbox.stats()["stored"] == 0


def test_an_expired_token_gets_the_documented_401(
    sandbox: Sandbox, clock: SandboxClock
) -> None:
    token = token_of(sandbox)
    assert post(sandbox, body(item()), token).status_code == 200
    clock.advance(61)
    answer = post(sandbox, body(item()), token)
    assert answer.status_code == 401
    assert answer.json() == {
        "success": False,
        "errorMessage": "Auth token is expired.",
        "errorCode": "JWT_EXPIRED",
    }
    assert sandbox.stats()["expiredTokens"] == 1


def test_a_token_of_an_earlier_run_is_forged(tmp_path: Path) -> None:
    first = start(db=str(tmp_path / "store.db"))
    token = token_of(first)
    first.stop()
    second = start(db=str(tmp_path / "store.db"))
    try:
        assert post(second, body(item()), token).json()["errorCode"] == "JWT_INVALID"
    finally:
        second.stop()


# -- storage and the pages to look inside -------------------------------------------------


def test_a_database_file_keeps_the_data_across_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    first = start(db=path)
    assert post(first, body(item("a"), item("b"))).status_code == 200
    first.stop()
    second = start(db=path)
    try:
        assert post(second, body(item("a", call_duration=7))).status_code == 200
        stored = {
            entry["userId"]: entry["enrichment"] for entry in second.store.enrichments()
        }
        assert stored == {"a": enrichment(call_duration=7), "b": enrichment()}
    finally:
        second.stop()


def test_stored_enrichments_can_be_filtered(sandbox: Sandbox) -> None:
    post(sandbox, body(item("a", 1), item("a", 2), item("a", 2, 3), item("b", 1)))
    page = sandbox.url + "/sandbox/enrichments"

    def keys(query: str) -> list[tuple[str, int, int]]:
        answer = httpx.get(page + query).json()
        assert answer["count"] == len(answer["enrichments"])
        return [
            (entry["userId"], entry["sessionNumber"], entry["enrichmentNumber"])
            for entry in answer["enrichments"]
        ]

    assert keys("") == [("a", 1, 1), ("a", 2, 1), ("a", 2, 3), ("b", 1, 1)]
    assert keys("?userId=a&sessionNumber=2") == [("a", 2, 1), ("a", 2, 3)]
    assert keys(f"?projectId={PROJECT}&userId=b") == [("b", 1, 1)]
    assert keys(f"?projectId={PROJECT + 1}") == []
    assert keys("?limit=1") == [("a", 1, 1)]
    assert httpx.get(page + "?sessionNumber=two").status_code == 400


def test_stats_count_what_arrived(sandbox: Sandbox, clock: SandboxClock) -> None:
    token = token_of(sandbox)
    post(sandbox, body(item("a"), item("b")), token)
    post(sandbox, body(item(number=4)), token)
    clock.advance(3600)
    post(sandbox, body(item()), token)
    stats = httpx.get(sandbox.url + "/sandbox/stats").json()
    assert stats == {
        "requests": 5,  # this one included
        "tokensIssued": 1,
        "tokensRefused": 0,
        "batchesAccepted": 1,
        "itemsAccepted": 2,
        "requestsRejected": 2,
        "expiredTokens": 1,
        "faultsInjected": {
            "serverErrors": 0,
            "rateLimited": 0,
            "dropped": 0,
            "tooLarge": 0,
        },
        "stored": 2,
    }


def test_one_log_line_per_request(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="enrichgen.sandbox")
    token = token_of(sandbox)
    post(sandbox, body(item()), token)
    post(sandbox, body(item(number=4)), token)
    httpx.get(sandbox.url + "/sandbox/stats")
    lines = [r.getMessage() for r in caplog.records if r.name == "enrichgen.sandbox"]
    assert len(lines) == 4
    assert lines[0].startswith("POST /v1/oauth/token 200")
    assert lines[1].startswith("POST /v1/enrichments 200") and "stored 1" in lines[1]
    assert lines[2].startswith("POST /v1/enrichments 400")
    assert "INVALID_ENRICHMENT item 0 field enrichmentNumber" in lines[2]
    assert SECRET not in caplog.text and token not in caplog.text


# -- faults -------------------------------------------------------------------------------


def _statuses(seed: int) -> list[int]:
    sandbox = start(faults=FaultSettings(fail_rate=0.5, seed=seed))
    try:
        token = token_of(sandbox)
        return [post(sandbox, body(item()), token).status_code for _ in range(30)]
    finally:
        sandbox.stop()


def test_server_errors_are_injected_at_the_rate_asked_and_repeat_with_the_seed() -> (
    None
):
    statuses = _statuses(seed=11)
    assert statuses == _statuses(seed=11)
    assert set(statuses) <= {200, 500, 502, 503}
    assert 200 in statuses and len(set(statuses)) >= 3


def test_a_dropped_connection_gets_no_answer_but_the_batch_was_stored() -> None:
    sandbox = start(faults=FaultSettings(drop_rate=1.0))
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            post(sandbox, body(item("dropped")))
        assert [entry["userId"] for entry in sandbox.store.enrichments()] == ["dropped"]
        assert sandbox.stats()["faultsInjected"]["dropped"] == 1
        assert httpx.get(sandbox.url + "/sandbox/stats").status_code == 200
    finally:
        sandbox.stop()


def test_beyond_the_rate_limit_429_with_retry_after(clock: SandboxClock) -> None:
    sandbox = start(faults=FaultSettings(rate_limit=2), clock=clock)
    try:
        token = token_of(sandbox)
        statuses = [post(sandbox, body(item()), token) for _ in range(3)]
        assert [answer.status_code for answer in statuses] == [200, 200, 429]
        assert int(statuses[2].headers["Retry-After"]) >= 1
        clock.advance(1)
        assert post(sandbox, body(item()), token).status_code == 200
        assert sandbox.stats()["faultsInjected"]["rateLimited"] == 1
    finally:
        sandbox.stop()


def test_a_rate_below_one_a_second_allows_one_request_every_so_many_seconds(
    clock: SandboxClock,
) -> None:
    # 0.5 means one request every 2 s: in windows of one second, none would ever pass.
    sandbox = start(faults=FaultSettings(rate_limit=0.5), clock=clock)
    try:
        token = token_of(sandbox)
        statuses = [post(sandbox, body(item()), token) for _ in range(2)]
        assert [answer.status_code for answer in statuses] == [200, 429]
        assert 1 <= int(statuses[1].headers["Retry-After"]) <= 2
        clock.advance(2)
        assert post(sandbox, body(item()), token).status_code == 200
    finally:
        sandbox.stop()


def test_beyond_the_maximum_batch_size_413() -> None:
    sandbox = start(faults=FaultSettings(max_batch_size=2))
    try:
        answer = post(sandbox, body(item("a"), item("b"), item("c")))
        assert answer.status_code == 413
        assert answer.json()["errorCode"] == "PAYLOAD_TOO_LARGE"
        assert post(sandbox, body(item("a"), item("b"))).status_code == 200
    finally:
        sandbox.stop()


def test_latency_delays_each_answer() -> None:
    sandbox = start(faults=FaultSettings(latency=0.2))
    try:
        token = token_of(sandbox)
        started = time.monotonic()
        assert post(sandbox, body(item()), token).status_code == 200
        assert time.monotonic() - started >= 0.2
    finally:
        sandbox.stop()


# -- the command ----------------------------------------------------------------------------


# A secret a shell would misread unquoted: spaces, quotes, a command substitution.
SHELL_HOSTILE_SECRET = 'it\'s a $(touch pwned) `touch pwned` "secret"'


def sandbox_command(*options: str, **popen: Any) -> subprocess.Popen[str]:
    """``enrichgen sandbox`` serving call_tracking.json in a process of its own, its output
    piped."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "generator",
            "sandbox",
            str(SCHEMAS / "call_tracking.json"),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _banner_of(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    return "".join(lines)


def _shell_settings(banner: str, cwd: Path) -> dict[str, str]:
    """What a POSIX shell has in its environment after the banner is pasted into it."""
    names = ["CS_AUTH_URL", "CS_CLIENT_ID", "CS_CLIENT_SECRET", "CS_PROJECT_ID"]
    script = banner + "".join(f'printf "%s\\0" "${name}"\n' for name in names)
    shell = subprocess.run(
        ["sh", "-c", script], cwd=cwd, capture_output=True, text=True, check=True
    )
    return dict(zip(names, shell.stdout.split("\0")[:-1], strict=True))


def test_the_command_prints_export_lines_a_shell_can_run_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    process = sandbox_command(
        "--client-secret",
        SHELL_HOSTILE_SECRET,
        "--db",
        str(tmp_path / "s.db"),
        "--seed",
        "1",
    )
    try:
        banner = _banner_of(process)
        assert "export CS_CLIENT_SECRET=" in banner
        settings = _shell_settings(banner, tmp_path)
        assert not (tmp_path / "pwned").exists()
        assert settings["CS_CLIENT_SECRET"] == SHELL_HOSTILE_SECRET
        assert settings["CS_PROJECT_ID"] == "123456"
        assert settings["CS_AUTH_URL"].startswith("http://127.0.0.1:")
        token = httpx.post(
            settings["CS_AUTH_URL"],
            json={
                "client_id": settings["CS_CLIENT_ID"],
                "client_secret": settings["CS_CLIENT_SECRET"],
                "grant_type": "client_credentials",
            },
        )
        assert token.status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "POST /v1/oauth/token 200" in stderr
    assert "Traceback" not in stderr
    assert process.returncode == 0 and "sandbox stopped" in stderr


def _outcome(url: str, token: str) -> str:
    """What a client sees of one enrichment request: its status, or how it ended."""
    try:
        answer = httpx.post(
            url + "/v1/enrichments",
            json=body(item()),
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
    except httpx.RemoteProtocolError:
        return "closed without an answer"
    except httpx.TransportError as error:
        return type(error).__name__
    return str(answer.status_code)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_requests_are_pending_stops_without_a_500_or_a_traceback(
    stop: signal.Signals,
) -> None:
    pending = 3
    process = sandbox_command(
        "--client-id",
        "provider",
        "--client-secret",
        SECRET,
        "--project-id",
        str(PROJECT),
        # Longer than the grace uvicorn gives running requests when it stops: they are
        # still pending when the sandbox has to end them.
        "--latency",
        "600",
    )
    outcomes: list[str] = []
    clients: list[threading.Thread] = []
    try:
        found = re.search(r"^export CS_AUTH_URL=(\S+)/v1/oauth/token$", _banner_of(process), re.M)
        assert found is not None
        url = found.group(1)
        token = httpx.post(url + "/v1/oauth/token", json=token_request()).json()["access_token"]
        clients = [
            threading.Thread(target=lambda: outcomes.append(_outcome(url, token)))
            for _ in range(pending)
        ]
        for client in clients:
            client.start()
        # Every request is counted as it arrives: the token, the pending ones, these looks.
        looks = 0
        while True:
            looks += 1
            seen = httpx.get(url + "/sandbox/stats").json()["requests"]
            if seen - looks - 1 >= pending:
                break
            time.sleep(0.01)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=60)  # a guard against a hang, not a measure
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for client in clients:
            client.join(timeout=120)
    assert Counter(outcomes) == {"closed without an answer": pending}
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert stderr.count("POST /v1/enrichments dropped") == pending, stderr
    assert process.returncode == 0 and stderr.rstrip().endswith("sandbox stopped")


@pytest.mark.parametrize(
    ("arguments", "exit_code", "message"),
    [
        (["--host", "0.0.0.0"], 2, "not a loopback address"),
        (["--fail-rate", "1.5"], 2, "--fail-rate"),
        (["--token-ttl", "0"], 2, "--token-ttl"),
    ],
)
def test_bad_options_are_usage_errors(
    arguments: list[str], exit_code: int, message: str
) -> None:
    result = enrichgen("sandbox", str(SCHEMAS / "call_tracking.json"), *arguments)
    assert result.exit_code == exit_code
    assert message in result.stderr


@pytest.mark.parametrize(
    ("options", "arguments", "message"),
    [
        ({"token_ttl": 10**400}, ["--token-ttl", "1" + "0" * 400], "--token-ttl"),
        ({"token_ttl": MAX_TOKEN_TTL + 1}, None, "--token-ttl"),
        ({"project_id": 2**63}, ["--project-id", str(2**63)], "--project-id"),
        ({"client_id": "\udcff"}, ["--client-id", "\udcff"], "--client-id"),
        (
            {"faults": FaultSettings(rate_limit=0.0001)},
            ["--rate-limit", "0.0001"],
            "--rate-limit",
        ),
        ({"idle_timeout": math.inf}, None, "timeouts"),
    ],
    ids=[
        "huge ttl",
        "ttl over a year",
        "project id 2**63",
        "undecodable client id",
        "rate below 0.001",
        "endless idle timeout",
    ],
)
def test_options_the_sandbox_cannot_serve_are_refused_at_start_up(
    options: dict[str, Any], arguments: list[str] | None, message: str
) -> None:
    # Each was accepted, then broke: every token request or every batch got a 500 (an
    # overflow in the expiry time or in SQLite, a client id that cannot be encoded), every
    # request a 429 (a rate far below one a second), or the sandbox could not be built (an
    # endless timeout).
    with pytest.raises(SandboxOptionError, match=message):
        Sandbox(CALL_TRACKING, **options)
    if arguments is not None:
        result = enrichgen("sandbox", str(SCHEMAS / "call_tracking.json"), *arguments)
        assert result.exit_code == 2
        error_lines = [
            line for line in result.stderr.splitlines() if line.startswith("Error")
        ]
        assert len(error_lines) == 1 and message in error_lines[0]


def test_options_at_their_largest_values_work(tmp_path: Path) -> None:
    largest = 2**63 - 1
    largest_version = 2**31 - 1  # the most a schema may say
    sandbox = Sandbox(
        schema_version(tmp_path, largest_version),
        client_id="provider",
        client_secret=SECRET,
        project_id=largest,
        token_ttl=MAX_TOKEN_TTL,
    )
    sandbox.start()
    try:
        answer = httpx.post(sandbox.auth_url, json=token_request(project_id=largest))
        assert answer.status_code == 200
        assert answer.json()["expires_in"] == MAX_TOKEN_TTL
        token = answer.json()["access_token"]
        batch = body(v2_item(), integrationVersion=largest_version, projectId=largest)
        assert post(sandbox, batch, token).status_code == 200
        [stored] = sandbox.store.enrichments()
        assert stored["projectId"] == largest
        assert stored["integrationVersion"] == largest_version
    finally:
        sandbox.stop()


def test_an_integration_version_beyond_int32_is_an_invalid_schema(tmp_path: Path) -> None:
    # Valid once (every batch of it then failed to be stored, a 500): now refused as validate
    # refuses it.
    path = tmp_path / "huge.json"
    document = json.loads((SCHEMAS / "call_tracking.json").read_text())
    path.write_text(json.dumps({**document, "integrationVersion": 2**63}))
    result = enrichgen("sandbox", str(path))
    assert result.exit_code == 1
    assert "/integrationVersion: must be at most 2147483647" in result.stderr


def test_an_invalid_schema_is_reported_like_validate(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        json.dumps({"fields": [{"name": "x", "type": "INTEGER", "optional": False}]})
    )
    result = enrichgen("sandbox", str(path))
    assert result.exit_code == 1
    assert "unknown field type 'INTEGER'" in result.stderr


def test_a_port_in_use_is_a_clear_error() -> None:
    sandbox = start()
    try:
        port = sandbox.url.rsplit(":", 1)[1]
        result = enrichgen(
            "sandbox", str(SCHEMAS / "call_tracking.json"), "--port", port
        )
        assert result.exit_code == 1
        assert f"cannot listen on 127.0.0.1 port {port}" in result.stderr
    finally:
        sandbox.stop()


# -- several versions of one integration --------------------------------------------------


def schema_version(
    tmp_path: Path, version: int, name: str = "call_tracking", **changes: Any
) -> Integration:
    """call_tracking.json at another integrationVersion: ``call_duration`` replaced by a
    required ``call_cost`` from version 2 on."""
    document = json.loads((SCHEMAS / "call_tracking.json").read_text())
    document.update({"integrationVersion": version, "name": name, **changes})
    if version >= 2:
        document["fields"] = [
            field for field in document["fields"] if field["name"] != "call_duration"
        ] + [{"name": "call_cost", "type": "FLOAT", "optional": False}]
    path = tmp_path / f"{name}_v{version}.json"
    path.write_text(json.dumps(document))
    return load_integration(str(path))


def v2_item(user: str = "u2") -> dict[str, Any]:
    fields = {
        key: value for key, value in enrichment().items() if key != "call_duration"
    }
    return {
        "userId": user,
        "sessionNumber": 1,
        "enrichment": {**fields, "call_cost": 1.5},
    }


def test_each_request_is_checked_against_the_version_it_names(tmp_path: Path) -> None:
    sandbox = start([CALL_TRACKING, schema_version(tmp_path, 2)])
    try:
        token = token_of(sandbox)
        assert post(sandbox, body(item("u1")), token).status_code == 200
        assert (
            post(sandbox, body(v2_item(), integrationVersion=2), token).status_code
            == 200
        )
        # Each version's rules, not the union of them:
        old_in_new = post(sandbox, body(item("u3"), integrationVersion=2), token)
        assert old_in_new.status_code == 400
        assert old_in_new.json()["field"] == "call_duration"
        new_in_old = post(sandbox, body(v2_item("u4")), token)
        assert new_in_old.status_code == 400
        assert new_in_old.json()["field"] == "call_cost"
        unknown = post(sandbox, body(item(), integrationVersion=3), token)
        assert unknown.status_code == 400
        assert unknown.json()["errorCode"] == "INVALID_INTEGRATION_VERSION"
        assert "versions 1, 2" in unknown.json()["errorMessage"]
        stored = {
            e["userId"]: e["integrationVersion"] for e in sandbox.store.enrichments()
        }
        assert stored == {"u1": 1, "u2": 2}
        assert sandbox.integration.version == 2  # the latest
    finally:
        sandbox.stop()


def test_a_gap_between_versions_is_fine(tmp_path: Path) -> None:
    sandbox = start([schema_version(tmp_path, 3), CALL_TRACKING])
    try:
        assert list(sandbox.integrations) == [1, 3]
        assert post(sandbox, body(v2_item(), integrationVersion=3)).status_code == 200
        answer = post(sandbox, body(item(), integrationVersion=2))
        assert answer.json()["errorCode"] == "INVALID_INTEGRATION_VERSION"
    finally:
        sandbox.stop()


def test_the_banner_names_every_version(tmp_path: Path) -> None:
    from generator.sandbox.banner import banner

    sandbox = Sandbox([CALL_TRACKING, schema_version(tmp_path, 2)])
    try:
        first = banner(sandbox).splitlines()[0]
        assert first.startswith(
            "# enrichgen sandbox: call_tracking integration versions 1, 2 on"
        )
    finally:
        sandbox.stop()


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            {"version": 1},
            "call_tracking_v1.json are both integrationVersion 1: each schema of an "
            'integration has its own "integrationVersion"',
        ),
        (
            {"version": 2, "name": "live_chat"},
            "are schemas of different integrations (call_tracking, live_chat)",
        ),
    ],
    ids=["same version", "another integration"],
)
def test_schemas_that_are_not_versions_of_one_integration_are_refused(
    tmp_path: Path, second: dict[str, Any], message: str
) -> None:
    other = schema_version(tmp_path, **second)
    with pytest.raises(SandboxOptionError, match="integration"):
        Sandbox([CALL_TRACKING, other])
    result = enrichgen(
        "sandbox", str(SCHEMAS / "call_tracking.json"), other.schema_path
    )
    assert result.exit_code == 2
    assert message in result.stderr
    error_lines = [
        line for line in result.stderr.splitlines() if line.startswith("Error")
    ]
    assert len(error_lines) == 1 and message in error_lines[0]


def test_a_missing_schema_is_a_usage_error_like_for_generate(tmp_path: Path) -> None:
    result = enrichgen("sandbox", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no such file" in result.stderr
