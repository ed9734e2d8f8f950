"""Time of a request on a kept-alive sandbox connection, against a connection's first request.

    .venv/bin/python benchmarks/sandbox_keep_alive.py [--requests 200]

Before TCP_NODELAY was set on the sandbox's connections, each request after the first on a
kept-alive connection waited for the client's delayed acknowledgement: 44 ms against 2 ms.
A ratio near 1 (or below: a new connection costs a handshake) means that delay is gone.
This is a measurement, not a test: tests/test_hostile_sandbox.py checks the cause instead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx

from generator.integration_spec import load_integration
from generator.sandbox import Sandbox

SCHEMA = Path(__file__).resolve().parent.parent / "integration_schemas" / "call_tracking.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    count = parser.parse_args().requests
    with Sandbox(load_integration(str(SCHEMA))) as sandbox:
        page = sandbox.url + "/sandbox/stats"
        first = []
        for _ in range(count // 10):
            with httpx.Client() as client:
                started = time.perf_counter()
                client.get(page)
                first.append(time.perf_counter() - started)
        kept = []
        with httpx.Client() as client:
            client.get(page)
            for _ in range(count):
                started = time.perf_counter()
                client.get(page)
                kept.append(time.perf_counter() - started)
    first_ms, kept_ms = statistics.median(first) * 1000, statistics.median(kept) * 1000
    print(f"first request of a connection: {first_ms:.2f} ms (median of {len(first)})")
    print(f"kept-alive request:            {kept_ms:.2f} ms (median of {len(kept)})")
    print(f"ratio kept-alive / first:      {kept_ms / first_ms:.2f}")


if __name__ == "__main__":
    main()
