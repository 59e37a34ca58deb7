"""Exec, Attach and PortForward end to end: crictl (the real Go client, SPDY and
WebSocket), a Python SPDY client and an aiohttp WebSocket client, against real
containers."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri.streamtokens import StreamIssuer, TokenCache
from shim.engine.docker import DockerClient
from shim.streaming.server import StreamingOptions, StreamingServer
from tests.support import env
from tests.support.cri import CriClient, Workspace, eventually, rpc_error
from tests.support.processes import ShimProcess, short_socket_dir
from tests.support.spdyclient import SpdyClient, UpgradeRefused
from tests.support.tools import tool

V4 = "v4.channel.k8s.io"
PAGE = "hello-from-pod"
# busybox httpd on the pod's loopback only: reachable through the pod's netns, not its IP.
WEB = f"mkdir -p /www && echo {PAGE} > /www/index.html && exec httpd -f -p 127.0.0.1:80 -h /www"


@dataclass
class Pod:
    sandbox_id: str
    container_id: str


@pytest.fixture
async def pod(workspace: Workspace) -> Pod:
    sandbox_id, config = await workspace.run_pod(name="stream")
    container = workspace.container_config("web", ["sh", "-c", WEB], stdin=True)
    container_id = await workspace.run_container(sandbox_id, config, container)

    async def serving() -> bool:
        probe = await workspace.exec(container_id, "wget", "-q", "-O", "-", "http://127.0.0.1/")
        return probe.exit_code == 0

    await eventually(serving)  # httpd listens a moment after the container starts
    return Pod(sandbox_id, container_id)


async def exec_url(workspace: Workspace, container_id: str, *cmd: str, **flags: bool) -> str:
    request = cri.ExecRequest(container_id=container_id, cmd=list(cmd), **flags)
    return (await workspace.cri.runtime.Exec(request)).url


async def port_forward_url(workspace: Workspace, sandbox_id: str) -> str:
    request = cri.PortForwardRequest(pod_sandbox_id=sandbox_id, port=[80])
    return (await workspace.cri.runtime.PortForward(request)).url


async def processes(workspace: Workspace, container_id: str) -> str:
    return (await workspace.exec(container_id, "ps", "-o", "args")).stdout.decode()


def crictl(endpoint: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    command = [str(tool("crictl")), "--runtime-endpoint", endpoint, *args]
    return subprocess.run(command, input=stdin, capture_output=True, timeout=60, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the CRI side -------------------------------------------------------------


async def test_bad_requests_are_refused_with_the_field(workspace: Workspace, pod: Pod) -> None:
    runtime = workspace.cri.runtime
    cases = [
        (runtime.Exec(cri.ExecRequest(container_id=pod.container_id, stdout=True)), "cmd"),
        (
            runtime.Exec(
                cri.ExecRequest(container_id=pod.container_id, cmd=["sh"], tty=True, stderr=True)
            ),
            "tty and stderr",
        ),
        (runtime.Attach(cri.AttachRequest(container_id=pod.container_id)), "one of stdin"),
        (
            runtime.PortForward(cri.PortForwardRequest(pod_sandbox_id=pod.sandbox_id, port=[0])),
            "port[0]",
        ),
    ]
    for call, field in cases:
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in error.details()
    missing = await rpc_error(
        runtime.Exec(cri.ExecRequest(container_id="nope", cmd=["true"], stdout=True))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_exec_into_a_stopped_container_is_a_failed_precondition(
    workspace: Workspace,
) -> None:
    sandbox_id, config = await workspace.run_pod(name="stopped")
    done = await workspace.run_container(
        sandbox_id, config, workspace.container_config("done", ["true"])
    )
    await workspace.wait_exit(done)
    error = await rpc_error(
        workspace.cri.runtime.Exec(cri.ExecRequest(container_id=done, cmd=["true"], stdout=True))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


# -- crictl, the real client ----------------------------------------------------


async def test_crictl_exec_reports_the_exit_code(shim_daemon, pod: Pod) -> None:
    result = await asyncio.to_thread(
        crictl, shim_daemon.endpoint, "exec", pod.container_id, "sh", "-c", "echo out; exit 7"
    )
    assert result.stdout == b"out\n"
    assert result.returncode != 0
    assert b"exit code 7" in result.stderr


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
async def test_crictl_exec_with_stdin(shim_daemon, pod: Pod, transport: str) -> None:
    result = await asyncio.to_thread(
        crictl,
        shim_daemon.endpoint,
        "exec",
        "--transport",
        transport,
        "-i",
        pod.container_id,
        "sh",
        "-c",
        "cat; echo end >&2",
        stdin=b"line one\nline two\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"line one\nline two\n"
    assert b"end\n" in result.stderr


async def test_crictl_attach(shim_daemon, workspace: Workspace) -> None:
    sandbox_id, config = await workspace.run_pod(name="attach")
    echo = "while read l; do echo got:$l; done; echo bye"
    container_id = await workspace.run_container(
        sandbox_id, config, workspace.container_config("echo", ["sh", "-c", echo], stdin=True)
    )
    command = [str(tool("crictl")), "--runtime-endpoint", shim_daemon.endpoint]
    command += ["attach", "-i", container_id]
    # dockerd ends an attach when its stdin closes: keep stdin open until the echo is back.
    attached = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert attached.stdin is not None
        assert attached.stdout is not None
        attached.stdin.write(b"a\nb\n")
        await attached.stdin.drain()
        async with asyncio.timeout(30):
            lines = [await attached.stdout.readline() for _ in range(2)]
        assert lines == [b"got:a\n", b"got:b\n"]
    finally:
        attached.kill()  # crictl waits out SIGTERM while a stream is open
        await attached.wait()


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
async def test_crictl_port_forward_reaches_a_loopback_only_server(
    shim_daemon, pod: Pod, transport: str
) -> None:
    local = free_port()
    command = [
        str(tool("crictl")),
        "--runtime-endpoint",
        shim_daemon.endpoint,
        "port-forward",
        "--transport",
        transport,
        pod.sandbox_id,
        f"{local}:80",
    ]
    forwarder = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        assert forwarder.stdout is not None
        async with asyncio.timeout(30):
            line = await forwarder.stdout.readline()
            while b"Forwarding from" not in line and line:
                line = await forwarder.stdout.readline()
        assert b"Forwarding from" in line
        for _ in range(2):  # two connections through one session
            body = await asyncio.to_thread(_http_get, f"http://127.0.0.1:{local}/")
            assert body.strip() == PAGE.encode()
    finally:
        forwarder.kill()
        await forwarder.wait()


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


# -- SPDY, from Python ------------------------------------------------------------


async def test_v4_reports_the_exit_status_and_output(workspace: Workspace, pod: Pod) -> None:
    url = await exec_url(
        workspace,
        pod.container_id,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
        stdout=True,
        stderr=True,
    )
    client, protocol = await SpdyClient.connect(url, [V4, "v3.channel.k8s.io"])
    assert protocol == V4
    error = await client.open({"streamType": "error"})
    stdout = await client.open({"streamType": "stdout"})
    stderr = await client.open({"streamType": "stderr"})
    status = json.loads(await client.read_all(error))
    assert await client.read_all(stdout) == b"out\n"
    assert await client.read_all(stderr) == b"err\n"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    await client.close()


async def test_a_token_is_good_once(workspace: Workspace, pod: Pod) -> None:
    url = await exec_url(
        workspace, pod.container_id, "sh", "-c", "echo ran >> /tmp/runs", stdout=True
    )
    client, _ = await SpdyClient.connect(url, [V4])
    error = await client.open({"streamType": "error"})
    await client.open({"streamType": "stdout"})
    assert json.loads(await client.read_all(error))["status"] == "Success"
    await client.close()
    with pytest.raises(UpgradeRefused) as refused:
        await SpdyClient.connect(url, [V4])
    assert refused.value.status == 404
    assert (await workspace.exec(pod.container_id, "cat", "/tmp/runs")).stdout == b"ran\n"


async def test_an_unknown_protocol_is_refused(workspace: Workspace, pod: Pod) -> None:
    url = await exec_url(workspace, pod.container_id, "true", stdout=True)
    with pytest.raises(UpgradeRefused) as refused:
        await SpdyClient.connect(url, ["v99.channel.k8s.io"])
    assert refused.value.status == 403


async def test_a_client_that_hangs_up_leaves_no_process(workspace: Workspace, pod: Pod) -> None:
    url = await exec_url(workspace, pod.container_id, "sleep", "4323", stdout=True)
    client, _ = await SpdyClient.connect(url, [V4])
    await client.open({"streamType": "error"})
    await client.open({"streamType": "stdout"})

    async def running() -> bool:
        return "sleep 4323" in await processes(workspace, pod.container_id)

    async def gone() -> bool:
        return not await running()

    await eventually(running)
    client.hang_up()
    await eventually(gone)
    await client.close()


async def test_a_closed_port_is_reported_and_the_session_goes_on(
    workspace: Workspace, pod: Pod
) -> None:
    url = await port_forward_url(workspace, pod.sandbox_id)
    client, protocol = await SpdyClient.connect(url, ["portforward.k8s.io"])
    assert protocol == "portforward.k8s.io"
    closed = {"port": "81", "requestID": "0"}
    error = await client.open({**closed, "streamType": "error"})
    await client.open({**closed, "streamType": "data"})
    message = (await client.read_all(error)).decode()
    assert "error forwarding port 81" in message

    open_port = {"port": "80", "requestID": "1"}
    error = await client.open({**open_port, "streamType": "error"})
    data = await client.open({**open_port, "streamType": "data"})
    client.write(data, b"GET / HTTP/1.0\r\n\r\n", fin=True)
    assert PAGE.encode() in await client.read_all(data)
    assert await client.read_all(error) == b""
    await client.close()


async def test_port_forward_streams_need_a_valid_port(workspace: Workspace, pod: Pod) -> None:
    url = await port_forward_url(workspace, pod.sandbox_id)
    client, _ = await SpdyClient.connect(url, ["portforward.k8s.io"])
    stream = await client.open({"port": "0", "streamType": "data", "requestID": "0"})
    assert stream.reset
    await client.close()


# -- WebSocket, from Python ---------------------------------------------------------


async def test_websocket_v5_stdin_close_signal(workspace: Workspace, pod: Pod) -> None:
    url = await exec_url(
        workspace, pod.container_id, "sh", "-c", "cat; exit 4", stdin=True, stdout=True
    )
    output, status = bytearray(), b""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=["v5.channel.k8s.io"]) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        await ws.send_bytes(b"\x00piped")
        await ws.send_bytes(b"\xff\x00")  # close stdin
        async for message in ws:
            channel, payload = message.data[0], message.data[1:]
            if channel == 1:
                output += payload
            elif channel == 3:
                status += payload
    assert bytes(output) == b"piped"
    assert json.loads(status)["details"]["causes"][0]["message"] == "4"


async def test_websocket_base64_channels(workspace: Workspace, pod: Pod) -> None:
    url = await exec_url(workspace, pod.container_id, "echo", "b64", stdout=True)
    output = b""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=["base64.channel.k8s.io"]) as ws,
    ):
        async for message in ws:
            assert message.type == aiohttp.WSMsgType.TEXT
            if message.data[0] == "1":
                output += base64.b64decode(message.data[1:])
    assert output == b"b64\n"


async def test_websocket_port_forward(workspace: Workspace, pod: Pod) -> None:
    url = await port_forward_url(workspace, pod.sandbox_id)
    received = bytearray()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}?port=80", protocols=["v4.channel.k8s.io"]) as ws,
    ):
        prefixes = [await ws.receive_bytes(), await ws.receive_bytes()]
        assert prefixes == [b"\x00\x50\x00", b"\x01\x50\x00"]  # port 80, little-endian
        await ws.send_bytes(b"\x00GET / HTTP/1.0\r\n\r\n")
        async for message in ws:
            if message.data[0] == 0:
                received += message.data[1:]
    assert PAGE.encode() in received


# -- the server's own life: expiry and shutdown --------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def own_server() -> AsyncIterator[tuple[StreamingServer, StreamIssuer, FakeClock]]:
    """A streaming server in this process, with a fake clock for its tokens."""
    clock = FakeClock()
    issuer = StreamIssuer(TokenCache(clock=clock))
    docker = DockerClient(env.DOCKER_HOST, 30.0)
    server = StreamingServer(docker, issuer, StreamingOptions())
    await server.start()
    try:
        yield server, issuer, clock
    finally:
        await server.close()
        await docker.close()


async def test_an_expired_token_gets_404_and_nothing_runs(
    workspace: Workspace, pod: Pod, own_server
) -> None:
    _, issuer, clock = own_server
    request = cri.ExecRequest(
        container_id=pod.container_id, cmd=["touch", "/tmp/expired"], stdout=True
    )
    url = issuer.issue("exec", request)
    clock.now += 60.0
    with pytest.raises(UpgradeRefused) as refused:
        await SpdyClient.connect(url, [V4])
    assert refused.value.status == 404
    assert (await workspace.exec(pod.container_id, "ls", "/tmp/expired")).exit_code != 0


async def test_shutdown_ends_open_sessions_and_their_processes(
    workspace: Workspace, pod: Pod, own_server
) -> None:
    server, issuer, _ = own_server
    request = cri.ExecRequest(container_id=pod.container_id, cmd=["sleep", "4324"], stdout=True)
    client, _ = await SpdyClient.connect(issuer.issue("exec", request), [V4])
    await client.open({"streamType": "error"})
    await client.open({"streamType": "stdout"})

    async def running() -> bool:
        return "sleep 4324" in await processes(workspace, pod.container_id)

    await eventually(running)
    assert server.active_sessions == 1
    await server.close()
    await client.wait_closed()
    assert "sleep 4324" not in await processes(workspace, pod.container_id)
    assert server.active_sessions == 0
    await client.close()


async def test_sigterm_to_the_daemon_ends_sessions_and_their_processes(
    workspace: Workspace, pod: Pod, tmp_path: Path
) -> None:
    # A second daemon on its own socket: the shim keeps no state, it finds the container in Docker.
    socket_dir = short_socket_dir()
    daemon = ShimProcess(
        socket_dir / "cri.sock", tmp_path / "shim.log", env={"DOCKER_HOST": env.DOCKER_HOST}
    )
    await asyncio.to_thread(daemon.start)
    client = CriClient(daemon.endpoint)
    try:
        request = cri.ExecRequest(container_id=pod.container_id, cmd=["sleep", "4326"], stdout=True)
        url = (await client.runtime.Exec(request)).url
        session, _ = await SpdyClient.connect(url, [V4])
        await session.open({"streamType": "error"})
        await session.open({"streamType": "stdout"})

        async def running() -> bool:
            return "sleep 4326" in await processes(workspace, pod.container_id)

        await eventually(running)
        assert await asyncio.to_thread(daemon.stop) == 0
        await session.wait_closed()
        assert "sleep 4326" not in await processes(workspace, pod.container_id)
        await session.close()
    finally:
        await client.close()
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.kill()
        shutil.rmtree(socket_dir, ignore_errors=True)


async def test_sessions_beyond_the_bound_get_429_and_keep_their_token(
    workspace: Workspace, pod: Pod
) -> None:
    issuer = StreamIssuer(TokenCache())
    docker = DockerClient(env.DOCKER_HOST, 30.0)
    server = StreamingServer(docker, issuer, StreamingOptions(max_streams=1))
    await server.start()
    try:
        busy = cri.ExecRequest(container_id=pod.container_id, cmd=["sleep", "4327"], stdout=True)
        first, _ = await SpdyClient.connect(issuer.issue("exec", busy), [V4])
        await first.open({"streamType": "error"})
        await first.open({"streamType": "stdout"})
        quick = cri.ExecRequest(container_id=pod.container_id, cmd=["true"], stdout=True)
        url = issuer.issue("exec", quick)
        with pytest.raises(UpgradeRefused) as refused:
            await SpdyClient.connect(url, [V4])
        assert refused.value.status == 429
        first.hang_up()
        await first.close()

        async def admitted() -> bool:
            return server.active_sessions == 0

        await eventually(admitted)
        second, _ = await SpdyClient.connect(url, [V4])  # the refused token is still good
        error = await second.open({"streamType": "error"})
        await second.open({"streamType": "stdout"})
        assert json.loads(await second.read_all(error))["status"] == "Success"
        await second.close()
    finally:
        await server.close()
        await docker.close()


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
async def test_an_idle_session_is_closed_and_its_process_killed(
    workspace: Workspace, pod: Pod, transport: str
) -> None:
    issuer = StreamIssuer(TokenCache())
    docker = DockerClient(env.DOCKER_HOST, 30.0)
    server = StreamingServer(docker, issuer, StreamingOptions(idle_timeout=0.5))
    await server.start()
    command = f"sleep 43{28 if transport == 'spdy' else 29}"
    request = cri.ExecRequest(container_id=pod.container_id, cmd=command.split(), stdout=True)
    url = issuer.issue("exec", request)
    try:
        if transport == "spdy":
            client, _ = await SpdyClient.connect(url, [V4])
            await client.open({"streamType": "error"})
            await client.open({"streamType": "stdout"})
            await client.wait_closed()  # the server hangs up
            await client.close()
        else:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(url, protocols=["v5.channel.k8s.io"]) as ws,
            ):
                async for _ in ws:  # until the server closes
                    pass

        async def gone() -> bool:
            return command not in await processes(workspace, pod.container_id)

        await eventually(gone)
    finally:
        await server.close()
        await docker.close()
