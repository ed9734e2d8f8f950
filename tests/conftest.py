"""Shared helpers: the repository's paths and running the enrichgen CLI in-process."""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "integration_schemas"
EXAMPLES = ROOT / "generated_examples"

# The generated example packages are imported by the client tests.
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def enrichgen(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def run() -> object:
    return enrichgen


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


class _WithoutSleep:
    """A module seen through a proxy whose ``sleep`` records the wait instead of sleeping.

    Set on a client module only: patching ``time.sleep`` or ``asyncio.sleep`` themselves
    would also change the waits of the servers the test talks to.
    """

    def __init__(self, module: ModuleType, waits: list[float], coroutine: bool) -> None:
        self._module = module
        self._waits = waits
        self._coroutine = coroutine

    def __getattr__(self, name: str) -> Any:
        if name != "sleep":
            return getattr(self._module, name)
        if self._coroutine:

            async def async_sleep(seconds: float) -> None:
                self._waits.append(seconds)
                await self._module.sleep(0)

            return async_sleep
        return self._waits.append


def record_client_waits(monkeypatch: pytest.MonkeyPatch, package: str) -> list[float]:
    """Make ``package``'s clients record their backoff waits instead of sleeping them."""
    module = importlib.import_module(f"{package}.client")
    waits: list[float] = []
    monkeypatch.setattr(module, "time", _WithoutSleep(time, waits, coroutine=False))
    monkeypatch.setattr(module, "asyncio", _WithoutSleep(asyncio, waits, coroutine=True))
    return waits
