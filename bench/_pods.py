"""One pod's life, step by step, through a CRI runtime and through the raw Docker API.

Both drivers have the same steps, so a benchmark runs them side by side.
:class:`CriPods` speaks gRPC to any CRI runtime (the shim, cri-dockerd).
:class:`RawPods` makes the minimal Docker Engine calls for the same effect
with aiodocker in the benchmark's own process: the floor a thin shim should
approach. Every object is named with the run's prefix and removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aiodocker
import grpc

from bench._harness import BUSYBOX, DOCKER_HOST, PAUSE
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc

PREFIX = "crib"  # in every pod and container name of the benchmarks
NAMESPACE = "cri-bench"
COMMAND = ["sleep", "3600"]
EXEC = ["true"]
LABEL = "io.cri-bench.run"
CLEANUP_CONCURRENCY = 10


class CriPods:
    """A CRI runtime through a real gRPC client."""

    def __init__(self, endpoint: str, run: str) -> None:
        self.run = run
        self.channel = grpc.aio.insecure_channel(endpoint)
        self.runtime = api_pb2_grpc.RuntimeServiceStub(self.channel)
        self.logs = Path(tempfile.mkdtemp(prefix="cri-bench-logs-", dir="/tmp"))
        self.sandboxes: dict[str, pb.PodSandboxConfig] = {}

    async def close(self) -> None:
        await self.channel.close()
        shutil.rmtree(self.logs, ignore_errors=True)

    def _sandbox_config(self, index: int) -> pb.PodSandboxConfig:
        name = f"{PREFIX}-{self.run}-{index}"
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(
                name=name, namespace=NAMESPACE, uid=uuid.uuid4().hex, attempt=0
            ),
            hostname=name,
            log_directory=str(self.logs / name),
            labels={LABEL: self.run},
        )

    async def runp(self, index: int) -> str:
        config = self._sandbox_config(index)
        response = await self.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config))
        self.sandboxes[response.pod_sandbox_id] = config
        return response.pod_sandbox_id

    async def create(self, sandbox_id: str) -> str:
        # As the kubelet does: the container's log directory exists before it is created
        # (cri-dockerd links its log there and fails without it).
        os.makedirs(Path(self.sandboxes[sandbox_id].log_directory) / "app", exist_ok=True)
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="app", attempt=0),
            image=pb.ImageSpec(image=BUSYBOX),
            command=COMMAND,
            log_path="app/0.log",
            labels={LABEL: self.run},
        )
        response = await self.runtime.CreateContainer(
            pb.CreateContainerRequest(
                pod_sandbox_id=sandbox_id, config=config, sandbox_config=self.sandboxes[sandbox_id]
            )
        )
        return response.container_id

    async def start(self, container_id: str) -> None:
        await self.runtime.StartContainer(pb.StartContainerRequest(container_id=container_id))

    async def status(self, container_id: str) -> None:
        await self.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id))

    async def list_containers(self) -> int:
        response = await self.runtime.ListContainers(
            pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector={LABEL: self.run}))
        )
        return len(response.containers)

    async def list_sandboxes(self) -> int:
        response = await self.runtime.ListPodSandbox(
            pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={LABEL: self.run}))
        )
        return len(response.items)

    async def exec(self, container_id: str) -> None:
        response = await self.runtime.ExecSync(
            pb.ExecSyncRequest(container_id=container_id, cmd=EXEC, timeout=10)
        )
        assert response.exit_code == 0, response

    async def version(self) -> None:
        await self.runtime.Version(pb.VersionRequest())

    async def stop(self, container_id: str) -> None:
        await self.runtime.StopContainer(pb.StopContainerRequest(container_id=container_id))

    async def rm(self, container_id: str) -> None:
        await self.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=container_id))

    async def stopp(self, sandbox_id: str) -> None:
        await self.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    async def rmp(self, sandbox_id: str) -> None:
        await self.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
        self.sandboxes.pop(sandbox_id, None)

    async def cleanup(self) -> None:
        async def remove(sandbox_id: str) -> None:
            async with limit:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self.stopp(sandbox_id)
                    await self.rmp(sandbox_id)

        limit = asyncio.Semaphore(CLEANUP_CONCURRENCY)
        await asyncio.gather(*(remove(s) for s in list(self.sandboxes)))


class RawPods:
    """The same steps as the fewest Docker Engine API calls, through aiodocker."""

    def __init__(self, run: str, docker_host: str = DOCKER_HOST) -> None:
        self.run = run
        self.docker = aiodocker.Docker(url=docker_host)
        self.created: set[str] = set()

    async def close(self) -> None:
        await self.docker.close()

    async def _create(self, name: str, body: dict[str, Any]) -> str:
        container = await self.docker.containers.create(body, name=name)
        self.created.add(container.id)
        return container.id

    async def runp(self, index: int) -> str:
        name = f"{PREFIX}-raw-{self.run}-{index}-{uuid.uuid4().hex[:6]}"
        sandbox_id = await self._create(
            name,
            {
                "Image": PAUSE,
                "Hostname": f"{PREFIX}-{index}",
                "Labels": {LABEL: self.run, "kind": "sandbox"},
                "HostConfig": {"NetworkMode": "bridge", "IpcMode": "shareable"},
            },
        )
        await self.docker.containers.container(sandbox_id).start()
        return sandbox_id

    async def create(self, sandbox_id: str) -> str:
        joined = f"container:{sandbox_id}"
        return await self._create(
            f"{PREFIX}-raw-{self.run}-app-{uuid.uuid4().hex[:8]}",
            {
                "Image": BUSYBOX,
                "Entrypoint": COMMAND,
                "Labels": {LABEL: self.run, "kind": "container"},
                "HostConfig": {"NetworkMode": joined, "IpcMode": joined, "PidMode": ""},
            },
        )

    async def start(self, container_id: str) -> None:
        await self.docker.containers.container(container_id).start()

    async def status(self, container_id: str) -> None:
        await self.docker.containers.container(container_id).show()

    async def _list(self, kind: str) -> int:
        filters = {"label": [f"{LABEL}={self.run}", f"kind={kind}"]}
        return len(await self.docker.containers.list(all=True, filters=filters))

    async def list_containers(self) -> int:
        return await self._list("container")

    async def list_sandboxes(self) -> int:
        return await self._list("sandbox")

    async def exec(self, container_id: str) -> None:
        execution = await self.docker.containers.container(container_id).exec(
            EXEC, stdout=True, stderr=True
        )
        async with execution.start(detach=False) as stream:
            while await stream.read_out() is not None:
                pass
        assert (await execution.inspect())["ExitCode"] == 0

    async def version(self) -> None:
        await self.docker.version()

    async def stop(self, container_id: str) -> None:
        await self.docker.containers.container(container_id).stop(t=0)

    async def rm(self, container_id: str) -> None:
        await self.docker.containers.container(container_id).delete(force=True)
        self.created.discard(container_id)

    async def stopp(self, sandbox_id: str) -> None:
        await self.docker.containers.container(sandbox_id).stop(t=10)

    async def rmp(self, sandbox_id: str) -> None:
        await self.rm(sandbox_id)

    async def cleanup(self) -> None:
        async def remove(container_id: str) -> None:
            async with limit:
                with contextlib.suppress(aiodocker.DockerError):
                    await self.rm(container_id)

        limit = asyncio.Semaphore(CLEANUP_CONCURRENCY)
        await asyncio.gather(*(remove(c) for c in list(self.created)))


Pods = CriPods | RawPods
