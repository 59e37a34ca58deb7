"""Inputs of the third attack pass (issue #8) that the fault suite did not contain."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as cri
from shim.docker import DockerClient
from shim.streaming.server import StreamingOptions, StreamingServer
from shim.streaming.tokens import StreamIssuer, TokenCache
from tests.fast.shim.test_rpc_edge import fake_docker, rpc_error, running_container
from tests.support.fakeshim import backend_for, serving


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
