"""kubectl's exec, attach and port-forward, through a CRI runtime's streaming URLs.

The runtime's Exec/Attach/PortForward answer a URL; this module speaks the
kubelet's WebSocket channel protocol to it (``v5.channel.k8s.io``, falling
back to ``v4``): one byte of channel (0 stdin, 1 stdout, 2 stderr, 3 error,
4 resize) before each message, ``[255, 0]`` to close stdin, the exit status
as a ``metav1.Status`` on the error channel. Port forwarding opens one
WebSocket per local connection, with the remote port in the query.

As with kubectl, the remote command's exit code is the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import threading
import tty as ttymode
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, BinaryIO

import aiohttp

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORT_FORWARD_PROTOCOL = "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE = range(5)
CLOSE_SIGNAL = 255
READ_CHUNK = 64 * 1024
MAX_MESSAGE = 4 * 1024 * 1024


class StreamError(Exception):
    """The session failed for another reason than the command's exit code."""


def exit_code(status: dict[str, Any]) -> int:
    """The exit code a v4 Status carries: 0 on success, the ExitCode cause otherwise."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                with contextlib.suppress(TypeError, ValueError):
                    return int(cause.get("message"))
    raise StreamError(str(status.get("message") or "remote command failed"))


async def run_remote_command(
    url: str,
    *,
    stdin: BinaryIO | None,
    stdout: BinaryIO,
    stderr: BinaryIO,
    tty: bool,
) -> int:
    """Connect stdio to an exec or attach URL; returns the remote exit code."""
    status = b""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=EXEC_PROTOCOLS, max_msg_size=MAX_MESSAGE) as ws,
    ):
        can_close = ws.protocol == EXEC_PROTOCOLS[0]
        helpers: list[asyncio.Task[None]] = []
        if stdin is not None:
            helpers.append(asyncio.create_task(_send_stdin(ws, stdin, can_close)))
        if tty:
            helpers.append(asyncio.create_task(_send_sizes(ws, stdout)))
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                    continue
                channel, payload = message.data[0], message.data[1:]
                if channel in (STDOUT, STDERR) and payload:
                    target = stdout if channel == STDOUT else stderr
                    target.write(payload)
                    target.flush()
                elif channel == ERROR:
                    status += payload
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
    if not status:
        return 0  # pre-v4 servers send nothing on success
    try:
        decoded = json.loads(status)
    except ValueError:
        raise StreamError(status.decode(errors="replace")) from None
    return exit_code(decoded)


async def _send_stdin(
    ws: aiohttp.ClientWebSocketResponse, stdin: BinaryIO, can_close: bool
) -> None:
    async for chunk in _read_in_thread(stdin):
        await ws.send_bytes(bytes([STDIN]) + chunk)
    if can_close:
        await ws.send_bytes(bytes([CLOSE_SIGNAL, STDIN]))


async def _read_in_thread(source: BinaryIO) -> Any:
    """Chunks of ``source`` read by a daemon thread, so a blocked read never holds up exit."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)
    fd = source.fileno()

    def pump() -> None:
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError:
                chunk = b""
            future = asyncio.run_coroutine_threadsafe(queue.put(chunk), loop)
            try:
                future.result()
            except (RuntimeError, asyncio.CancelledError):
                return
            if not chunk:
                return

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while chunk := await queue.get():
        yield chunk


async def _send_sizes(ws: aiohttp.ClientWebSocketResponse, terminal: BinaryIO) -> None:
    """The terminal's size now and after every SIGWINCH."""
    changed = asyncio.Event()
    changed.set()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGWINCH, changed.set)
    try:
        while True:
            await changed.wait()
            changed.clear()
            columns, lines = _terminal_size(terminal)
            size = json.dumps({"Width": columns, "Height": lines}).encode()
            await ws.send_bytes(bytes([RESIZE]) + size)
    finally:
        loop.remove_signal_handler(signal.SIGWINCH)


def _terminal_size(terminal: BinaryIO) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(terminal.fileno())
    except OSError:
        size = shutil.get_terminal_size()
    return size.columns, size.lines


@contextlib.contextmanager
def raw_terminal(stream: BinaryIO) -> Iterator[None]:
    """Raw mode on a terminal for the session's length (keys go to the remote shell)."""
    if not os.isatty(stream.fileno()):
        yield
        return
    saved = termios.tcgetattr(stream.fileno())
    ttymode.setraw(stream.fileno())
    try:
        yield
    finally:
        termios.tcsetattr(stream.fileno(), termios.TCSADRAIN, saved)


# -- port forwarding ---------------------------------------------------------------


async def forward_connection(
    url: str, remote_port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> str | None:
    """Carry one local connection to ``remote_port``; the pod side's error, if any."""
    error = b""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{url}?port={remote_port}",
            protocols=(PORT_FORWARD_PROTOCOL,),
            max_msg_size=MAX_MESSAGE,
        ) as ws,
    ):
        seen_prefix = {0: False, 1: False}  # each channel starts with the port (uint16 LE)

        async def upload() -> None:
            while chunk := await reader.read(READ_CHUNK):
                await ws.send_bytes(b"\x00" + chunk)

        uploader = asyncio.create_task(upload())
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                    continue
                channel, payload = message.data[0], message.data[1:]
                if channel in seen_prefix and not seen_prefix[channel]:
                    seen_prefix[channel] = True
                    payload = payload[2:]
                if channel == 0 and payload:
                    writer.write(payload)
                    await writer.drain()
                elif channel == 1:
                    error += payload
        finally:
            uploader.cancel()
            await asyncio.gather(uploader, return_exceptions=True)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    return error.decode(errors="replace") or None


async def serve_port_forward(
    address: str,
    *,
    local_port: int,
    remote_port: int,
    new_url: Callable[[], Awaitable[str]],
    report: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """Listen on ``address:local_port``; each connection gets a fresh URL and WebSocket."""
    sessions: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        report(f"Handling connection for {local_port}")
        try:
            failure = await forward_connection(await new_url(), remote_port, reader, writer)
        except (aiohttp.ClientError, OSError) as exc:
            failure = str(exc)
        if failure:
            print(
                f"error: an error occurred forwarding {local_port} -> {remote_port}: {failure}",
                file=sys.stderr,
            )

    def spawn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(handle(reader, writer))
        sessions.add(task)
        task.add_done_callback(sessions.discard)

    server = await asyncio.start_server(spawn, address, local_port)
    shown = f"[{address}]" if ":" in address else address
    report(f"Forwarding from {shown}:{local_port} -> {remote_port}")
    try:
        await stop.wait()
    finally:
        server.close()
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        await server.wait_closed()
