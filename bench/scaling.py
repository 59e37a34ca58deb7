"""As running pods grow (1, 10, 50, 200): list and status latency, RSS, fds, tasks, idle CPU.

Pods (a sandbox and one container with a CRI log file, so one log copier
each in the shim) are added through each CRI runtime until the next count
is reached. At every count: ListContainers, ListPodSandbox (both filtered to
the benchmark's pods by label) and ContainerStatus are timed against the raw
Docker floor (the same listing or inspect through aiodocker), interleaved;
then the runtime's RSS, open fds and kernel tasks are read from /proc and its
CPU is measured while nothing is asked of it for --idle-seconds. Runtimes
are measured one after the other, each with only its own pods.

    .venv/bin/python bench/scaling.py [--pods 1 10 50 200] [--idle-seconds 60] [--peer-bin PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiodocker

from bench._harness import (
    DOCKER_HOST,
    Runtime,
    cpu_seconds,
    open_fds,
    rss_mib,
    runtimes,
    summary_ms,
    table,
    tasks,
    write_json,
)
from bench._pods import LABEL, CriPods

START_CONCURRENCY = 10
SAMPLES = 30


async def timed(call: Any) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def latencies(pods: CriPods, raw: Any, container_ids: list[str]) -> dict[str, Any]:
    """Each query and its raw floor, alternating, SAMPLES times."""

    def raw_list(kind: str) -> Any:
        # The Docker labels both the shim and cri-dockerd put on what they create.
        filters = {"label": [f"{LABEL}={pods.run}", f"io.kubernetes.docker.type={kind}"]}
        return raw.containers.list(all=True, filters=filters)

    queries = {
        "ListContainers": (pods.list_containers, lambda: raw_list("container")),
        "ListPodSandbox": (pods.list_sandboxes, lambda: raw_list("podsandbox")),
    }
    out: dict[str, Any] = {}
    for name, (cri_call, raw_call) in queries.items():
        cri_s, raw_s = [], []
        for _ in range(SAMPLES):
            cri_s.append(await timed(cri_call()))
            raw_s.append(await timed(raw_call()))
        out[name] = {"cri": summary_ms(cri_s), "raw": summary_ms(raw_s)}
    cri_s, raw_s = [], []
    for _ in range(SAMPLES):
        target = random.choice(container_ids)
        cri_s.append(await timed(pods.status(target)))
        raw_s.append(await timed(raw.containers.container(target).show()))
    out["ContainerStatus"] = {"cri": summary_ms(cri_s), "raw": summary_ms(raw_s)}
    return out


async def add_pods(pods: CriPods, first: int, count: int) -> list[str]:
    limit = asyncio.Semaphore(START_CONCURRENCY)

    async def one(index: int) -> str:
        async with limit:
            sandbox_id = await pods.runp(index)
            container_id = await pods.create(sandbox_id)
            await pods.start(container_id)
            return container_id

    return list(await asyncio.gather(*(one(first + i) for i in range(count))))


async def sweep(runtime: Runtime, counts: list[int], idle_seconds: float) -> dict[str, Any]:
    pods = CriPods(runtime.endpoint, uuid.uuid4().hex[:6])
    raw = aiodocker.Docker(url=DOCKER_HOST)
    container_ids: list[str] = []
    result: dict[str, Any] = {"idle_rss_mib": rss_mib(runtime.pid)}
    try:
        for count in counts:
            started = time.perf_counter()
            container_ids += await add_pods(pods, len(container_ids), count - len(container_ids))
            added_in = time.perf_counter() - started
            assert await pods.list_containers() == count
            figures = await latencies(pods, raw, container_ids)
            before = cpu_seconds(runtime.pid)
            await asyncio.sleep(idle_seconds)
            idle = 100 * (cpu_seconds(runtime.pid) - before) / idle_seconds
            result[str(count)] = {
                "latency_ms": figures,
                "rss_mib": rss_mib(runtime.pid),
                "open_fds": open_fds(runtime.pid),
                "tasks": tasks(runtime.pid),
                "idle_cpu_percent": idle,
                "start_seconds": added_in,
            }
            print(f"  {runtime.name}: {count} pods measured", flush=True)
    finally:
        await pods.cleanup()
        await pods.close()
        await raw.close()
    return result


def report(result: dict[str, Any]) -> str:
    rows = []
    for name, by_count in result.items():
        for count, figures in by_count.items():
            if count == "idle_rss_mib":
                continue
            lat = figures["latency_ms"]
            rows.append(
                [
                    name,
                    count,
                    lat["ListContainers"]["cri"]["median"],
                    lat["ListContainers"]["raw"]["median"],
                    lat["ListPodSandbox"]["cri"]["median"],
                    lat["ContainerStatus"]["cri"]["median"],
                    lat["ContainerStatus"]["raw"]["median"],
                    figures["rss_mib"],
                    figures["open_fds"],
                    figures["tasks"],
                    figures["idle_cpu_percent"],
                ]
            )
    return table(
        [
            "runtime",
            "pods",
            "ListContainers ms",
            "raw list ms",
            "ListPodSandbox ms",
            "ContainerStatus ms",
            "raw inspect ms",
            "RSS MiB",
            "fds",
            "tasks",
            "idle CPU %",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, nargs="+", default=[1, 10, 50, 200])
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--peer-bin", type=Path, help="a cri-dockerd binary to compare with")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {}
    with runtimes(args.peer_bin) as found:
        for runtime in found:
            result[runtime.name] = asyncio.run(sweep(runtime, sorted(args.pods), args.idle_seconds))
    print(f"\nScaling (medians of {SAMPLES} calls; idle CPU over {args.idle_seconds:g} s)\n")
    print(report(result))
    print(f"\nJSON: {write_json('scaling', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
