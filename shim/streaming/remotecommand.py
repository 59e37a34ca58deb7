"""Exec and attach sessions, whatever the transport (SPDY or WebSocket).

A transport turns the client's streams into a :class:`RemoteContext`; the
functions here connect that context to a Docker exec or attach:

- stdin is copied into the hijacked Docker connection; the client's
  half-close becomes the process's EOF;
- stdout and stderr come back demultiplexed (a TTY has only stdout);
- terminal sizes (JSON ``{"Width":..,"Height":..}`` objects) resize the
  exec or the container;
- the end is reported on the error stream as the kubelet reports it: v4
  writes a ``metav1.Status`` (``NonZeroExitCode`` with an ``ExitCode``
  cause), older protocols write the message of a failure only.

If the client goes away first, or the server shuts down, the exec'd process
tree is killed (an attach just lets go of the container).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri.exec import kill_process_tree
from shim.engine.dockerapi import DockerAPI, Hijacked
from shim.errors import ShimError

log = logging.getLogger(__name__)

# X-Stream-Protocol-Version values, most preferred first (the kubelet's order).
PROTOCOL_V4 = "v4.channel.k8s.io"
PROTOCOL_V3 = "v3.channel.k8s.io"
PROTOCOL_V2 = "v2.channel.k8s.io"
PROTOCOL_V1 = "channel.k8s.io"
SPDY_PROTOCOLS = (PROTOCOL_V4, PROTOCOL_V3, PROTOCOL_V2, PROTOCOL_V1)

MAX_RESIZE_MESSAGE = 4096
EXIT_CODE_POLLS = 300
EXIT_CODE_POLL_INTERVAL = 0.01

Status = dict[str, Any]


class Reader(Protocol):
    async def read(self) -> bytes:
        """Next bytes from the client; b"" at its end."""
        ...


class Writer(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


@dataclass
class RemoteContext:
    stdin: Reader | None
    stdout: Writer | None
    stderr: Writer | None
    resize: Reader | None
    write_status: Callable[[Status], Awaitable[None]]
    gone: asyncio.Event  # set when the client disconnected


def success() -> Status:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, cmd: list[str]) -> Status:
    """What the kubelet sends for a command that exited non-zero (client-go reads the cause)."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"[{' '.join(cmd)}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error(message: str) -> Status:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def encode_status(status: Status, v4: bool) -> bytes:
    """The error stream's content: v4 the Status as JSON, older only a failure's message."""
    if v4:
        return json.dumps(status, separators=(",", ":")).encode()
    if status.get("status") == "Success":
        return b""
    return str(status.get("message", "")).encode()


def negotiate(client_protocols: list[str], server_protocols: tuple[str, ...]) -> str | None:
    """The first of the client's protocols the server speaks (httpstream.Handshake's rule)."""
    offered = [p.strip() for value in client_protocols for p in value.split(",") if p.strip()]
    for protocol in offered:
        if protocol in server_protocols:
            return protocol
    return None


class SizeDecoder:
    """Terminal sizes from a stream of concatenated JSON objects."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        self._buffer += data.decode(errors="replace")
        sizes: list[tuple[int, int]] = []
        while True:
            text = self._buffer.lstrip()
            if not text:
                self._buffer = ""
                return sizes
            if len(text) > MAX_RESIZE_MESSAGE:
                raise ValueError("resize message too long")
            try:
                value, end = self._decoder.raw_decode(text)
            except ValueError:  # incomplete so far (or garbage, refused once too long)
                self._buffer = text
                return sizes
            self._buffer = text[end:]
            if isinstance(value, dict):
                width, height = value.get("Width"), value.get("Height")
                if _is_dimension(width) and _is_dimension(height):
                    sizes.append((width, height))


def _is_dimension(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 0xFFFF


async def serve_exec(docker: DockerAPI, request: cri.ExecRequest, ctx: RemoteContext) -> None:
    cmd = list(request.cmd)
    try:
        exec_id = await docker.exec_create(
            request.container_id,
            cmd,
            request.tty,
            stdin=request.stdin,
            stdout=request.stdout,
            stderr=request.stderr and not request.tty,
        )
        hijacked = await docker.exec_attach(exec_id, request.tty)
    except ShimError as exc:
        await ctx.write_status(
            internal_error(f"error executing command in container: {exc.message}")
        )
        return

    async def resize(width: int, height: int) -> None:
        await docker.exec_resize(exec_id, height, width)

    try:
        finished = await _pump(hijacked, ctx, resize)
    except BaseException:
        await asyncio.shield(_kill_exec(docker, exec_id))
        raise
    if not finished:
        await _kill_exec(docker, exec_id)
        return
    code = await _exit_code(docker, exec_id)
    if code is None:
        await ctx.write_status(internal_error("the command's exit code is unknown"))
    elif code == 0:
        await ctx.write_status(success())
    else:
        await ctx.write_status(exit_status(code, cmd))


async def serve_attach(docker: DockerAPI, request: cri.AttachRequest, ctx: RemoteContext) -> None:
    try:
        inspect = await docker.inspect_container(request.container_id)
        tty = bool(inspect["Config"].get("Tty"))
        hijacked = await docker.container_attach(
            request.container_id,
            tty,
            stdin=request.stdin,
            stdout=request.stdout,
            stderr=request.stderr and not request.tty,
        )
    except ShimError as exc:
        await ctx.write_status(internal_error(f"error attaching to container: {exc.message}"))
        return

    async def resize(width: int, height: int) -> None:
        await docker.container_resize(request.container_id, height, width)

    if await _pump(hijacked, ctx, resize):
        await ctx.write_status(success())


async def _pump(
    hijacked: Hijacked,
    ctx: RemoteContext,
    resize: Callable[[int, int], Awaitable[None]],
) -> bool:
    """Copy until the process's output ends (True) or the client goes away (False)."""
    helpers: list[asyncio.Task[None]] = []
    if ctx.stdin is not None:
        helpers.append(asyncio.create_task(_copy_stdin(ctx.stdin, hijacked)))
    if ctx.resize is not None:
        helpers.append(asyncio.create_task(_apply_resizes(ctx.resize, resize)))
    output = asyncio.create_task(_copy_output(hijacked, ctx))
    gone = asyncio.create_task(ctx.gone.wait())
    try:
        await asyncio.wait({output, gone}, return_when=asyncio.FIRST_COMPLETED)
        finished = output.done() and output.result()
    finally:
        for task in (*helpers, output, gone):
            task.cancel()
        await asyncio.gather(*helpers, output, gone, return_exceptions=True)
        await hijacked.close()
    return finished


async def _copy_output(hijacked: Hijacked, ctx: RemoteContext) -> bool:
    try:
        while (frame := await hijacked.read()) is not None:
            stream_id, data = frame
            target = ctx.stderr if stream_id == 2 else ctx.stdout
            if target is not None and data:
                await target.write(data)
    except ConnectionError:
        return False  # the client went away mid-write
    except ShimError as exc:
        log.info("stream from dockerd ended: %s", exc.message)
    for target in (ctx.stdout, ctx.stderr):
        if target is not None:
            with contextlib.suppress(ConnectionError):
                await target.close()
    return not ctx.gone.is_set()


async def _copy_stdin(stdin: Reader, hijacked: Hijacked) -> None:
    try:
        while data := await stdin.read():
            await hijacked.write(data)
    except (ConnectionError, ShimError, RuntimeError):
        return
    hijacked.close_stdin()


async def _apply_resizes(source: Reader, resize: Callable[[int, int], Awaitable[None]]) -> None:
    decoder = SizeDecoder()
    while data := await source.read():
        try:
            sizes = decoder.feed(data)
        except ValueError as exc:
            log.info("ignoring resize stream: %s", exc)
            return
        for width, height in sizes:
            try:
                await resize(width, height)
            except ShimError as exc:
                log.info("resize to %dx%d failed: %s", width, height, exc.message)


async def _exit_code(docker: DockerAPI, exec_id: str) -> int | None:
    for _ in range(EXIT_CODE_POLLS):
        info = await docker.exec_inspect(exec_id)
        if not info.get("Running"):
            return int(info.get("ExitCode") or 0)
        await asyncio.sleep(EXIT_CODE_POLL_INTERVAL)
    return None


async def _kill_exec(docker: DockerAPI, exec_id: str) -> None:
    """Kill what the session started; it must not outlive its client."""
    try:
        info = await docker.exec_inspect(exec_id)
    except ShimError as exc:
        log.warning("cannot inspect exec %s to kill it: %s", exec_id[:12], exc.message)
        return
    pid = int(info.get("Pid") or 0)
    if info.get("Running") and pid > 0:
        killed = await asyncio.to_thread(kill_process_tree, pid)
        log.info("client left: killed exec %s (host pids %s)", exec_id[:12], killed)
