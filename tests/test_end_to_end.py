"""Generated clients against the sandbox, over real sockets: every example schema with the
synchronous client, the asyncio client and the command line; a soak with every fault switched
on; and the sandbox checked against an independent client (plain httpx)."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from conftest import (
    EXAMPLE_SCHEMAS,
    EXAMPLES,
    SCHEMAS,
    SandboxClock,
    enrichgen,
    record_client_waits,
)
from generator.integration_spec import FieldType, Integration, load_integration
from generator.sandbox import FaultSettings, Sandbox

Key = tuple[str, int, int]


def value(kind: FieldType, n: int) -> Any:
    if kind is FieldType.STRING:
        return f"välue {n}"[:20]
    if kind is FieldType.INT:
        return n * 7 - 1000
    if kind is FieldType.FLOAT:
        return n / 8
    if kind is FieldType.BOOL:
        return n % 3 == 0
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=n)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def wire_items(
    integration: Integration, count: int, rng: random.Random, users: int
) -> list[dict[str, Any]]:
    """``count`` valid wire items over ``users`` users: many keys repeat (last write wins)."""
    items = []
    for n in range(count):
        enrichment = {
            field.wire_name: value(field.type, n + position)
            for position, field in enumerate(integration.fields)
            if not field.optional or rng.random() < 0.5
        }
        items.append(
            {
                "userId": f"user-{rng.randrange(users)}",
                "sessionNumber": rng.randint(1, 3),
                "enrichmentNumber": rng.randint(1, 3),
                "enrichment": enrichment,
            }
        )
    return items


def invalid_items(integration: Integration) -> list[dict[str, Any]]:
    valid = wire_items(integration, 1, random.Random(0), 1)[0]
    return [
        {**valid, "enrichmentNumber": 4},
        {**valid, "sessionNumber": 0},
        {**valid, "enrichment": {**valid["enrichment"], "no_such_field": 1}},
    ]


def last_writes(items: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {
        (item["userId"], item["sessionNumber"], item["enrichmentNumber"]): item[
            "enrichment"
        ]
        for item in items
    }


def stored(sandbox: Sandbox) -> dict[Key, dict[str, Any]]:
    return {
        (entry["userId"], entry["sessionNumber"], entry["enrichmentNumber"]): entry[
            "enrichment"
        ]
        for entry in sandbox.store.enrichments(project_id=sandbox.project_id)
    }


def package_of(schema: Path) -> ModuleType:
    """The schema's package; ``generated_examples`` holds exactly what ``generate`` writes
    (test_generate checks it), and the command-line test below generates it afresh."""
    return importlib.import_module(load_integration(str(schema)).package)


def mixed_input(
    schema: Path, count: int
) -> tuple[list[dict[str, Any]], list[int], list[Any]]:
    integration = load_integration(str(schema))
    items: list[dict[str, Any]] = wire_items(
        integration, count, random.Random(1), count // 3
    )
    bad = invalid_items(integration)
    positions = [count // 4, count // 2, count - 1]
    for position, item in zip(positions, bad, strict=True):
        items.insert(position, item)
    valid = [item for index, item in enumerate(items) if index not in positions]
    return items, positions, valid


@pytest.mark.parametrize("schema", EXAMPLE_SCHEMAS, ids=lambda path: path.stem)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_example_schema_end_to_end(schema: Path, mode: str) -> None:
    package = package_of(schema)
    items, bad_positions, valid = mixed_input(schema, 1200)
    with Sandbox(load_integration(str(schema))) as sandbox:
        options = {"auth_url": sandbox.auth_url, "max_batch_size": 100}
        credentials = (sandbox.client_id, sandbox.client_secret, sandbox.project_id)
        if mode == "sync":
            with package.EnrichmentClient(*credentials, **options) as client:
                report = client.send(items)
        else:

            async def send() -> Any:
                async with package.AsyncEnrichmentClient(
                    *credentials, **options
                ) as client:
                    return await client.send(items)

            report = asyncio.run(send())
        assert [failure.index for failure in report.rejected] == bad_positions
        assert report.failed == []
        assert report.accepted + report.superseded == len(valid)
        assert stored(sandbox) == last_writes(valid)
        assert sandbox.stats()["tokensIssued"] == 1


@pytest.mark.parametrize("schema", EXAMPLE_SCHEMAS, ids=lambda path: path.stem)
def test_every_example_schema_through_the_command_line(
    schema: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert enrichgen("generate", str(schema), "--out", str(out)).exit_code == 0
    package = load_integration(str(schema)).package
    items, bad_positions, valid = mixed_input(schema, 900)
    path = tmp_path / "items.jsonl"
    path.write_text(
        "".join(json.dumps(item) + "\n" for item in items), encoding="utf-8"
    )
    failed_out = tmp_path / "failed.jsonl"
    with Sandbox(load_integration(str(schema))) as sandbox:
        environment = {
            **os.environ,
            "PYTHONPATH": str(out),
            "CS_CLIENT_ID": sandbox.client_id,
            "CS_CLIENT_SECRET": sandbox.client_secret,
            "CS_PROJECT_ID": str(sandbox.project_id),
            "CS_AUTH_URL": sandbox.auth_url,
        }
        sent = subprocess.run(
            [
                sys.executable,
                "-m",
                package,
                "send",
                str(path),
                "--failed-out",
                str(failed_out),
            ],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sent.returncode == 1, sent.stderr
        summary = re.search(
            r": ([\d,]+) accepted, 3 rejected, 0 failed, ([\d,]+) superseded",
            sent.stdout,
        )
        assert summary is not None, sent.stdout
        accepted, superseded = (
            int(group.replace(",", "")) for group in summary.groups()
        )
        assert accepted + superseded == len(valid)
        assert sandbox.client_secret not in sent.stdout + sent.stderr
        failed = [
            json.loads(line) for line in failed_out.read_text("utf-8").splitlines()
        ]
        assert [entry["line"] for entry in failed] == [p + 1 for p in bad_positions]
        assert stored(sandbox) == last_writes(valid)

        # The failed items, fixed, go back through send as the --failed-out file is.
        fixed = [
            json.dumps(
                {
                    **entry,
                    "item": {
                        **entry["item"],
                        "enrichmentNumber": 1,
                        "sessionNumber": 100 + number,
                        "enrichment": valid[0]["enrichment"],
                    },
                }
            )
            for number, entry in enumerate(failed)
        ]
        failed_out.write_text("\n".join(fixed) + "\n", encoding="utf-8")
        resent = subprocess.run(
            [sys.executable, "-m", package, "send", str(failed_out)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resent.returncode == 0, resent.stdout + resent.stderr
        assert ": 3 accepted, 0 rejected, 0 failed" in resent.stdout
        assert len(stored(sandbox)) == len(last_writes(valid)) + 3


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's waits are recorded, not slept (the sandbox's clock does not need them).

    The client's clock jumps over those waits, so it would renew its short-lived tokens
    before the sandbox sees one expire: here it never renews early, and every renewal goes
    through the sandbox's JWT_EXPIRED answer.
    """
    token_module = importlib.import_module("call_tracking_enrichment.token")
    monkeypatch.setattr(token_module.Token, "needs_renewal", lambda self, now: False)
    return record_client_waits(monkeypatch, "call_tracking_enrichment")


SOAK_FAULTS = FaultSettings(
    fail_rate=0.10, rate_limit=4, drop_rate=0.10, max_batch_size=300, seed=2026
)


@pytest.fixture
def faulty_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """Every fault, and tokens that expire after ``token_ttl`` sandbox seconds (3, or the
    test's ``indirect`` parameter); the sandbox's clock moves 0.1 s at each look."""
    schema = SCHEMAS / "call_tracking.json"
    with Sandbox(
        load_integration(str(schema)),
        token_ttl=getattr(request, "param", 3),
        faults=SOAK_FAULTS,
        clock=SandboxClock(step=0.1),
    ) as sandbox:
        yield sandbox


def client_options(sandbox: Sandbox, max_batch_size: int) -> dict[str, Any]:
    return {
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "project_id": sandbox.project_id,
        "auth_url": sandbox.auth_url,
        "max_batch_size": max_batch_size,
        # Enough that a batch failing every time is practically impossible at these rates.
        "max_retries": 15,
    }


def test_soak_with_every_fault_loses_no_valid_item(
    faulty_sandbox: Sandbox, no_backoff: list[float]
) -> None:
    package = package_of(SCHEMAS / "call_tracking.json")
    integration = load_integration(str(SCHEMAS / "call_tracking.json"))
    items = wire_items(integration, 20_000, random.Random(7), 6_000)
    with package.EnrichmentClient(**client_options(faulty_sandbox, 500)) as client:
        report = client.send(items)
    stats = faulty_sandbox.stats()
    print(f"\nsoak: {report}\nsandbox: {stats}")  # shown with pytest -s (README figures)
    assert report.rejected == [] and report.failed == [], str(report)
    assert report.accepted + report.superseded == len(items)
    assert stored(faulty_sandbox) == last_writes(items)
    faults = stats["faultsInjected"]
    assert min(faults.values()) > 0, stats  # every kind of fault happened
    assert stats["expiredTokens"] > 0 and stats["tokensIssued"] > 1, stats
    assert report.retries >= faults["serverErrors"] + faults["dropped"]


# A token lives about 60 requests there: more than the requests that four sends keep in
# flight at once, so that a batch resent after a 401 has a token that is still valid.
@pytest.mark.parametrize("faulty_sandbox", [20], indirect=True)
def test_soak_with_concurrent_async_sends(
    faulty_sandbox: Sandbox, no_backoff: list[float]
) -> None:
    package = package_of(SCHEMAS / "call_tracking.json")
    integration = load_integration(str(SCHEMAS / "call_tracking.json"))
    # Four senders, each with its own users: the final state does not depend on their order.
    inputs = [
        [
            {**item, "userId": f"sender{sender}-{item['userId']}"}
            for item in wire_items(integration, 5_000, random.Random(sender), 1_500)
        ]
        for sender in range(4)
    ]

    async def soak() -> list[Any]:
        async with package.AsyncEnrichmentClient(
            **client_options(faulty_sandbox, 250)
        ) as client:
            return await asyncio.gather(*(client.send(items) for items in inputs))

    reports = asyncio.run(soak())
    for report, items in zip(reports, inputs, strict=True):
        assert report.rejected == [] and report.failed == [], str(report)
        assert report.accepted + report.superseded == len(items)
    expected: dict[Key, dict[str, Any]] = {}
    for items in inputs:
        expected.update(last_writes(items))
    assert stored(faulty_sandbox) == expected
    assert faulty_sandbox.stats()["expiredTokens"] > 0


def test_the_sandbox_stores_the_same_for_plain_httpx_and_the_generated_client() -> None:
    """An independent client (plain httpx, the wire format written by hand) and the
    generated client, given the same calls, leave the same store."""
    package = package_of(SCHEMAS / "call_tracking.json")
    integration = load_integration(str(SCHEMAS / "call_tracking.json"))
    paris = timezone(timedelta(hours=1))
    calls = [
        (
            "a1b2c3.7",
            True,
            42,
            4.5,
            "Lyon",
            datetime(2026, 11, 2, 11, 15, tzinfo=paris),
            "SALE",
        ),
        (
            "a1b2c3.8",
            False,
            0,
            None,
            None,
            datetime(2026, 11, 2, 10, 16, 30, 900000, tzinfo=timezone.utc),
            None,
        ),
        (
            "ffee.1",
            True,
            1800,
            1.0,
            "Montréal ☎",
            datetime(2026, 11, 3, 0, 30, tzinfo=paris),
            "CALLBACK",
        ),
    ]
    by_hand = []
    models = []
    for key, answered, duration, rating, centre, started, outcome in calls:
        user_id, session_number = package.parse_session_key(key)
        enrichment: dict[str, Any] = {
            "call_answered": answered,
            "call_duration": duration,
            "call_started_at": started.astimezone(timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        }
        for name, field_value in (
            ("client_rating", rating),
            ("call_center_name", centre),
            ("callOutcome", outcome),
        ):
            if field_value is not None:
                enrichment[name] = field_value
        by_hand.append(
            {
                "userId": user_id,
                "sessionNumber": session_number,
                "enrichmentNumber": 1,
                "enrichment": enrichment,
            }
        )
        models.append(
            package.EnrichmentItem(
                user_id=user_id,
                session_number=session_number,
                enrichment=package.Enrichment(
                    call_answered=answered,
                    call_duration=duration,
                    client_rating=rating,
                    call_center_name=centre,
                    call_started_at=started,
                    call_outcome=outcome,
                ),
            )
        )
    with Sandbox(integration) as by_httpx, Sandbox(integration) as by_client:
        token = httpx.post(
            by_httpx.auth_url,
            json={
                "client_id": by_httpx.client_id,
                "client_secret": by_httpx.client_secret,
                "grant_type": "client_credentials",
                "project_id": by_httpx.project_id,
            },
        ).json()
        answer = httpx.post(
            token["endpoint"] + "/v1/enrichments",
            json={
                "integrationVersion": 1,
                "projectId": by_httpx.project_id,
                "enrichments": by_hand,
            },
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert answer.status_code == 200, answer.text
        with package.EnrichmentClient(
            by_client.client_id,
            by_client.client_secret,
            by_client.project_id,
            auth_url=by_client.auth_url,
        ) as client:
            assert client.send(models).ok
        assert by_httpx.store.enrichments() == by_client.store.enrichments()
        assert (
            stored(by_client)[("a1b2c3", 7, 1)]["call_started_at"]
            == "2026-11-02T10:15:00Z"
        )
        assert (
            stored(by_client)[("a1b2c3", 8, 1)]["call_started_at"]
            == "2026-11-02T10:16:30Z"
        )


def test_the_command_line_reports_refused_credentials_without_the_secret(
    tmp_path: Path,
) -> None:
    schema = SCHEMAS / "call_tracking.json"
    path = tmp_path / "items.jsonl"
    items = wire_items(load_integration(str(schema)), 3, random.Random(3), 3)
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    wrong_secret = "not-the-sandbox-secret-4711"
    with Sandbox(load_integration(str(schema))) as sandbox:
        sent = subprocess.run(
            [sys.executable, "-m", "call_tracking_enrichment", "send", str(path),
             "--client-id", sandbox.client_id, "--client-secret", wrong_secret,
             "--project-id", str(sandbox.project_id), "--auth-url", sandbox.auth_url],
            env={**os.environ, "PYTHONPATH": str(EXAMPLES)},
            capture_output=True, text=True, timeout=60,
        )
        assert sandbox.stats()["tokensRefused"] == 1
        assert sandbox.stats()["stored"] == 0
    assert sent.returncode == 1
    assert "HTTP 401" in sent.stderr and "invalid_client" in sent.stderr
    assert wrong_secret not in sent.stdout + sent.stderr
    assert "Traceback" not in sent.stderr
