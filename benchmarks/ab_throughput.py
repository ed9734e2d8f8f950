"""Items per second of the generated client against an older commit's, alternating in one run.

    .venv/bin/python benchmarks/ab_throughput.py COMMIT [--items 200000] [--rounds 5]

Checks COMMIT out in a temporary git worktree, then runs, --rounds times in a row, the
send_throughput.py scenarios (a) limit, (b) dicts from COMMIT's tree and (b) dicts from this
tree, each in its own process against one local server with no latency; prints each round's
rates and new/old ratio, and their median (the machine's speed drifts: only ratios of runs
made close together are compared). The worktree is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1] + "/generated_examples")
sys.path.insert(0, sys.argv[1] + "/benchmarks")
import send_throughput
print(json.dumps(send_throughput.run_scenario(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
"""


def _rate(tree: Path, scenario: str, port: int, count: int) -> float:
    output = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tree), scenario, str(port), str(count)],
        check=True, capture_output=True, text=True,
    ).stdout
    seconds: float = json.loads(output.splitlines()[-1])
    return count / seconds


def main() -> None:
    from send_throughput import _serve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=10)
    with tempfile.TemporaryDirectory() as scratch:
        old = Path(scratch) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(old),
                        args.commit], check=True, capture_output=True)
        ratios = []
        try:
            for _ in range(args.rounds):
                limit = _rate(ROOT, "limit", port, args.items)
                before = _rate(old, "dicts", port, args.items)
                after = _rate(ROOT, "dicts", port, args.items)
                ratios.append(after / before)
                print(f"limit {limit:,.0f}  old {before:,.0f}  new {after:,.0f}  "
                      f"new/old {after / before:.2f}  new/limit {after / limit:.2f}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False, capture_output=True)
            server.terminate()
    shown = " · ".join(f"{ratio:.2f}" for ratio in ratios)
    print(f"new/old: {shown}, median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
