"""Run the whole benchmark suite: ``.venv/bin/python -m bench [--peer-bin PATH] [--quick]``.

Each part prints its table and writes its JSON into bench/results/ (or --out):
steps (per CRI step vs the raw Docker floor, Docker calls, CPU, RSS),
concurrency (1/20/50 pods at once), scaling (1/10/50/200 pods), kubeletlite
(manifest -> running and idle CPU, against crictl) and profile (py-spy).
A summary of the goals follows, each with its measured figure and ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import concurrency, kubeletlite_start, profile, scaling, steps
from bench._harness import write_json
from bench.goals import evaluate, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer-bin", type=Path, help="a cri-dockerd binary to compare with")
    parser.add_argument(
        "--baseline-src", type=Path, help="another checkout's shim to compare with (e.g. main)"
    )
    parser.add_argument("--out", type=Path, help="directory for the JSON (default bench/results)")
    parser.add_argument(
        "--quick", action="store_true", help="fewer iterations and shorter idle windows"
    )
    parser.add_argument("--max-pods", type=int, default=200, help="largest scaling step")
    args = parser.parse_args()
    peer = ["--peer-bin", str(args.peer_bin)] if args.peer_bin else []
    out = ["--out", str(args.out)] if args.out else []
    before = ["--baseline-src", str(args.baseline_src)] if args.baseline_src else []
    quick = args.quick
    pods = [n for n in (1, 10, 50, 200) if n < args.max_pods] + [args.max_pods]
    started = time.monotonic()
    results = {}
    parts = {
        "steps": lambda: steps.main(["--iterations", "6" if quick else "20", *peer, *before, *out]),
        "concurrency": lambda: concurrency.main(
            ["--rounds", "1" if quick else "2", "--pods", "1", "20", "50", *peer, *before, *out]
        ),
        "scaling": lambda: scaling.main(
            ["--idle-seconds", "10" if quick else "60", "--pods", *map(str, pods), *peer, *out]
        ),
        "kubeletlite": lambda: kubeletlite_start.main(
            ["--rounds", "3" if quick else "5", "--idle-seconds", "10" if quick else "60", *out]
        ),
        "profile": lambda: profile.main(["--iterations", "10" if quick else "20", *out]),
    }
    for name, run in parts.items():
        print(f"\n=== {name} ===\n", flush=True)
        results[name] = run()
    goals = evaluate(results)
    print("\n=== goals ===\n")
    print(report(goals))
    print(f"\nJSON: {write_json('goals', goals, args.out)}")
    print(f"whole suite: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
