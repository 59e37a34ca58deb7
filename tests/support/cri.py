"""A CRI client on a real gRPC channel, and a workspace that cleans up after a test."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiodocker
import grpc

from criapi.runtime.v1 import api_pb2 as cri
from criapi.runtime.v1 import api_pb2_grpc
from tests.support import env

log = logging.getLogger(__name__)

# Every sandbox and container a test makes carries this CRI label (a Docker
# label too), so teardown can find anything a failing test left behind.
TEST_LABEL = "test.cri-shim/run"


class CriClient:
    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.aio.insecure_channel(endpoint)
        self.runtime = api_pb2_grpc.RuntimeServiceStub(self.channel)
        self.images = api_pb2_grpc.ImageServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """Await a call that must fail, and return its error."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the call succeeded but was expected to fail")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait, bounded, for an external condition no event announces (file contents...)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


class Workspace:
    """Makes pods and containers for one test; removes all of them at teardown."""

    def __init__(self, client: CriClient, docker: aiodocker.Docker, log_root: Path) -> None:
        self.cri = client
        self.docker = docker
        self.log_root = log_root
        self.tag = uuid.uuid4().hex[:12]
        self.sandboxes: list[str] = []

    def pod_config(
        self,
        name: str = "pod",
        *,
        host_network: bool = False,
        labels: dict[str, str] | None = None,
        **fields: Any,
    ) -> cri.PodSandboxConfig:
        uid = f"{self.tag}-{uuid.uuid4().hex[:8]}"
        config = cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(name=name, namespace="test", uid=uid, attempt=0),
            log_directory=str(self.log_root / f"test_{name}_{uid}"),
            labels={TEST_LABEL: self.tag, **(labels or {})},
            **fields,
        )
        if host_network:
            config.linux.security_context.namespace_options.network = cri.NODE
        return config

    async def run_pod(
        self, config: cri.PodSandboxConfig | None = None, **kwargs: Any
    ) -> tuple[str, cri.PodSandboxConfig]:
        config = config or self.pod_config(**kwargs)
        response = await self.cri.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config))
        self.sandboxes.append(response.pod_sandbox_id)
        return response.pod_sandbox_id, config

    def container_config(
        self,
        name: str,
        command: Sequence[str],
        *,
        image: str = env.BUSYBOX,
        labels: dict[str, str] | None = None,
        **fields: Any,
    ) -> cri.ContainerConfig:
        return cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name=name, attempt=0),
            image=cri.ImageSpec(image=image),
            command=list(command),
            log_path=f"{name}/0.log",
            labels={TEST_LABEL: self.tag, **(labels or {})},
            **fields,
        )

    async def create(
        self, pod_id: str, pod: cri.PodSandboxConfig, config: cri.ContainerConfig
    ) -> str:
        response = await self.cri.runtime.CreateContainer(
            cri.CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=pod)
        )
        return response.container_id

    async def run_container(
        self, pod_id: str, pod: cri.PodSandboxConfig, config: cri.ContainerConfig
    ) -> str:
        container_id = await self.create(pod_id, pod, config)
        await self.cri.runtime.StartContainer(cri.StartContainerRequest(container_id=container_id))
        return container_id

    async def status(self, container_id: str) -> cri.ContainerStatus:
        response = await self.cri.runtime.ContainerStatus(
            cri.ContainerStatusRequest(container_id=container_id)
        )
        return response.status

    async def exec(self, container_id: str, *cmd: str, timeout: int = 0) -> cri.ExecSyncResponse:
        return await self.cri.runtime.ExecSync(
            cri.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout)
        )

    async def wait_exit(self, container_id: str, timeout: float = 30.0) -> cri.ContainerStatus:
        """Await dockerd's own "container exited" event, then read the CRI status."""
        async with asyncio.timeout(timeout):
            await self.docker.containers.container(container_id).wait()
        return await self.status(container_id)

    async def cleanup(self) -> None:
        for sandbox_id in self.sandboxes:
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.cri.runtime.StopPodSandbox(
                    cri.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=60
                )
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.cri.runtime.RemovePodSandbox(
                    cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=60
                )
        await sweep(self.docker, self.tag)


async def sweep(docker: aiodocker.Docker, tag: str) -> None:
    """Force-remove any container still carrying this test's label."""
    leftovers = await docker.containers.list(all=True, filters={"label": [f"{TEST_LABEL}={tag}"]})
    for container in leftovers:
        log.warning("removing leftover container %s", container.id)
        with contextlib.suppress(aiodocker.DockerError):
            await container.delete(force=True)
