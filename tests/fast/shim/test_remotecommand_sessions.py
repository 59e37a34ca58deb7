"""Exec and attach sessions of the streaming server over the fake Docker's hijacked sessions."""

from __future__ import annotations

import asyncio

from criapi.runtime.v1 import api_pb2 as cri
from shim.streaming import remotecommand
from tests.support.fakedocker import FakeDocker
from tests.support.scripts import ExecScript

BUSYBOX = "127.0.0.1:5000/busybox:1.35"


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    async def write(self, data: bytes) -> None:
        self.data += data

    async def close(self) -> None:
        self.closed = True


class Source:
    def __init__(self, *chunks: bytes) -> None:
        self._chunks = list(chunks)

    async def read(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


class Context:
    def __init__(self, stdin: Source | None = None) -> None:
        self.stdout, self.stderr = Sink(), Sink()
        self.statuses: list[dict] = []

        async def write_status(status: dict) -> None:
            self.statuses.append(status)

        self.remote = remotecommand.RemoteContext(
            stdin=stdin,
            stdout=self.stdout,
            stderr=self.stderr,
            resize=None,
            write_status=write_status,
            gone=asyncio.Event(),
        )


async def running(docker: FakeDocker) -> str:
    docker.add_image(BUSYBOX)
    container_id = await docker.create_container("i9-session", {"Image": BUSYBOX})
    await docker.start_container(container_id)
    return container_id


async def test_exec_output_lands_on_its_streams_and_a_failure_reports_the_exit_code() -> None:
    docker = FakeDocker()
    docker.exec_scripts[("sh", "-c", "work")] = ExecScript(
        exit_code=3, stdout=b"out\n", stderr=b"err\n"
    )
    container_id = await running(docker)
    ctx = Context()
    request = cri.ExecRequest(
        container_id=container_id, cmd=["sh", "-c", "work"], stdout=True, stderr=True
    )
    await remotecommand.serve_exec(docker, request, ctx.remote)
    assert bytes(ctx.stdout.data) == b"out\n"
    assert bytes(ctx.stderr.data) == b"err\n"
    assert ctx.statuses == [remotecommand.exit_status(3, ["sh", "-c", "work"])]
    [execution] = docker.execs.values()
    assert execution.exit_code == 3
    assert not execution.running


async def test_exec_stdin_reaches_the_process_then_its_end() -> None:
    docker = FakeDocker()
    container_id = await running(docker)
    ctx = Context(stdin=Source(b"hello ", b"world"))
    request = cri.ExecRequest(container_id=container_id, cmd=["cat"], stdin=True, stdout=True)
    docker.exec_scripts[("cat",)] = ExecScript(takes=0.05)
    await remotecommand.serve_exec(docker, request, ctx.remote)
    [execution] = docker.execs.values()
    assert execution.session is not None
    assert bytes(execution.session.stdin) == b"hello world"
    assert execution.session.stdin_closed
    assert execution.session.closed
    assert ctx.statuses == [remotecommand.success()]


async def test_attach_ends_with_the_container() -> None:
    docker = FakeDocker()
    container_id = await running(docker)
    ctx = Context()
    request = cri.AttachRequest(container_id=container_id, stdout=True)
    session = asyncio.create_task(remotecommand.serve_attach(docker, request, ctx.remote))
    await asyncio.sleep(0.1)
    assert not session.done()
    await docker.stop_container(container_id, 0)
    await asyncio.wait_for(session, 5)
    assert ctx.statuses == [remotecommand.success()]
    assert [s.closed for s in docker.attachments[container_id]] == [True]
