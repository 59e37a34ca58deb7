"""Where the shim's CPU goes during pod lifecycles: py-spy samples, summed by function.

Starts a shim, attaches py-spy (``pip install py-spy``) to it, runs lifecycle
iterations through it, and prints the functions with the most samples, by
own time and by time including callees; the collapsed stacks are written
next to the JSON for a flame graph (``flamegraph.pl`` or speedscope).

    .venv/bin/python bench/profile.py [--iterations 20]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import RESULTS, shim, table, write_json
from bench._pods import CriPods
from bench.steps import lifecycle


async def drive(endpoint: str, iterations: int) -> None:
    pods = CriPods(endpoint, uuid.uuid4().hex[:6])
    try:
        for i in range(iterations):
            await lifecycle(pods, i)
    finally:
        await pods.cleanup()
        await pods.close()


def summarise(collapsed: Path, top: int) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1] for f in stack.split(";") if f]
        total += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    pct = lambda n: 100 * n / max(total, 1)  # noqa: E731
    return {
        "samples": total,
        "own": [(f, pct(n)) for f, n in own.most_common(top)],
        "inclusive": [(f, pct(n)) for f, n in inclusive.most_common(top)],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    collapsed = out / "profile.collapsed.txt"
    with shim() as runtime:
        recorder = subprocess.Popen(
            [
                *(pyspy, "record", "--pid", str(runtime.pid), "--rate", "250"),
                *("--format", "raw", "--output", str(collapsed), "--nonblocking", "--gil"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            asyncio.run(drive(runtime.endpoint, args.iterations))
        finally:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=60)
    result = summarise(collapsed, args.top)
    print(f"py-spy, {result['samples']} samples over {args.iterations} lifecycles\n")
    print(table(["function (own time)", "% of samples"], result["own"]))
    print()
    print(table(["function (including callees)", "% of samples"], result["inclusive"]))
    print(f"\nJSON: {write_json('profile', result, args.out)}; stacks: {collapsed}")
    return result


if __name__ == "__main__":
    main()
