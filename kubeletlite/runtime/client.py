"""A typed asyncio client of a CRI runtime, as the kubelet's remote runtime uses it.

Every call carries a deadline (the kubelet's runtime request timeout, 2
minutes by default), except ExecSync for lifecycle hooks, which the kubelet
runs without one. Failures surface as :class:`RuntimeCallError` with the
gRPC code kept, so callers can tell "not found" from "unreachable".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType

import grpc

from criapi.runtime.v1 import api_pb2 as cri
from criapi.runtime.v1 import api_pb2_grpc

DEFAULT_ENDPOINT = "unix:///run/cri-shim.sock"
REQUEST_TIMEOUT = 120.0
# StopContainer may take the grace period and SIGKILL's reaping on top.
STOP_MARGIN = 30.0


def recency(item: cri.PodSandbox | cri.Container) -> tuple[int, int]:
    """Sort key: a pod's later sandbox, or a container's later attempt, comes after."""
    return item.metadata.attempt, item.created_at


def newest_sandboxes(sandboxes: list[cri.PodSandbox]) -> dict[str, cri.PodSandbox]:
    """The newest sandbox of each pod UID."""
    newest: dict[str, cri.PodSandbox] = {}
    for sandbox in sorted(sandboxes, key=recency):
        newest[sandbox.metadata.uid] = sandbox
    return newest


class RuntimeCallError(Exception):
    def __init__(self, method: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{method}: {details}")
        self.method = method
        self.code = code
        self.details = details

    @property
    def not_found(self) -> bool:
        return self.code == grpc.StatusCode.NOT_FOUND

    @property
    def unreachable(self) -> bool:
        return self.code == grpc.StatusCode.UNAVAILABLE


class RuntimeClient:
    """One channel to the runtime; an async context manager that closes it."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = REQUEST_TIMEOUT) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._channel = grpc.aio.insecure_channel(endpoint)
        self._runtime = api_pb2_grpc.RuntimeServiceStub(self._channel)
        self._images = api_pb2_grpc.ImageServiceStub(self._channel)

    async def __aenter__(self) -> RuntimeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    # -- runtime -----------------------------------------------------------------

    async def version(self) -> cri.VersionResponse:
        async with _call("Version"):
            return await self._runtime.Version(cri.VersionRequest(), timeout=self._timeout)

    async def run_pod_sandbox(self, config: cri.PodSandboxConfig) -> str:
        async with _call("RunPodSandbox"):
            response = await self._runtime.RunPodSandbox(
                cri.RunPodSandboxRequest(config=config), timeout=self._timeout
            )
        return response.pod_sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        async with _call("StopPodSandbox"):
            await self._runtime.StopPodSandbox(
                cri.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self._timeout
            )

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        async with _call("RemovePodSandbox"):
            await self._runtime.RemovePodSandbox(
                cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self._timeout
            )

    async def pod_sandbox_status(self, sandbox_id: str) -> cri.PodSandboxStatus:
        async with _call("PodSandboxStatus"):
            response = await self._runtime.PodSandboxStatus(
                cri.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id), timeout=self._timeout
            )
        return response.status

    async def list_pod_sandboxes(self, labels: Mapping[str, str]) -> list[cri.PodSandbox]:
        request = cri.ListPodSandboxRequest(filter=cri.PodSandboxFilter(label_selector=labels))
        async with _call("ListPodSandbox"):
            response = await self._runtime.ListPodSandbox(request, timeout=self._timeout)
        return list(response.items)

    async def create_container(
        self, sandbox_id: str, config: cri.ContainerConfig, sandbox_config: cri.PodSandboxConfig
    ) -> str:
        request = cri.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config
        )
        async with _call("CreateContainer"):
            response = await self._runtime.CreateContainer(request, timeout=self._timeout)
        return response.container_id

    async def start_container(self, container_id: str) -> None:
        async with _call("StartContainer"):
            await self._runtime.StartContainer(
                cri.StartContainerRequest(container_id=container_id), timeout=self._timeout
            )

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        async with _call("StopContainer"):
            await self._runtime.StopContainer(
                cri.StopContainerRequest(container_id=container_id, timeout=grace_seconds),
                timeout=max(self._timeout, grace_seconds + STOP_MARGIN),
            )

    async def remove_container(self, container_id: str) -> None:
        async with _call("RemoveContainer"):
            await self._runtime.RemoveContainer(
                cri.RemoveContainerRequest(container_id=container_id), timeout=self._timeout
            )

    async def container_status(self, container_id: str) -> cri.ContainerStatus:
        async with _call("ContainerStatus"):
            response = await self._runtime.ContainerStatus(
                cri.ContainerStatusRequest(container_id=container_id), timeout=self._timeout
            )
        return response.status

    async def list_containers(self, labels: Mapping[str, str]) -> list[cri.Container]:
        request = cri.ListContainersRequest(filter=cri.ContainerFilter(label_selector=labels))
        async with _call("ListContainers"):
            response = await self._runtime.ListContainers(request, timeout=self._timeout)
        return list(response.containers)

    async def exec_sync(
        self, container_id: str, command: list[str], limit_seconds: int = 0
    ) -> cri.ExecSyncResponse:
        """Run a command; with ``limit_seconds`` 0 it may take as long as it needs, as the
        kubelet's hooks do (callers bound it themselves if they want to)."""
        request = cri.ExecSyncRequest(container_id=container_id, cmd=command, timeout=limit_seconds)
        deadline = limit_seconds + STOP_MARGIN if limit_seconds else None
        async with _call("ExecSync"):
            return await self._runtime.ExecSync(request, timeout=deadline)

    async def stream_url(
        self, request: cri.ExecRequest | cri.AttachRequest | cri.PortForwardRequest
    ) -> str:
        """The streaming URL for an Exec, Attach or PortForward request."""
        match request:
            case cri.ExecRequest():
                async with _call("Exec"):
                    return str((await self._runtime.Exec(request, timeout=self._timeout)).url)
            case cri.AttachRequest():
                async with _call("Attach"):
                    return str((await self._runtime.Attach(request, timeout=self._timeout)).url)
            case _:
                async with _call("PortForward"):
                    response = await self._runtime.PortForward(request, timeout=self._timeout)
                    return str(response.url)

    async def container_events(
        self, on_open: Callable[[], None]
    ) -> AsyncIterator[cri.ContainerEventResponse]:
        """The runtime's container events until it ends the stream; ``on_open`` once it is live."""
        call = self._runtime.GetContainerEvents(cri.GetEventsRequest())
        try:
            async with _call("GetContainerEvents"):
                await call.initial_metadata()
                if call.done() and (code := await call.code()) != grpc.StatusCode.OK:
                    raise RuntimeCallError("GetContainerEvents", code, await call.details())
                on_open()
                async for event in call:
                    yield event
        finally:
            call.cancel()

    # -- images ------------------------------------------------------------------

    async def image_status(self, image: str) -> cri.Image | None:
        async with _call("ImageStatus"):
            response = await self._images.ImageStatus(
                cri.ImageStatusRequest(image=cri.ImageSpec(image=image)), timeout=self._timeout
            )
        return response.image if response.HasField("image") else None

    async def pull_image(self, image: str) -> str:
        async with _call("PullImage"):
            response = await self._images.PullImage(
                cri.PullImageRequest(image=cri.ImageSpec(image=image)), timeout=self._timeout
            )
        return response.image_ref


@asynccontextmanager
async def _call(method: str) -> AsyncIterator[None]:
    """Turn a gRPC failure of ``method`` into a RuntimeCallError."""
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        raise RuntimeCallError(method, exc.code(), exc.details() or "") from exc
