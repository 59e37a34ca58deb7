"""Per CRI step: latency against the raw Docker API floor, Docker calls, CPU and RSS.

One lifecycle iteration is RunPodSandbox, CreateContainer, StartContainer,
ContainerStatus, ListContainers, ListPodSandbox, ExecSync, Version,
StopContainer (timeout 0), RemoveContainer, StopPodSandbox, RemovePodSandbox.
Each runtime (this shim; with --peer-bin also cri-dockerd; with
--baseline-src also the shim of another checkout) does it through a real
gRPC client, and the raw floor does the fewest Docker calls for the same
effect with aiodocker in this process. Iterations interleave the runtimes
(A B C A B C ..., the order rotating), so a noisy neighbour slows all alike.

Then a second, shorter pass puts a counting proxy between each runtime and
dockerd and records the Docker API calls every step caused.

    .venv/bin/python bench/steps.py [--iterations 20] [--peer-bin /path/to/cri-dockerd]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    RUNTIME_NAMES,
    CallLog,
    Runtime,
    counting_proxy,
    cpu_seconds,
    rss_mib,
    runtimes,
    summary_ms,
    table,
    write_json,
)
from bench._pods import CriPods, Pods, RawPods

STEPS = (
    "runp",
    "create",
    "start",
    "status",
    "list_containers",
    "list_sandboxes",
    "exec",
    "version",
    "stop",
    "rm",
    "stopp",
    "rmp",
)
LIFECYCLE = ("runp", "create", "start", "stop", "rm", "stopp", "rmp")
CRI_NAMES = {
    "runp": "RunPodSandbox",
    "create": "CreateContainer",
    "start": "StartContainer",
    "status": "ContainerStatus",
    "list_containers": "ListContainers",
    "list_sandboxes": "ListPodSandbox",
    "exec": "ExecSync",
    "version": "Version",
    "stop": "StopContainer",
    "rm": "RemoveContainer",
    "stopp": "StopPodSandbox",
    "rmp": "RemovePodSandbox",
}


async def lifecycle(pods: Pods, index: int, calls: CallLog | None = None) -> dict[str, Any]:
    """One pod's life; per step its seconds, and the Docker calls when ``calls`` counts them."""
    seconds: dict[str, float] = {}
    made: dict[str, list[str]] = {}
    ids: dict[str, str] = {}

    async def step(name: str) -> None:
        if calls is not None:
            calls.mark()
        started = time.perf_counter()
        if name == "runp":
            ids["pod"] = await pods.runp(index)
        elif name == "create":
            ids["ctr"] = await pods.create(ids["pod"])
        elif name in ("start", "status", "exec", "stop", "rm"):
            await getattr(pods, name)(ids["ctr"])
        elif name in ("stopp", "rmp"):
            await getattr(pods, name)(ids["pod"])
        else:
            await getattr(pods, name)()
        seconds[name] = time.perf_counter() - started
        if calls is not None:
            # The proxy writes each request line as it forwards it; give it a moment.
            await asyncio.sleep(0.05)
            # The shim's health loop (a _ping and a network check every 5 s) is
            # not caused by the step; it is counted on its own (background).
            made[name] = [c for c in calls.since_mark() if not _background(c)]

    for name in STEPS:
        await step(name)
    return {"seconds": seconds, "calls": made}


def _background(call: str) -> bool:
    return call == "GET /_ping" or call.startswith("GET /networks/")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure_latency(found: list[Runtime], iterations: int, run: str) -> dict[str, Any]:
    subjects: dict[str, Pods] = {"raw": RawPods(run)}
    for runtime in found:
        subjects[runtime.name] = CriPods(runtime.endpoint, f"{run}{runtime.name[:1]}")
    pids = {runtime.name: runtime.pid for runtime in found}
    samples: dict[str, dict[str, list[float]]] = {name: {s: [] for s in STEPS} for name in subjects}
    cpu = dict.fromkeys(subjects, 0.0)
    idle_rss = {name: rss_mib(pid) for name, pid in pids.items()}
    names = list(subjects)
    try:
        # One untimed warm-up each: the shim's one-off OOM probe, first connections.
        for name in names:
            await lifecycle(subjects[name], -1)
        for i in range(iterations):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                before = own_cpu() if name == "raw" else cpu_seconds(pids[name])
                result = await lifecycle(subjects[name], i)
                after = own_cpu() if name == "raw" else cpu_seconds(pids[name])
                cpu[name] += after - before
                for step, value in result["seconds"].items():
                    samples[name][step].append(value)
    finally:
        for pods in subjects.values():
            await pods.cleanup()
            await pods.close()
    return {
        "latency_ms": {
            name: {step: summary_ms(values) for step, values in steps.items()}
            for name, steps in samples.items()
        },
        "cpu_ms_per_iteration": {name: 1000 * total / iterations for name, total in cpu.items()},
        "rss_mib": {
            name: {"idle": idle_rss[name], "after": rss_mib(pid)} for name, pid in pids.items()
        },
    }


async def count_calls(found: list[Runtime], calls: dict[str, CallLog], run: str) -> dict[str, Any]:
    """Docker calls per step, from the second of two lifecycles (the first warms caches)."""
    subjects: dict[str, Pods] = {"raw": RawPods(run, calls["raw"].docker_host)}
    for runtime in found:
        subjects[runtime.name] = CriPods(runtime.endpoint, f"{run}{runtime.name[:1]}")
    counted: dict[str, dict[str, list[str]]] = {}
    try:
        for name, pods in subjects.items():
            await lifecycle(pods, 0, calls[name])
            counted[name] = (await lifecycle(pods, 1, calls[name]))["calls"]
    finally:
        for pods in subjects.values():
            await pods.cleanup()
            await pods.close()
    return counted


def report(latency: dict[str, Any], counted: dict[str, Any], names: list[str]) -> str:
    lat = latency["latency_ms"]
    peers = [n for n in names if n != "shim"]
    headers = ["step (CRI)", "raw ms", "shim ms", "shim p90", "shim/raw"]
    for peer in peers:
        headers += [f"{peer} ms", f"shim/{peer}"]
    headers += ["calls raw", "calls shim", *(f"calls {p}" for p in peers)]
    rows = []
    for step in STEPS:
        raw, shim = lat["raw"][step]["median"], lat["shim"][step]["median"]
        row: list[Any] = [CRI_NAMES[step], raw, shim, lat["shim"][step]["p90"], shim / raw]
        for peer in peers:
            row += [lat[peer][step]["median"], shim / lat[peer][step]["median"]]
        row += [len(counted[n][step]) for n in ("raw", "shim", *peers)]
        rows.append(row)
    lines = [table(headers, rows), ""]
    totals = []
    for name in ("raw", "shim", *peers):
        steps = sum(len(counted[name][s]) for s in LIFECYCLE)
        crictl = steps + len(LIFECYCLE) * len(counted[name]["version"])
        cpu = latency["cpu_ms_per_iteration"][name]
        rss = latency["rss_mib"].get(name, {})
        totals.append(
            [
                name,
                steps,
                crictl,
                cpu,
                rss.get("idle", float("nan")),
                rss.get("after", float("nan")),
            ]
        )
    lines.append(
        table(
            [
                "runtime",
                "Docker calls, 7 lifecycle steps",
                "same + a Version per step (crictl)",
                "CPU ms / iteration (12 steps)",
                "RSS idle MiB",
                "RSS after MiB",
            ],
            totals,
        )
    )
    lines.append("(raw: CPU of this benchmark process making the calls with aiodocker)")
    lines.append("")
    lines.append("Docker calls per step (shim):")
    for step in STEPS:
        made = Counter(counted["shim"][step])
        lines.append(f"  {CRI_NAMES[step]}: " + ", ".join(f"{c}x {k}" for k, c in made.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--peer-bin", type=Path, help="a cri-dockerd binary to compare with")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's shim to compare with")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, help="directory for the JSON (default bench/results)")
    args = parser.parse_args(argv)
    run = uuid.uuid4().hex[:6]
    with runtimes(args.peer_bin, args.baseline_src) as found:
        latency = asyncio.run(measure_latency(found, args.iterations, run))
        names = [r.name for r in found]
    with contextlib.ExitStack() as stack:
        calls = {name: stack.enter_context(counting_proxy()) for name in RUNTIME_NAMES}
        hosts = {name: log.docker_host for name, log in calls.items()}
        found = stack.enter_context(runtimes(args.peer_bin, args.baseline_src, hosts))
        counted = asyncio.run(count_calls(found, calls, run))
        # What each runtime asks dockerd on its own, with no CRI call at all.
        for log in calls.values():
            log.mark()
        time.sleep(args.idle_seconds)
        background = {
            r.name: 60 * len(calls[r.name].since_mark()) / args.idle_seconds for r in found
        }
    result = {
        "iterations": args.iterations,
        **latency,
        "docker_calls": counted,
        "background_docker_calls_per_minute": background,
    }
    print(f"Per CRI step, median of {args.iterations} interleaved iterations (ms)\n")
    print(report(latency, counted, names))
    print("\nDocker calls per minute with no CRI call (health checks):", background)
    print(f"\nJSON: {write_json('steps', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
