"""The delivery engine against a slow server, a refusing server and a dead endpoint.

    .venv/bin/python benchmarks/delivery.py [--items 40000] [--latency 0.05] [--runs 5]
        [--max-in-flight N]

Scenarios, each against a local server in another process (a thread per connection,
TCP_NODELAY), the generated call-tracking client with its default settings unless said:
  latency     - every enrichment request answered after --latency seconds, any number at once
                (--max-in-flight: the client's window, its default unless given; it also
                applies to no-latency, and the goal's ceiling uses it)
  one-at-once - the same with max_in_flight=1 (what the client did before)
  no-latency  - the same client and server with no delay: the client's own limit
  refused     - a 500-item batch whose every item is refused for one reason: requests used
  dead        - the endpoint refuses connections: seconds until send returns, 20,000 items
Rates are the median of --runs sends. Goals (issue 9): latency >= 0.8 x min(in-flight x 500 / latency, no-latency rate) and >= 5 x
one-at-once; refused: a few dozen requests, not 999; dead: seconds, not minutes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "generated_examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    latency = 0.0
    refuse = False
    dead_endpoint: str | None = None
    requests: Any = None

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        status = 200
        if self.path.endswith("/token"):
            port = self.server.server_address[1]
            endpoint = self.dead_endpoint or f"http://127.0.0.1:{port}"
            body = json.dumps({"access_token": "t", "endpoint": endpoint}).encode()
        else:
            with self.requests.get_lock():
                self.requests.value += 1
            time.sleep(self.latency)
            body = b'{"success":true}'
            if self.refuse:
                status = 400
                body = json.dumps(
                    {"success": False, "errorCode": "UNKNOWN_FIELD", "field": "call_lenght",
                     "errorMessage": "call_lenght is not a field of this integration"}
                ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(ports: Any, requests: Any, latency: float, refuse: bool, dead: str | None) -> None:
    _Handler.latency, _Handler.refuse, _Handler.dead_endpoint = latency, refuse, dead
    _Handler.requests = requests
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    ports.put(server.server_address[1])
    server.serve_forever()


class Server:
    def __init__(self, latency: float = 0.0, refuse: bool = False, dead: str | None = None):
        self._ports: Any = multiprocessing.Queue()
        self.requests: Any = multiprocessing.Value("i", 0)
        self._process = multiprocessing.Process(
            target=_serve, args=(self._ports, self.requests, latency, refuse, dead), daemon=True
        )

    def __enter__(self) -> str:
        self._process.start()
        return f"http://127.0.0.1:{self._ports.get(timeout=10)}/v1/oauth/token"

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()


def send(auth_url: str, items: list[dict[str, Any]], **options: Any) -> tuple[Any, float]:
    from call_tracking_enrichment import EnrichmentClient

    started = time.perf_counter()
    with EnrichmentClient("id", "secret", 1, auth_url=auth_url, **options) as client:
        report = client.send(items)
    return report, time.perf_counter() - started


def main() -> None:
    from send_throughput import wire_item

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario (median)")
    parser.add_argument("--max-in-flight", type=int, default=None)
    args = parser.parse_args()
    from call_tracking_enrichment.sending import DEFAULT_MAX_IN_FLIGHT

    window = args.max_in_flight or DEFAULT_MAX_IN_FLIGHT
    windowed = {"max_in_flight": args.max_in_flight} if args.max_in_flight else {}

    items = [wire_item(n) for n in range(args.items)]
    rates = {}
    for name, latency, options in (
        ("latency", args.latency, windowed),
        ("one-at-once", args.latency, {"max_in_flight": 1}),
        ("no-latency", 0.0, windowed),
    ):
        print(f"running {name}...", file=sys.stderr, flush=True)
        runs = []
        with Server(latency) as auth_url:
            for _ in range(args.runs):
                report, seconds = send(auth_url, items, **options)
                assert report.accepted == args.items, report
                runs.append(args.items / seconds)
        rates[name] = statistics.median(runs)
    ceiling = min(window * 500 / args.latency, rates["no-latency"])
    print(f"{'scenario':<12} {'items/s':>10}")
    for name, rate in rates.items():
        print(f"{name:<12} {rate:>10,.0f}")
    print(
        f"latency / min({window} x 500 / {args.latency:g} s, no-latency) = "
        f"{rates['latency'] / ceiling:.2f} (goal >= 0.8); latency / one-at-once = "
        f"{rates['latency'] / rates['one-at-once']:.1f} (goal >= 5)"
    )

    print("running refused...", file=sys.stderr, flush=True)
    server = Server(refuse=True)
    with server as auth_url:
        report, seconds = send(auth_url, items[:500])
        used = server.requests.value
    print(f"refused: a 500-item batch refused for one reason: {used} requests "
          f"({report.rejected_count} rejected, {report.failed_count} failed)")

    print("running dead...", file=sys.stderr, flush=True)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    with Server(dead=dead) as auth_url:
        report, seconds = send(auth_url, items[:20_000])
    print(f"dead: 20,000 items all failed in {seconds:.1f} s "
          f"({report.retries} retries of connections refused, {report.failed_count} failed)")


if __name__ == "__main__":
    main()
