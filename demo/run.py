"""The whole flow on this machine, as ``make demo`` runs it.

Generates the call-tracking package, starts ``enrichgen sandbox`` on a free loopback port,
writes a file of sample calls (a handful of them invalid on purpose), sends it with
``python -m call_tracking_enrichment send``, shows the report and what the sandbox stored,
then stops the sandbox. Exits 1 if anything did not happen as expected.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "integration_schemas" / "call_tracking.json"
OUT = ROOT / "demo_out"
PACKAGE = "call_tracking_enrichment"
BIN = Path(sys.executable).parent
CALLS = 5000
CENTRES = ["Lyon", "Paris La Défense", "Berlin-Mitte", "Montréal", "Porto", "Kraków"]
OUTCOMES = ["SALE", "CALLBACK", "NO_SALE", "WRONG_NUMBER", None]
INVALID: list[tuple[str, dict[str, Any]]] = [
    # (what is wrong, the bad item)
    (
        "a call centre name of 49 characters but 51 bytes (the limit is 50 bytes)",
        {"call_center_name": "Centre d'appels Saint-Rémy-de-Provence bâtiment B"},
    ),
    ("enrichmentNumber 4", {"enrichmentNumber": 4}),
    ("a duration as text", {"call_duration": "12 minutes"}),
    ("a start time without a time zone", {"call_started_at": "2026-11-02 10:15:00"}),
    ("a missing required field", {"call_answered": None}),
    ("session number 0", {"sessionNumber": 0}),
]


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def sample_calls(
    count: int, rng: random.Random
) -> tuple[list[dict[str, Any]], set[int]]:
    """``count`` realistic calls with the INVALID ones spread among them; and their positions."""
    start = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
    calls: list[dict[str, Any]] = []
    for number in range(count):
        answered = rng.random() < 0.8
        enrichment: dict[str, object] = {
            "call_answered": answered,
            "call_duration": rng.randint(20, 1800) if answered else 0,
            "call_started_at": (start + timedelta(seconds=37 * number)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        }
        if rng.random() < 0.9:
            enrichment["call_center_name"] = rng.choice(CENTRES)
        if answered and rng.random() < 0.6:
            enrichment["client_rating"] = round(rng.uniform(1, 5), 1)
        outcome = rng.choice(OUTCOMES) if answered else None
        if outcome:
            enrichment["callOutcome"] = outcome
        calls.append(
            {
                "userId": f"{rng.getrandbits(64):016x}",
                "sessionNumber": rng.randint(1, 40),
                "enrichmentNumber": 1,
                "enrichment": enrichment,
            }
        )
    invalid_positions = range(1, count, count // len(INVALID))[: len(INVALID)]
    for position, (_, change) in zip(invalid_positions, INVALID, strict=True):
        call = calls[position]
        for key, value in change.items():
            target = call if key in call else call["enrichment"]
            assert isinstance(target, dict)
            if value is None:
                del target[key]
            else:
                target[key] = value
    return calls, set(invalid_positions)


def start_sandbox(secret: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``enrichgen sandbox`` in the background; returns it and the CS_* settings it printed."""
    sandbox = subprocess.Popen(
        [
            str(BIN / "enrichgen"),
            "sandbox",
            str(SCHEMA),
            "--client-id",
            "demo-provider",
            "--client-secret",
            secret,
            "--fail-rate",
            "0.05",
            "--seed",
            "7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert sandbox.stdout is not None
    settings: dict[str, str] = {}
    for line in sandbox.stdout:
        print(line.replace(secret, "*" * 8), end="")
        name, equals, value = line.strip().removeprefix("export ").partition("=")
        if equals and name.startswith("CS_"):
            settings[name] = value
        if "Ctrl-C" in line:
            break
    if "CS_AUTH_URL" not in settings:
        sandbox.kill()
        raise SystemExit("the sandbox did not start")
    return sandbox, settings


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def main() -> int:
    started = time.monotonic()
    step(f"enrichgen generate {SCHEMA.relative_to(ROOT)} --out demo_out")
    subprocess.run(
        [str(BIN / "enrichgen"), "generate", str(SCHEMA), "--out", str(OUT)], check=True
    )
    print("  " + "  ".join(sorted(path.name for path in (OUT / PACKAGE).iterdir())))

    step("the sample file: realistic calls, a handful deliberately invalid")
    calls, invalid_positions = sample_calls(CALLS, random.Random(2026))
    sample = OUT / "calls.jsonl"
    sample.write_text(
        "".join(json.dumps(call) + "\n" for call in calls), encoding="utf-8"
    )
    print(f"  {sample.relative_to(ROOT)}: {len(calls):,} calls, of which invalid:")
    for what, _ in INVALID:
        print(f"    - {what}")

    step("enrichgen sandbox (5 % of requests fail with a 5xx, to show the retries)")
    secret = os.urandom(12).hex()
    sandbox, settings = start_sandbox(secret)
    try:
        step(f"python -m {PACKAGE} send {sample.relative_to(ROOT)} --failed-out ...")
        failed_out = OUT / "failed.jsonl"
        sent = subprocess.run(
            [
                str(BIN / "python"),
                "-m",
                PACKAGE,
                "send",
                str(sample.relative_to(ROOT)),
                "--failed-out",
                str(failed_out.relative_to(ROOT)),
            ],
            cwd=ROOT,
            env={
                **os.environ,
                **settings,
                "CS_CLIENT_SECRET": secret,
                "PYTHONPATH": str(OUT),
            },
            check=False,
        )
        print(f"  exit status {sent.returncode} (1: some items were rejected)")
        failed = failed_out.read_text(encoding="utf-8").splitlines()
        print(f"  {failed_out.relative_to(ROOT)}: {len(failed)} lines, the first:")
        print("    " + failed[0][:160] + ("..." if len(failed[0]) > 160 else ""))

        base = settings["CS_AUTH_URL"].removesuffix("/v1/oauth/token")
        step(f"what the sandbox saw: GET {base}/sandbox/stats")
        stats = get_json(f"{base}/sandbox/stats")
        print("  " + json.dumps(stats))
        step(f"what it stored: GET {base}/sandbox/enrichments?limit=2")
        stored = get_json(f"{base}/sandbox/enrichments?limit=2")
        print(
            "  "
            + json.dumps(stored, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    step(f"sandbox stopped; the demo took {time.monotonic() - started:.1f} s")

    expected_keys = {
        (call["userId"], call["sessionNumber"], call["enrichmentNumber"])
        for position, call in enumerate(calls)
        if position not in invalid_positions
    }
    problems = []
    if sent.returncode != 1 or len(failed) != len(INVALID):
        problems.append(f"expected {len(INVALID)} rejected items and exit status 1")
    assert isinstance(stats, dict)
    if stats["stored"] != len(expected_keys):
        problems.append(
            f"expected {len(expected_keys)} stored enrichments, got {stats['stored']}"
        )
    for problem in problems:
        print(f"demo: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
