"""Independent RPCs run concurrently: N create+start calls at once vs one after another.

Measures, in the same run and against the same dockerd:
  - through the shim (CRI CreateContainer + StartContainer over gRPC), and
  - the raw Docker Engine API (aiodocker create + start), the baseline,
each sequentially and concurrently (asyncio.gather), and reports medians and ratios.

    .venv/bin/python bench/concurrency.py [--containers 20] [--rounds 3] [--endpoint unix:///run/cri-shim.sock]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiodocker
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import BUSYBOX, DOCKER_HOST, Stopwatch, median, shim_daemon
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc

COMMAND = ["sleep", "3600"]


async def run_batch(
    start_one: Callable[[int], Awaitable[None]], count: int, concurrent: bool
) -> float:
    with Stopwatch() as watch:
        if concurrent:
            await asyncio.gather(*(start_one(i) for i in range(count)))
        else:
            for i in range(count):
                await start_one(i)
    return watch.seconds


class Cri:
    def __init__(
        self,
        runtime: api_pb2_grpc.RuntimeServiceStub,
        sandbox_id: str,
        sandbox: pb.PodSandboxConfig,
    ) -> None:
        self.runtime = runtime
        self.sandbox_id = sandbox_id
        self.sandbox = sandbox
        self.created: list[str] = []
        self.round = 0

    async def start_one(self, index: int) -> None:
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=f"c{index}", attempt=self.round),
            image=pb.ImageSpec(image=BUSYBOX),
            command=COMMAND,
            log_path=f"c{index}/{self.round}.log",
        )
        response = await self.runtime.CreateContainer(
            pb.CreateContainerRequest(
                pod_sandbox_id=self.sandbox_id, config=config, sandbox_config=self.sandbox
            )
        )
        self.created.append(response.container_id)
        await self.runtime.StartContainer(
            pb.StartContainerRequest(container_id=response.container_id)
        )

    async def clean(self) -> None:
        for container_id in self.created:
            await self.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=container_id))
        self.created.clear()
        self.round += 1


class Raw:
    def __init__(self, docker: aiodocker.Docker, sandbox_id: str) -> None:
        self.docker = docker
        self.sandbox_id = sandbox_id
        self.created: list[aiodocker.containers.DockerContainer] = []
        self.tag = uuid.uuid4().hex[:8]

    async def start_one(self, index: int) -> None:
        body = {
            "Image": BUSYBOX,
            "Entrypoint": COMMAND,
            "HostConfig": {
                "NetworkMode": f"container:{self.sandbox_id}",
                "IpcMode": f"container:{self.sandbox_id}",
            },
        }
        container = await self.docker.containers.create(body, name=f"bench-raw-{self.tag}-{index}")
        self.created.append(container)
        await container.start()

    async def clean(self) -> None:
        for container in self.created:
            await container.delete(force=True)
        self.created.clear()
        self.tag = uuid.uuid4().hex[:8]


async def measure(args: argparse.Namespace, endpoint: str) -> dict[str, dict[str, float]]:
    logs = Path(tempfile.mkdtemp(prefix="cri-bench-logs-", dir="/tmp"))
    sandbox = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(
            name="bench", namespace="bench", uid=uuid.uuid4().hex, attempt=0
        ),
        log_directory=str(logs),
    )
    sandbox.linux.security_context.namespace_options.network = pb.NODE
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        sandbox_id = (
            await runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox))
        ).pod_sandbox_id
        docker = aiodocker.Docker(url=DOCKER_HOST)
        samples: dict[str, dict[str, list[float]]] = {
            "raw": {"sequential": [], "concurrent": []},
            "shim": {"sequential": [], "concurrent": []},
        }
        try:
            subjects = {"raw": Raw(docker, sandbox_id), "shim": Cri(runtime, sandbox_id, sandbox)}
            for _ in range(args.rounds):
                for mode in ("sequential", "concurrent"):
                    for name, subject in subjects.items():
                        seconds = await run_batch(
                            subject.start_one, args.containers, mode == "concurrent"
                        )
                        samples[name][mode].append(seconds)
                        await subject.clean()
        finally:
            await docker.close()
            await runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))
            await runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
    return {
        name: {mode: median(values) for mode, values in modes.items()}
        for name, modes in samples.items()
    }


def report(result: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    raw, shim = result["raw"], result["shim"]
    lines = [
        f"{args.containers} containers, create+start each, median of {args.rounds} rounds",
        f"{'':22}{'sequential':>12}{'concurrent':>12}{'speed-up':>10}",
    ]
    for label, row in (("raw Docker API", raw), ("through the shim (CRI)", shim)):
        speedup = row["sequential"] / row["concurrent"]
        lines.append(
            f"{label:22}{row['sequential']:>11.2f}s{row['concurrent']:>11.2f}s{speedup:>9.1f}x"
        )
    lines.append(
        f"{'shim / raw':22}{shim['sequential'] / raw['sequential']:>11.2f}x"
        f"{shim['concurrent'] / raw['concurrent']:>11.2f}x"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", help="an already running shim (default: start one)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with shim_daemon(args.endpoint) as endpoint:
        result = asyncio.run(measure(args, endpoint))
    print(report(result, args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
