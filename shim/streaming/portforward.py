"""Port forwarding into a pod's network namespace.

Over SPDY (``portforward.k8s.io``) the client opens, per forwarded
connection, an ``error`` and a ``data`` stream carrying the same ``port``
and ``requestID`` headers; once both are there the shim connects to that
port on the pod's loopback and copies both ways. A failure (say, nothing
listens) is written on that pair's error stream and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shim.streaming import netns
from shim.streaming.remotecommand import Reader, Writer
from shim.streaming.session import SpdySession, SpdyStream

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
STREAM_CREATION_TIMEOUT = 30.0
READ_CHUNK = 256 * 1024

Dialer = Callable[[int], Awaitable[socket.socket]]


def valid_port(text: str) -> int | None:
    if not text.isdigit() or len(text) > 5:
        return None
    port = int(text)
    return port if 0 < port <= 0xFFFF else None


def accept_stream(stream: SpdyStream) -> bool:
    """The kubelet's checks on a new stream: a valid port and a known streamType."""
    return valid_port(stream.header("port")) is not None and stream.header("streamtype") in (
        "error",
        "data",
    )


async def forward(dial: Dialer, port: int, data: Reader, out: Writer, pod: str) -> str | None:
    """Connect and copy until the pod's side ends; the error text on failure.

    As in containerd and cri-dockerd, the connection is done when the pod
    closes it (its answer is complete), whether or not the client still sends.
    """
    try:
        sock = await dial(port)
    except OSError as exc:
        return f"error forwarding port {port} to pod {pod}: {exc}"
    loop = asyncio.get_running_loop()
    try:
        upstream = asyncio.create_task(_client_to_pod(loop, data, sock))
        downstream = asyncio.create_task(_pod_to_client(loop, sock, out))
        try:
            await downstream
        finally:
            upstream.cancel()
            downstream.cancel()
            await asyncio.gather(upstream, downstream, return_exceptions=True)
    finally:
        sock.close()
    return None


async def _client_to_pod(
    loop: asyncio.AbstractEventLoop, data: Reader, sock: socket.socket
) -> None:
    try:
        while chunk := await data.read():
            await loop.sock_sendall(sock, chunk)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
    except OSError:
        return


async def _pod_to_client(loop: asyncio.AbstractEventLoop, sock: socket.socket, out: Writer) -> None:
    try:
        while chunk := await loop.sock_recv(sock, READ_CHUNK):
            await out.write(chunk)
    except OSError:
        pass
    with contextlib.suppress(ConnectionError):
        await out.close()


@dataclass
class _Pair:
    data: SpdyStream | None = None
    error: SpdyStream | None = None
    created: float = field(default=0.0)


async def serve_spdy(session: SpdySession, dial: Dialer, pod: str) -> None:
    """Serve stream pairs until the client closes the session."""
    pairs: dict[str, _Pair] = {}
    workers: set[asyncio.Task[None]] = set()
    try:
        while (stream := await session.incoming.get()) is not None:
            request_id = stream.header("requestid") or _legacy_request_id(stream)
            pair = pairs.setdefault(request_id, _Pair())
            kind = stream.header("streamtype")
            if getattr(pair, kind) is not None:
                await stream.reset()
                continue
            setattr(pair, kind, stream)
            if pair.data is not None and pair.error is not None:
                del pairs[request_id]
                task = asyncio.create_task(_serve_pair(session, pair.data, pair.error, dial, pod))
                workers.add(task)
                task.add_done_callback(workers.discard)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def _legacy_request_id(stream: SpdyStream) -> str:
    # Clients without the requestID header open error then data with consecutive ids.
    offset = 2 if stream.header("streamtype") == "data" else 0
    return str(stream.id - offset)


async def _serve_pair(
    session: SpdySession, data: SpdyStream, error: SpdyStream, dial: Dialer, pod: str
) -> None:
    port = valid_port(data.header("port")) or 0
    try:
        message = await forward(dial, port, data, data, pod)
        if message is not None:
            log.info("port forward: %s", message)
            with contextlib.suppress(ConnectionError):
                await error.write(message.encode())
    finally:
        await data.close()
        await error.close()
        session.forget(data)
        session.forget(error)


def netns_dialer(pid: int | None) -> Dialer:
    async def dial(port: int) -> socket.socket:
        return await netns.connect_loopback(pid, port)

    return dial
