"""N pods started in parallel: wall time and per-pod latency, against the raw Docker floor.

A pod start is RunPodSandbox, CreateContainer, StartContainer; N of them are
started at once (asyncio.gather) through each CRI runtime, and the raw floor
makes the same Docker calls with aiodocker. The runtimes take turns at each
N (the order rotating between rounds); pods are removed between turns.

    .venv/bin/python bench/concurrency.py [--pods 1 20 50] [--rounds 2] [--peer-bin PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import cpu_seconds, median, runtimes, summary_ms, table, write_json
from bench._pods import CriPods, Pods, RawPods


async def start_pod(pods: Pods, index: int) -> float:
    started = time.perf_counter()
    sandbox_id = await pods.runp(index)
    await pods.start(await pods.create(sandbox_id))
    return time.perf_counter() - started


async def burst(pods: Pods, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    per_pod = await asyncio.gather(*(start_pod(pods, i) for i in range(count)))
    wall = time.perf_counter() - started
    await pods.cleanup()
    return {"wall": wall, "per_pod": list(per_pod)}


async def measure(found: list[Any], counts: list[int], rounds: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    subjects: dict[str, Pods] = {"raw": RawPods(run)}
    for runtime in found:
        subjects[runtime.name] = CriPods(runtime.endpoint, f"{run}{runtime.name[:1]}")
    pids = {runtime.name: runtime.pid for runtime in found}
    names = list(subjects)
    result: dict[str, Any] = {}
    try:
        await burst(subjects["raw"], 1)  # warm the image and network caches of dockerd
        for count in counts:
            walls: dict[str, list[float]] = {n: [] for n in names}
            per_pod: dict[str, list[float]] = {n: [] for n in names}
            cpu = dict.fromkeys(names, 0.0)
            for r in range(rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    before = cpu_seconds(pids.get(name))
                    figures = await burst(subjects[name], count)
                    cpu[name] += cpu_seconds(pids.get(name)) - before
                    walls[name].append(figures["wall"])
                    per_pod[name].extend(figures["per_pod"])
            result[str(count)] = {
                name: {
                    "wall_s": median(walls[name]),
                    "per_pod_ms": summary_ms(per_pod[name]),
                    "cpu_ms_per_pod": 1000 * cpu[name] / (count * rounds),
                }
                for name in names
            }
    finally:
        for pods in subjects.values():
            await pods.cleanup()
            await pods.close()
    return result


def report(result: dict[str, Any]) -> str:
    rows = []
    for count, by_name in result.items():
        raw_wall = by_name["raw"]["wall_s"]
        for name, figures in by_name.items():
            rows.append(
                [
                    count,
                    name,
                    figures["wall_s"],
                    figures["wall_s"] / raw_wall,
                    figures["per_pod_ms"]["median"],
                    figures["per_pod_ms"]["p99"],
                    figures["cpu_ms_per_pod"] if name != "raw" else "",
                ]
            )
    return table(
        ["pods at once", "runtime", "wall s", "/raw", "per pod ms", "p99 ms", "CPU ms/pod"], rows
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, nargs="+", default=[1, 20, 50])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--peer-bin", type=Path, help="a cri-dockerd binary to compare with")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's shim to compare with")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with runtimes(args.peer_bin, args.baseline_src) as found:
        result = asyncio.run(measure(found, args.pods, args.rounds))
    print(f"Pods started in parallel (runp + create + start), median of {args.rounds} rounds\n")
    print(report(result))
    print(f"\nJSON: {write_json('concurrency', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
