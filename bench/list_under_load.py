"""ListContainers latency idle vs under load: 50 clients listing while 5 create pods.

Measures, in the same run and against the same shim and dockerd:
  - idle: one client calling ListContainers back to back (the baseline);
  - loaded: 50 clients calling ListContainers back to back while 5 others each
    create and start a pod with one container, then remove it, in a loop;
and reports p50/p99 of ListContainers in both, and the ratio loaded/idle.

    .venv/bin/python bench/list_under_load.py [--seconds 20] [--endpoint unix:///run/cri-shim.sock]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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


async def lister(endpoint: str, until: float, samples: list[float]) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        while time.monotonic() < until:
            started = time.perf_counter()
            await runtime.ListContainers(pb.ListContainersRequest())
            samples.append(time.perf_counter() - started)


async def creator(endpoint: str, until: float, tag: str, logs: str, made: list[int]) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        while time.monotonic() < until:
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


async def measure(endpoint: str, seconds: float, listers: int, creators: int) -> dict[str, object]:
    idle: list[float] = []
    await lister(endpoint, time.monotonic() + seconds / 2, idle)
    loaded: list[float] = []
    made = [0]
    tag = uuid.uuid4().hex[:12]
    with tempfile.TemporaryDirectory(prefix="bench-list-") as logs:
        until = time.monotonic() + seconds
        tasks = [lister(endpoint, until, loaded) for _ in range(listers)]
        tasks += [creator(endpoint, until, tag, logs, made) for _ in range(creators)]
        await asyncio.gather(*tasks)
    result: dict[str, object] = {
        "listers": listers,
        "creators": creators,
        "idle_calls": len(idle),
        "idle_p50_ms": round(statistics.median(idle) * 1000, 1),
        "idle_p99_ms": round(percentile(idle, 0.99) * 1000, 1),
        "loaded_calls": len(loaded),
        "loaded_p50_ms": round(statistics.median(loaded) * 1000, 1),
        "loaded_p99_ms": round(percentile(loaded, 0.99) * 1000, 1),
        "pods_created_under_load": made[0],
    }
    result["p99_ratio"] = round(
        float(result["loaded_p99_ms"]) / max(float(result["idle_p99_ms"]), 0.001),
        1,  # type: ignore[arg-type]
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--listers", type=int, default=50)
    parser.add_argument("--creators", type=int, default=5)
    parser.add_argument("--endpoint", default=None)
    args = parser.parse_args()
    with shim_daemon(args.endpoint) as endpoint, contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(measure(endpoint, args.seconds, args.listers, args.creators))
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
