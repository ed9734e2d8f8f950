"""Items per second and peak memory of sending, against a minimal local HTTP server.

    .venv/bin/python benchmarks/send_throughput.py [--items 200000] [--stream 1000000]
        [--rounds 3]

Scenarios (each in its own process, so peak memory is its own):
  (a) limit   - pre-encoded bodies posted with httpx, no validation
  (b) dicts   - the generated client, from wire-format dicts
  (c) models  - the generated client, from EnrichmentItem instances
  (d) naive   - one pydantic model per item, model_dump, json, a post per batch
  (e) stream  - the generated client reading a generator of --stream dicts
The server answers 200 to everything, with TCP_NODELAY on, a thread per connection; it runs
in another process. Scenarios (a) to (d) run --rounds times, one after the other in each
round, so that each round's ratios compare runs made close together (the machine's speed
drifts); the medians of rates and of ratios are printed last.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import socket
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "generated_examples"))
BATCH = 500


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.endswith("/token"):
            port = self.server.server_address[1]
            body = json.dumps(
                {"access_token": "t", "endpoint": f"http://127.0.0.1:{port}", "expires_in": 3600}
            ).encode()
        else:
            body = b'{"success":true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(port_queue: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def wire_item(n: int) -> dict[str, Any]:
    return {
        "userId": f"user-{n}",
        "sessionNumber": 1 + n % 50,
        "enrichmentNumber": 1,
        "enrichment": {
            "call_answered": n % 3 != 0,
            "call_duration": n % 3600,
            "client_rating": (n % 50) / 10,
            "call_center_name": "Lyon" if n % 2 else "Casablanca",
            "call_started_at": "2024-03-10T12:00:00Z",
        },
    }


def run_scenario(name: str, port: int, count: int) -> float:
    import httpx
    from call_tracking_enrichment import EnrichmentClient, EnrichmentItem
    from call_tracking_enrichment.models import Enrichment

    base = f"http://127.0.0.1:{port}"
    auth = base + "/v1/oauth/token"
    if name == "stream":
        items: Any = (wire_item(n) for n in range(count))
    else:
        items = [wire_item(n) for n in range(count)]
    if name == "models":
        items = [EnrichmentItem.model_validate(item) for item in items]
    if name == "limit":
        bodies = [
            json.dumps({"integrationVersion": 1, "projectId": 1,
                        "enrichments": items[i:i + BATCH]}).encode()
            for i in range(0, count, BATCH)
        ]
    started = time.perf_counter()
    if name == "limit":
        with httpx.Client() as http:
            for body in bodies:
                http.post(base + "/v1/enrichments", content=body,
                          headers={"Content-Type": "application/json"})
    elif name == "naive":
        with httpx.Client() as http:
            for i in range(0, count, BATCH):
                batch = [
                    {**Enrichment.model_validate(item["enrichment"]).to_wire()} | {
                        "userId": item["userId"], "sessionNumber": item["sessionNumber"],
                        "enrichmentNumber": item["enrichmentNumber"]}
                    for item in items[i:i + BATCH]
                ]
                http.post(base + "/v1/enrichments",
                          json={"integrationVersion": 1, "projectId": 1, "enrichments": batch})
    else:
        with EnrichmentClient("id", "secret", 1, auth_url=auth) as client:
            report = client.send(items)
            assert report.accepted == count, report
    return time.perf_counter() - started


def _child(name: str, port: int, count: int) -> None:
    elapsed = run_scenario(name, port, count)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": name, "seconds": elapsed, "peak_mb": peak_mb, "count": count}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--stream", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=10)

    def run(name: str, count: int) -> dict[str, Any]:
        print(f"running {name} ({count:,} items)...", file=sys.stderr, flush=True)
        output = subprocess.run(
            [sys.executable, __file__, "--child", name, str(port), str(count)],
            check=True, capture_output=True, text=True,
        ).stdout
        result: dict[str, Any] = json.loads(output)
        result["rate"] = result["count"] / result["seconds"]
        return result

    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        for _ in range(args.rounds):
            rounds.append({name: run(name, args.items)
                           for name in ("limit", "dicts", "models", "naive")})
        stream = run("stream", args.stream)
    finally:
        server.terminate()
    print(f"{'scenario':<8} {'items':>10} {'items/s (each round)':>36} {'median':>9} {'peak MB':>8}")
    for name in ("limit", "dicts", "models", "naive"):
        rates = [r[name]["rate"] for r in rounds]
        shown = " · ".join(f"{rate:,.0f}" for rate in rates)
        print(f"{name:<8} {args.items:>10,} {shown:>36} {statistics.median(rates):>9,.0f} "
              f"{max(r[name]['peak_mb'] for r in rounds):>8.0f}")
    print(f"{'stream':<8} {args.stream:>10,} {stream['rate']:>36,.0f} {'':>9} "
          f"{stream['peak_mb']:>8.0f}")
    for other, target in (("limit", 0.4), ("naive", 4.0)):
        ratios = [r["dicts"]["rate"] / r[other]["rate"] for r in rounds]
        shown = " · ".join(f"{ratio:.2f}" for ratio in ratios)
        print(f"dicts / {other}: {shown}, median {statistics.median(ratios):.2f} "
              f"(target >= {target:g})")
    print(f"stream peak = {stream['peak_mb']:.0f} MB (target < 150)")


if __name__ == "__main__":
    main()
