"""Latency from Docker's event to the shim's CRI container event.

One process subscribes to both dockerd's event stream (aiodocker) and the
shim's GetContainerEvents, then creates, starts, stops and removes
--containers containers in one pod; for each of their events it records when
each subscriber saw it (one monotonic clock) and reports the delay's
median, 95th percentile and maximum.

    .venv/bin/python bench/events.py [--containers 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiodocker
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import BUSYBOX, DOCKER_HOST
from bench.stats import shim
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc

ACTIONS = {"create": 0, "start": 1, "die": 2, "destroy": 3}


async def follow_docker(docker: aiodocker.Docker, seen: dict[tuple[str, int], float]) -> None:
    subscriber = docker.events.subscribe()
    while (event := await subscriber.get()) is not None:
        kind = ACTIONS.get(str(event.get("Action")))
        if event.get("Type") == "container" and kind is not None:
            seen.setdefault((str(event["Actor"]["ID"]), kind), time.monotonic())


async def follow_cri(
    runtime: api_pb2_grpc.RuntimeServiceStub, seen: dict[tuple[str, int], float]
) -> None:
    async for event in runtime.GetContainerEvents(pb.GetEventsRequest()):
        seen.setdefault((event.container_id, int(event.container_event_type)), time.monotonic())


async def measure(endpoint: str, count: int) -> list[float]:
    docker_seen: dict[tuple[str, int], float] = {}
    cri_seen: dict[tuple[str, int], float] = {}
    tag = uuid.uuid4().hex[:8]
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        docker = aiodocker.Docker(url=DOCKER_HOST)
        watchers = [
            asyncio.create_task(follow_docker(docker, docker_seen)),
            asyncio.create_task(follow_cri(runtime, cri_seen)),
        ]
        await asyncio.sleep(1)  # both subscriptions live before the first event
        pod = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name="events", namespace="bench", uid=f"{tag}-ev")
        )
        pod_id = (await runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=pod))).pod_sandbox_id
        ids = []
        try:
            for i in range(count):
                config = pb.ContainerConfig(
                    metadata=pb.ContainerMetadata(name=f"c{i}"),
                    image=pb.ImageSpec(image=BUSYBOX),
                    command=["sleep", "3600"],
                )
                created = await runtime.CreateContainer(
                    pb.CreateContainerRequest(
                        pod_sandbox_id=pod_id, config=config, sandbox_config=pod
                    )
                )
                cid = created.container_id
                ids.append(cid)
                await runtime.StartContainer(pb.StartContainerRequest(container_id=cid))
                await runtime.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0))
                await runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)
        finally:
            await runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))
            await runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
            for task in watchers:
                task.cancel()
            for task in watchers:
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await task
            await docker.close()
    delays = []
    for key, at in docker_seen.items():
        if key[0] in ids and key in cri_seen:
            delays.append(cri_seen[key] - at)
    missing = sum(1 for cid in ids for kind in range(4) if (cid, kind) not in cri_seen)
    print(f"{len(delays)} events matched, {missing} CRI events missing")
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=20)
    args = parser.parse_args()
    with shim() as (endpoint, _pid):
        delays = asyncio.run(measure(endpoint, args.containers))
    delays.sort()
    p95 = delays[int(len(delays) * 0.95) - 1] if delays else 0.0
    print(
        f"Docker event -> CRI event: median {statistics.median(delays) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, max {delays[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
