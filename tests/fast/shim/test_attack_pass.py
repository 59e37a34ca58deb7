"""Inputs of the third attack pass (issue #8) that the fault suite did not contain."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri.backend import JSON
from shim.cri.streamtokens import StreamIssuer, TokenCache
from shim.engine.docker import DockerClient
from shim.errors import DockerAPIError
from shim.streaming.server import StreamingOptions, StreamingServer
from tests.fast.shim.test_rpc_edge import (
    BUSYBOX,
    fake_docker,
    rpc_error,
    running_container,
    sandbox_config,
)
from tests.support.fakedocker import FakeDocker
from tests.support.fakeshim import INFRA_IMAGE, backend_for, serving


@pytest.mark.parametrize(
    ("cmd", "field"),
    [
        (["a" * (200 * 1024)], "cmd[0]: longer than"),
        (["a"] * 5000, "cmd: more than 1024 entries"),
        (["sh", "a\x00b"], "cmd[1]: must not contain a NUL byte"),
        (["b" * 100_000] * 11, "cmd: longer than 1048576 bytes in total"),
    ],
)
async def test_exec_bounds_its_command_as_exec_sync_does(cmd: list[str], field: str) -> None:
    async with serving(backend_for(fake_docker())) as (runtime, _images):
        container_id = await running_container(runtime)
        failure = await rpc_error(
            runtime.Exec(cri.ExecRequest(container_id=container_id, cmd=cmd, stdout=True))
        )
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.details().startswith(field), failure.details()


# -- a CreateContainer whose client gives up ---------------------------------------------


@dataclass
class DockerdThatFinishes(FakeDocker):
    """dockerd's create as seen from a client that hangs up: it goes on, holding the name.

    The name is taken when the request arrives, the container can be
    inspected once it is created (after ``gate``), and a cancelled request
    still creates it.
    """

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    reserved: set[str] = field(default_factory=set)

    async def create_container(self, name: str, body: JSON) -> str:
        if name in self.reserved:
            raise DockerAPIError(409, f'Conflict. The container name "/{name}" is already in use')
        if not name.startswith("k8s_app_"):
            return await super().create_container(name, body)
        self.reserved.add(name)
        return await asyncio.shield(asyncio.ensure_future(self._create_later(name, body)))

    async def _create_later(self, name: str, body: JSON) -> str:
        await self.gate.wait()
        self.reserved.discard(name)
        return await FakeDocker.create_container(self, name, body)


async def test_a_retry_of_a_create_container_whose_client_gave_up_succeeds() -> None:
    docker = DockerdThatFinishes()
    docker.add_image(INFRA_IMAGE)
    docker.add_image(BUSYBOX)
    config = sandbox_config("gave-up")
    request = cri.CreateContainerRequest(
        config=cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name="app"), image=cri.ImageSpec(image=BUSYBOX)
        ),
        sandbox_config=config,
    )
    async with serving(backend_for(docker)) as (runtime, _images):
        sandbox = await runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config))
        request.pod_sandbox_id = sandbox.pod_sandbox_id
        gave_up = await rpc_error(runtime.CreateContainer(request, timeout=0.2))
        retry = asyncio.ensure_future(runtime.CreateContainer(request, timeout=30))
        await asyncio.sleep(0.2)  # the retry arrives while dockerd still creates the first
        docker.gate.set()
        created = await retry
    assert gave_up.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    apps = [c["Id"] for c in docker.containers.values() if c["Name"].startswith("/k8s_app_")]
    assert apps == [created.container_id]  # the abandoned one was rolled back


# -- the streaming server against slow and silent clients (slowloris) ---------------------


@contextlib.asynccontextmanager
async def guarded_server(header_timeout: float, max_pending: int) -> AsyncIterator[int]:
    """A streaming server whose Docker client is never called; yields its port."""
    issuer = StreamIssuer(TokenCache())
    docker = DockerClient("unix:///nonexistent/docker.sock", 5.0)
    options = StreamingOptions(header_timeout=header_timeout, max_pending_connections=max_pending)
    server = StreamingServer(docker, issuer, options)
    url = await server.start()
    try:
        yield int(url.rsplit(":", 1)[1])
    finally:
        await server.close()
        await docker.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    async with asyncio.timeout(30):  # a hang is a failure, not a verdict on speed
        while await reader.read(4096):
            pass
    return reader.at_eof()


async def test_a_connection_that_never_completes_its_request_is_closed() -> None:
    async with guarded_server(header_timeout=0.3, max_pending=3) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /exec/abc HTTP/1.1\r\nHost: x\r\n")  # and never the end of it
        assert await closed_by_server(reader)
        writer.close()


async def test_connections_past_the_pending_bound_are_refused_and_others_still_served() -> None:
    # The timer is far away: only the bound can close the fourth connection.
    async with guarded_server(header_timeout=600, max_pending=3) as port:
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_by_server(reader)
        writer.close()
        for _reader, silent_writer in silent:
            silent_writer.close()
        for _ in range(100):  # until the server has seen the three go
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /exec/unknown HTTP/1.1\r\nHost: x\r\n\r\n")
            status = await reader.readline()
            writer.close()
            if status:
                break
            await asyncio.sleep(0.05)
        assert status.startswith(b"HTTP/1.1 404"), status
