"""The WebSocket channel protocols of Kubernetes' streaming server (aiohttp).

Every message starts with its channel: exec/attach use 0 stdin, 1 stdout,
2 stderr, 3 error, 4 resize; port forwarding uses, per requested port,
2n data and 2n+1 error, each starting with the port as little-endian
uint16. ``base64.`` variants send text: the channel as an ASCII digit, then
base64. ``v5.channel.k8s.io`` adds the close signal: ``[255, channel]``
from the client half-closes a channel (how it ends stdin).

Port forwarding also accepts ``SPDY/3.1+portforward.k8s.io``: SPDY frames
tunnelled in binary messages, what client-go's WebSocket port-forward dialer
(``crictl port-forward --transport websocket``) speaks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import struct
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from shim.streaming import remotecommand
from shim.streaming.portforward import Dialer, forward

log = logging.getLogger(__name__)

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
EXEC_PROTOCOLS = (V5, V4, V4_BASE64, V1, V1_BASE64)
PORT_FORWARD_PROTOCOLS = (V4, V4_BASE64, V1)

STDIN, STDOUT, STDERR, ERROR, RESIZE = range(5)
CLOSE_SIGNAL = 255
MAX_MESSAGE = 1024 * 1024
# Client bytes (stdin, port-forward data) waiting for their reader; past this the
# socket is not read until a reader catches up (aiohttp then pauses the transport).
INBOUND_LIMIT = 4 * 1024 * 1024


_ENDED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def offered(request: web.Request) -> list[str]:
    return [
        p.strip()
        for value in request.headers.getall("Sec-WebSocket-Protocol", [])
        for p in value.split(",")
        if p.strip()
    ]


class ChannelSocket:
    """Channel multiplexing over one WebSocket: readers per channel, framed writes."""

    def __init__(self, ws: web.WebSocketResponse, protocol: str, readable: set[int]) -> None:
        self.ws = ws
        self.text = "base64" in protocol
        self.closable = protocol == V5
        self._inbound: dict[int, asyncio.Queue[bytes]] = {c: asyncio.Queue() for c in readable}
        self._buffered = 0
        self._room = asyncio.Event()
        self._room.set()
        self.gone = asyncio.Event()
        self._lock = asyncio.Lock()
        self.last_activity = asyncio.get_running_loop().time()

    async def send(self, channel: int, data: bytes) -> None:
        if self.ws.closed:
            raise ConnectionResetError("websocket closed")
        self.last_activity = asyncio.get_running_loop().time()
        async with self._lock:
            if self.text:
                await self.ws.send_str(str(channel) + base64.b64encode(data).decode())
            else:
                await self.ws.send_bytes(bytes([channel]) + data)

    def reader(self, channel: int) -> _ChannelReader:
        return _ChannelReader(self._inbound[channel], self._consumed)

    def writer(self, channel: int) -> _ChannelWriter:
        return _ChannelWriter(self, channel)

    async def run(self) -> None:
        """Dispatch the client's messages until it closes; then every reader sees EOF."""
        try:
            while True:
                await self._room.wait()
                message = await self.ws.receive()
                if message.type in _ENDED:
                    break
                self.last_activity = asyncio.get_running_loop().time()
                if message.type == aiohttp.WSMsgType.BINARY:
                    self._dispatch(message.data)
                elif message.type == aiohttp.WSMsgType.TEXT:
                    self._dispatch_text(message.data)
        finally:
            self.gone.set()
            for queue in self._inbound.values():
                queue.put_nowait(b"")

    def _dispatch_text(self, text: str) -> None:
        if not text or not text[0].isdigit():
            return
        try:
            self._dispatch(bytes([int(text[0])]) + base64.b64decode(text[1:], validate=True))
        except (binascii.Error, ValueError):
            log.info("ignoring a malformed base64 message")

    def _dispatch(self, data: bytes) -> None:
        if not data:
            return
        channel, payload = data[0], data[1:]
        if channel == CLOSE_SIGNAL and self.closable and payload:
            queue = self._inbound.get(payload[0])
            if queue is not None:
                queue.put_nowait(b"")
            return
        queue = self._inbound.get(channel)
        if queue is not None and payload:
            queue.put_nowait(payload)
            self._buffered += len(payload)
            if self._buffered >= INBOUND_LIMIT:
                self._room.clear()

    def _consumed(self, size: int) -> None:
        self._buffered -= size
        if self._buffered < INBOUND_LIMIT:
            self._room.set()

    async def close_when_idle(self, idle_seconds: float) -> None:
        """Close the WebSocket once nothing moved either way for ``idle_seconds``."""
        loop = asyncio.get_running_loop()
        while not self.ws.closed:
            remaining = self.last_activity + idle_seconds - loop.time()
            if remaining <= 0:
                log.info("closing a WebSocket session idle for %.0f s", idle_seconds)
                await self.ws.close()
                return
            await asyncio.sleep(min(remaining, 60.0))


class _ChannelReader:
    def __init__(self, queue: asyncio.Queue[bytes], consumed: Callable[[int], None]) -> None:
        self._queue = queue
        self._consumed = consumed
        self._ended = False

    async def read(self) -> bytes:
        if self._ended:
            return b""
        data = await self._queue.get()
        self._ended = not data
        self._consumed(len(data))
        return data


class _ChannelWriter:
    def __init__(self, sock: ChannelSocket, channel: int) -> None:
        self._sock = sock
        self._channel = channel

    async def write(self, data: bytes) -> None:
        for start in range(0, len(data), MAX_MESSAGE):
            await self._sock.send(self._channel, data[start : start + MAX_MESSAGE])

    async def close(self) -> None:
        # The server's side of a channel ends with the connection: client-go's
        # readers know no close signal (255) from the server.
        return


async def open_exec(
    request: web.Request, stdin: bool, stdout: bool, stderr: bool, tty: bool
) -> tuple[web.WebSocketResponse, ChannelSocket, remotecommand.RemoteContext]:
    ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    protocol = ws.ws_protocol or V1
    # Only channels someone reads: bytes sent on another are dropped, not kept.
    readable = ({STDIN} if stdin else set()) | ({RESIZE} if tty else set())
    sock = ChannelSocket(ws, protocol, readable)
    # The kubelet's "connection established" signal: an empty message on the lowest output.
    await sock.send(STDOUT if stdout else STDERR if stderr else ERROR, b"")
    v4 = protocol in (V5, V4, V4_BASE64)

    async def write_status(status: remotecommand.Status) -> None:
        payload = remotecommand.encode_status(status, v4)
        if payload:
            with contextlib.suppress(ConnectionError):
                await sock.send(ERROR, payload)

    ctx = remotecommand.RemoteContext(
        stdin=sock.reader(STDIN) if stdin else None,
        stdout=sock.writer(STDOUT) if stdout else None,
        stderr=sock.writer(STDERR) if stderr and not tty else None,
        resize=sock.reader(RESIZE) if tty else None,
        write_status=write_status,
        gone=sock.gone,
    )
    return ws, sock, ctx


def wants_spdy_tunnel(request: web.Request) -> bool:
    return SPDY_TUNNEL in offered(request)


class TunnelConnection:
    """SPDY bytes carried in WebSocket binary messages (the ``session.Connection`` protocol)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._pending: set[asyncio.Future[Any]] = set()

    async def read(self) -> bytes:
        while True:
            message = await self._ws.receive()
            if message.type == aiohttp.WSMsgType.BINARY:
                if message.data:
                    return bytes(message.data)
            elif message.type in _ENDED:
                return b""

    def write(self, data: bytes) -> None:
        if self._ws.closed:
            raise ConnectionResetError("websocket closed")
        task = asyncio.ensure_future(self._ws.send_bytes(data))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        if self._ws.closed:
            raise ConnectionResetError("websocket closed")

    def close(self) -> None:
        if not self._ws.closed:
            task = asyncio.ensure_future(self._ws.close())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)


async def open_spdy_tunnel(request: web.Request) -> tuple[web.WebSocketResponse, TunnelConnection]:
    ws = web.WebSocketResponse(protocols=(SPDY_TUNNEL,), max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    return ws, TunnelConnection(ws)


def port_forward_ports(request: web.Request) -> list[int] | None:
    ports: list[int] = []
    for value in request.query.getall("port", []):
        for text in value.split(","):
            if not text.isdigit() or not 0 < int(text) <= 0xFFFF:
                return None
            ports.append(int(text))
    return ports or None


async def serve_port_forward(
    request: web.Request, ports: list[int], dial: Dialer, pod: str, idle_seconds: float
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=PORT_FORWARD_PROTOCOLS, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    sock = ChannelSocket(ws, ws.ws_protocol or V1, {2 * i for i in range(len(ports))})
    for index, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        await sock.send(2 * index, prefix)
        await sock.send(2 * index + 1, prefix)
    reader = asyncio.create_task(sock.run())
    watchdog = asyncio.create_task(sock.close_when_idle(idle_seconds))

    async def one(index: int, port: int) -> None:
        message = await forward(dial, port, sock.reader(2 * index), sock.writer(2 * index), pod)
        if message is not None:
            with contextlib.suppress(ConnectionError):
                await sock.send(2 * index + 1, message.encode())

    try:
        await asyncio.gather(*(one(i, p) for i, p in enumerate(ports)))
    finally:
        await ws.close()
        reader.cancel()
        watchdog.cancel()
        await asyncio.gather(reader, watchdog, return_exceptions=True)
    return ws
