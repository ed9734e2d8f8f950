"""Shared helpers: the repository's paths and running the enrichgen CLI in-process."""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "integration_schemas"
EXAMPLES = ROOT / "generated_examples"
# As in the Makefile: <name>_v<N>.json is a later version of <name>.json; each other schema
# has its own package in generated_examples/, and these two share VERSIONED_PACKAGE.
EXAMPLE_SCHEMAS = sorted(
    path for path in SCHEMAS.glob("*.json") if not re.search(r"_v[0-9]+$", path.stem)
)
VERSIONED_SCHEMAS = [SCHEMAS / "call_tracking.json", SCHEMAS / "call_tracking_v2.json"]
VERSIONED_PACKAGE = "call_tracking_versions_enrichment"

# The generated example packages are imported by the client tests.
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test talks to servers on 127.0.0.1 as they are: a proxy set on the machine
    (``HTTP_PROXY`` with ``NO_PROXY=127.0.0.1``, common in CI) would change which path
    the clients take. The proxy tests set their own."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def enrichgen(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


class SandboxClock:
    """The sandbox's clock in a test: starts now, moves ``step`` seconds at each look and
    ``advance(seconds)`` when told, so expiry and rate limits never depend on real time."""

    def __init__(self, step: float = 0.0) -> None:
        self._now = time.time()
        self._step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._now += self._step
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class SkippedTime:
    """A client clock that jumps over the waits it is asked to make: each wait is recorded
    and added to the clock, so backoff and deadlines behave as if the time had passed."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._skipped = 0.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        return time.monotonic() + self._skipped

    def skip(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self._skipped += seconds


def record_client_waits(monkeypatch: pytest.MonkeyPatch, package: str) -> list[float]:
    """Make ``package``'s clients record their backoff waits instead of sleeping them.

    The clients' own seams are used (their ``_clock`` and ``_sleep``): patching
    ``time.sleep`` or ``asyncio.sleep`` themselves would also change the servers' waits.
    """
    module = importlib.import_module(f"{package}.client")
    skipped = SkippedTime()

    async def skip_async(self: object, seconds: float) -> None:
        skipped.skip(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(module.BaseClient, "_clock", staticmethod(skipped.clock))
    monkeypatch.setattr(module.EnrichmentClient, "_sleep", lambda self, s: skipped.skip(s))
    monkeypatch.setattr(module.AsyncEnrichmentClient, "_sleep", skip_async)
    return skipped.waits
