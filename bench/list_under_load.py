"""ListContainers latency idle vs under load: 50 clients listing while 5 create pods.

Measures, in the same run and against the same shim and dockerd:
  - idle: one client calling ListContainers back to back (the baseline);
  - loaded: 50 clients calling ListContainers back to back while 5 others each
    create and start a pod with one container, then remove it, in a loop;
and reports p50/p99 of ListContainers in both, and the ratio loaded/idle.

The same two phases with Version (an RPC that makes no Docker call and does no
work) in place of ListContainers are the harness's baseline: 50 closed-loop
clients on 2 cores queue behind each other whatever the RPC, so the figure that
is about the shim is ListContainers' latency against Version's under the same
load. The listing clients run in ``--processes`` processes (5 by default), so
that one Python client process is not the bottleneck; the creators run in this one.
``--rate N`` paces each lister at N calls a second instead (an open load, as a
kubelet's relist or a monitor polls), below the point where calls only queue.

    .venv/bin/python bench/list_under_load.py [--seconds 20] [--rate 0] [--endpoint unix:///...]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import BUSYBOX, shim_daemon
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc

LABEL = "bench.cri-shim/list-under-load"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def caller(
    endpoint: str, rpc: str, until: float, samples: list[float], rate: float = 0.0
) -> None:
    """Call ``rpc`` (ListContainers or Version) until ``until`` (wall clock): back to back,
    or ``rate`` times a second (a call that is late is not made up for)."""
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        call, request = (
            (runtime.ListContainers, pb.ListContainersRequest())
            if rpc == "ListContainers"
            else (runtime.Version, pb.VersionRequest())
        )
        await call(request)  # connected before the clock runs
        if rate:
            await asyncio.sleep(random.uniform(0, 1 / rate))  # clients spread over a period
        while (now := time.time()) < until:
            started = time.perf_counter()
            await call(request)
            samples.append(time.perf_counter() - started)
            if rate:
                await asyncio.sleep(max(0.0, now + 1 / rate - time.time()))


def callers_process(
    endpoint: str, rpc: str, clients: int, window: tuple[float, float], rate: float
) -> list[float]:
    """One client process: ``clients`` callers within ``window`` (wall clock start, end)."""
    start, until = window

    async def main() -> list[float]:
        samples: list[float] = []
        await asyncio.sleep(max(0.0, start - time.time()))
        await asyncio.gather(*(caller(endpoint, rpc, until, samples, rate) for _ in range(clients)))
        return samples

    return asyncio.run(main())


async def creator(endpoint: str, until: float, tag: str, logs: str, made: list[int]) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        while time.time() < until:
            uid = uuid.uuid4().hex
            pod = pb.PodSandboxConfig(
                metadata=pb.PodSandboxMetadata(name="load", namespace="bench", uid=uid),
                labels={LABEL: tag},
                log_directory=f"{logs}/{uid}",
            )
            pod.linux.security_context.namespace_options.network = pb.NODE
            sandbox = await runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=pod))
            try:
                config = pb.ContainerConfig(
                    metadata=pb.ContainerMetadata(name="app"),
                    image=pb.ImageSpec(image=BUSYBOX),
                    command=["sleep", "60"],
                    labels={LABEL: tag},
                    log_path="app/0.log",
                )
                created = await runtime.CreateContainer(
                    pb.CreateContainerRequest(
                        pod_sandbox_id=sandbox.pod_sandbox_id, config=config, sandbox_config=pod
                    )
                )
                await runtime.StartContainer(
                    pb.StartContainerRequest(container_id=created.container_id)
                )
                made[0] += 1
            finally:
                await runtime.StopPodSandbox(
                    pb.StopPodSandboxRequest(pod_sandbox_id=sandbox.pod_sandbox_id)
                )
                await runtime.RemovePodSandbox(
                    pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox.pod_sandbox_id)
                )


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "calls": len(samples),
        "p50_ms": round(statistics.median(samples) * 1000, 1),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 1),
    }


async def loaded(
    endpoint: str,
    rpc: str,
    *,
    seconds: float,
    listers: int,
    creators: int,
    pool: concurrent.futures.ProcessPoolExecutor,
    processes: int,
    rate: float,
) -> tuple[list[float], int]:
    """``listers`` callers of ``rpc`` over ``processes`` processes while ``creators`` make pods."""
    loop = asyncio.get_running_loop()
    start = time.time() + 1.0  # every process connected and waiting
    until = start + seconds
    shares = [listers // processes + (i < listers % processes) for i in range(processes)]
    work = [
        loop.run_in_executor(pool, callers_process, endpoint, rpc, share, (start, until), rate)
        for share in shares
        if share
    ]
    made = [0]
    tag = uuid.uuid4().hex[:12]
    with tempfile.TemporaryDirectory(prefix="bench-list-") as logs:
        await asyncio.sleep(max(0.0, start - time.time()))
        await asyncio.gather(*(creator(endpoint, until, tag, logs, made) for _ in range(creators)))
        parts = await asyncio.gather(*work)
    return [sample for part in parts for sample in part], made[0]


async def measure(endpoint: str, args: argparse.Namespace) -> dict[str, object]:
    seconds, listers, creators, rate = args.seconds, args.listers, args.creators, args.rate
    processes = max(1, args.processes)
    result: dict[str, object] = {
        "listers": listers,
        "creators": creators,
        "processes": processes,
        "calls_per_second_per_lister": rate or "back to back",
    }
    for rpc in ("ListContainers", "Version"):
        idle: list[float] = []
        await caller(endpoint, rpc, time.time() + seconds / 2, idle)
        result[f"{rpc}_idle"] = stats(idle)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
        for rpc in ("ListContainers", "Version"):
            samples, made = await loaded(
                endpoint,
                rpc,
                seconds=seconds,
                listers=listers,
                creators=creators,
                pool=pool,
                processes=processes,
                rate=rate,
            )
            result[f"{rpc}_loaded"] = {**stats(samples), "pods_created": made}
    figures: dict[str, dict[str, float]] = {k: v for k, v in result.items() if isinstance(v, dict)}
    for rpc in ("ListContainers", "Version"):
        ratio = figures[f"{rpc}_loaded"]["p99_ms"] / max(figures[f"{rpc}_idle"]["p99_ms"], 0.001)
        result[f"{rpc}_p99_loaded_over_idle"] = round(ratio, 1)
    list_p99 = figures["ListContainers_loaded"]["p99_ms"]
    result["p99_ListContainers_over_Version_loaded"] = round(
        list_p99 / max(figures["Version_loaded"]["p99_ms"], 0.001), 2
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--listers", type=int, default=50)
    parser.add_argument("--creators", type=int, default=5)
    parser.add_argument("--processes", type=int, default=5, help="client processes of the listers")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="calls a second per lister (0: back to back)"
    )
    parser.add_argument("--endpoint", default=None)
    args = parser.parse_args()
    with shim_daemon(args.endpoint) as endpoint, contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(measure(endpoint, args))
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
