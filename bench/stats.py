"""Stats with 50 running pods: the shim's cgroup reads vs Docker's stats API, and the
daemon's CPU while a client lists stats every 10 s (the kubelet's housekeeping period).

Measures, in the same run and against the same dockerd:
  - ListContainerStats and ListPodSandboxStats through the shim (median of --rounds),
  - the baseline: Docker's stats API (stream=false, what cri-dockerd asks for) once per
    application container, all concurrently, and the same one after another,
  - the shim process's CPU time over --watch seconds with a client listing both every
    10 s, as a share of one core, next to the same window without a client.

    .venv/bin/python bench/stats.py [--pods 50] [--rounds 5] [--watch 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiodocker
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import BUSYBOX, DOCKER_HOST, Stopwatch, median
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc

PAUSE = os.environ.get("PAUSE_IMAGE", "127.0.0.1:5000/pause:3.10")
LIST_PERIOD = 10.0
TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def shim() -> Iterator[tuple[str, int]]:
    """A shim of this checkout on a private socket: (endpoint, pid)."""
    directory = Path(tempfile.mkdtemp(prefix="cri-bench-stats-", dir="/tmp"))
    socket_path = directory / "cri.sock"
    with open(directory / "shim.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "shim", "--listen", str(socket_path), "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CRI_SHIM_POD_INFRA_IMAGE": PAUSE},
        )
        try:
            with grpc.insecure_channel(f"unix://{socket_path}") as channel:
                grpc.channel_ready_future(channel).result(timeout=30)
            yield f"unix://{socket_path}", process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def make_pods(
    runtime: api_pb2_grpc.RuntimeServiceStub, tag: str, count: int
) -> tuple[list[str], list[str]]:
    async def one(i: int) -> tuple[str, str]:
        pod = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=f"stats-{i}", namespace="bench", uid=f"{tag}-{i}"),
            labels={"bench": tag},
        )
        pod_id = (await runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=pod))).pod_sandbox_id
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="app"),
            image=pb.ImageSpec(image=BUSYBOX),
            command=["sleep", "3600"],
            labels={"bench": tag},
        )
        created = await runtime.CreateContainer(
            pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=pod)
        )
        await runtime.StartContainer(pb.StartContainerRequest(container_id=created.container_id))
        return pod_id, created.container_id

    limit = asyncio.Semaphore(8)

    async def bounded(i: int) -> tuple[str, str]:
        async with limit:
            return await one(i)

    made = await asyncio.gather(*(bounded(i) for i in range(count)))
    return [p for p, _ in made], [c for _, c in made]


async def remove_pods(runtime: api_pb2_grpc.RuntimeServiceStub, pods: list[str]) -> None:
    limit = asyncio.Semaphore(8)

    async def one(pod_id: str) -> None:
        async with limit:
            with contextlib.suppress(grpc.aio.AioRpcError):
                await runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))
                await runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))

    await asyncio.gather(*(one(p) for p in pods))


async def timed(call: object, rounds: int) -> tuple[float, int]:
    times, items = [], 0
    for _ in range(rounds):
        with Stopwatch() as watch:
            response = await call()  # type: ignore[operator]
        times.append(watch.seconds)
        items = len(response.stats)
    return median(times), items


async def docker_stats(docker: aiodocker.Docker, ids: list[str], concurrent: bool) -> float:
    async def one(container_id: str) -> None:
        await docker.containers.container(container_id).stats(stream=False)

    with Stopwatch() as watch:
        if concurrent:
            await asyncio.gather(*(one(i) for i in ids))
        else:
            for container_id in ids:
                await one(container_id)
    return watch.seconds


async def cpu_share(pid: int, seconds: float, client: grpc.aio.Channel | None) -> float:
    runtime = api_pb2_grpc.RuntimeServiceStub(client) if client is not None else None
    before, started = cpu_seconds(pid), time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        if runtime is not None:
            await runtime.ListContainerStats(pb.ListContainerStatsRequest())
            await runtime.ListPodSandboxStats(pb.ListPodSandboxStatsRequest())
        await asyncio.sleep(min(LIST_PERIOD, seconds - elapsed))
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


async def main(args: argparse.Namespace) -> None:
    with shim() as (endpoint, pid):
        await measure(args, endpoint, pid)


async def measure(args: argparse.Namespace, endpoint: str, pid: int) -> None:
    tag = uuid.uuid4().hex[:8]
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        docker = aiodocker.Docker(url=DOCKER_HOST)
        pods: list[str] = []
        try:
            pods, containers = await make_pods(runtime, tag, args.pods)
            selector = pb.ContainerStatsFilter(label_selector={"bench": tag})
            list_containers = lambda: runtime.ListContainerStats(  # noqa: E731
                pb.ListContainerStatsRequest(filter=selector)
            )
            list_pods = lambda: runtime.ListPodSandboxStats(  # noqa: E731
                pb.ListPodSandboxStatsRequest(
                    filter=pb.PodSandboxStatsFilter(label_selector={"bench": tag})
                )
            )
            await list_containers()  # the first call inspects each container once
            await list_pods()
            cs, n_containers = await timed(list_containers, args.rounds)
            ps, n_pods = await timed(list_pods, args.rounds)
            concurrent = median(
                [await docker_stats(docker, containers, True) for _ in range(args.rounds)]
            )
            sequential = await docker_stats(docker, containers, False)
            idle = await cpu_share(pid, args.watch, None)
            busy = await cpu_share(pid, args.watch, channel)
        finally:
            await remove_pods(runtime, pods)
            await docker.close()
    print(f"{args.pods} running pods, {n_containers} containers listed, {n_pods} pods listed")
    print(f"  ListContainerStats (shim, cgroup files)      median {cs * 1000:8.1f} ms")
    print(f"  ListPodSandboxStats (shim, with network)     median {ps * 1000:8.1f} ms")
    n = len(containers)
    print(f"  Docker stats API, {n} containers concurrently  median {concurrent * 1000:8.1f} ms")
    print(f"  Docker stats API, one after another                {sequential * 1000:8.1f} ms")
    print(f"  speed-up ListContainerStats vs Docker concurrent: {concurrent / cs:6.1f}x")
    print(f"  speed-up ListContainerStats vs Docker sequential: {sequential / cs:6.1f}x")
    print(f"  shim CPU, no client, {args.watch:.0f} s:              {idle * 100:5.2f}% of one core")
    print(f"  shim CPU, both lists every {LIST_PERIOD:.0f} s:  {busy * 100:5.2f}% of one core")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--watch", type=float, default=60.0)
    asyncio.run(main(parser.parse_args()))
