"""Where a send's CPU goes, piece by piece, each measured alone in this process.

    .venv/bin/python benchmarks/cost_breakdown.py [--items 200000] [--posts 1000]

  validate_run  - validating and encoding chunks of 500 fresh wire-format dicts (the
                  generated client's fast path: the straight-line check generated from the
                  schema), first pass and second pass over the input; then the same with
                  pydantic's bulk validation alone (the way for what the check leaves)
  post          - CPU per 100 kB post to a local server (another process): through
                  httpx.Client.post (what benchmark (a) of send_throughput.py does), handed
                  to an httpx transport straight (what the asyncio client does with no
                  proxy), and to an httpcore pool straight (what the sync client does)
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "generated_examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def validation(count: int) -> None:
    from call_tracking_enrichment import integration, validation
    from send_throughput import wire_item

    version = integration.LATEST
    for name, run in (("validate_run", validation.validate_run),
                      ("pydantic's bulk validation", validation._bulk_run)):
        run(0, [wire_item(0)], version)  # the validator is built once
        items = [wire_item(n) for n in range(count)]
        for label in ("first pass", "second pass"):
            started = time.process_time()
            for first in range(0, count, 500):
                assert run(first, items[first:first + 500], version)
            per_item = (time.process_time() - started) / count * 1e6
            print(f"{name}, {label}: {per_item:.2f} µs of CPU per item")


def posts(count: int) -> None:
    import httpx
    from call_tracking_enrichment.attempt_deadline import bounded_pool
    from call_tracking_enrichment.client import (
        _core_request,
        _direct_request,
        _ssl_context,
    )
    from send_throughput import _serve

    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=10)}/v1/enrichments"
    body = b"x" * 100_000
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    request = {"url": url, "content": body, "headers": headers, "timeout": 30.0}
    try:
        with (httpx.Client() as client, httpx.HTTPTransport() as pool,
              bounded_pool(_ssl_context()) as core_pool):

            def through_client() -> None:
                client.post(url, content=body, headers=headers)

            def to_the_pool() -> None:
                response = pool.handle_request(_direct_request(request))
                response.read()
                response.close()

            def to_httpcore() -> None:
                response = core_pool.handle_request(_core_request(request))
                response.read()
                response.close()

            for label, post in (("httpx.Client.post", through_client),
                                ("an httpx transport straight", to_the_pool),
                                ("an httpcore pool straight", to_httpcore)) * 2:
                for _ in range(50):
                    post()
                started = time.thread_time()
                for _ in range(count):
                    post()
                per_post = (time.thread_time() - started) / count * 1e3
                print(f"post of 100 kB, {label}: {per_post:.2f} ms of CPU")
    finally:
        server.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args()
    validation(args.items)
    posts(args.posts)


if __name__ == "__main__":
    main()
