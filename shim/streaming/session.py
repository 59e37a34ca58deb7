"""A SPDY/3.1 session on an upgraded connection, server side.

The client opens every stream (SYN_STREAM, odd ids); the session answers
each with SYN_REPLY and hands it out through :attr:`SpdySession.incoming`.
Streams are half-closed with an empty DATA frame carrying FIN. PINGs from
the client are echoed. Flow control is not enforced in either direction,
as spdystream (the Go side) neither sends nor honours WINDOW_UPDATE.

Inbound data is bounded: once :data:`INBOUND_LIMIT` bytes wait unread across
the session's streams, the session stops reading the socket until a stream
consumer catches up, so a client cannot make the shim buffer without limit.
So are streams: a session holds at most ``max_streams`` of them, half-closed
ones included, until their consumer forgets them; a client opening streams
with FIN (each holding up to 64 KiB of headers) gets REFUSED_STREAM past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from shim.streaming import spdy

log = logging.getLogger(__name__)

INBOUND_LIMIT = 4 * 1024 * 1024
# Payload per DATA frame the shim sends (spdystream itself sends 32 KiB frames).
MAX_DATA_CHUNK = 256 * 1024
MAX_STREAMS = 256


class Connection(Protocol):
    """The raw, upgraded byte stream a session runs on."""

    async def read(self) -> bytes:
        """Next bytes from the peer; b"" at end of stream."""
        ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class SpdyStream:
    """One client-opened stream: read what the client sends, write back, half-close."""

    def __init__(self, session: SpdySession, stream_id: int, headers: spdy.Headers) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_closed = False
        self.local_closed = False
        self.was_reset = False

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    async def read(self) -> bytes:
        """Next chunk from the client; b"" once it half-closed or reset the stream."""
        if self.remote_closed and self._chunks.empty():
            return b""
        chunk = await self._chunks.get()
        self.session._consumed(len(chunk))
        return chunk

    async def write(self, data: bytes) -> None:
        if self.local_closed or self.was_reset:
            raise ConnectionResetError(f"stream {self.id} is closed")
        if data:
            await self.session.send_data(self.id, data)

    async def close(self) -> None:
        """Half-close: the client reads EOF after what was written."""
        if self.local_closed or self.was_reset or self.session.closed:
            self.local_closed = True
            return
        self.local_closed = True
        with contextlib.suppress(ConnectionError):
            await self.session.send(spdy.Data(self.id, b"", spdy.FLAG_FIN))

    async def reset(self, status: int = spdy.RstStatus.CANCEL) -> None:
        if not self.was_reset and not self.session.closed:
            self.was_reset = True
            with contextlib.suppress(ConnectionError):
                await self.session.send(spdy.RstStream(self.id, status))
        self._finish_remote()

    def _feed(self, data: bytes) -> None:
        if data and not self.remote_closed:
            self._chunks.put_nowait(data)
            self.session._buffered += len(data)

    def _finish_remote(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._chunks.put_nowait(b"")


class SpdySession:
    def __init__(
        self,
        conn: Connection,
        *,
        accept: Callable[[SpdyStream], bool] | None = None,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        self._conn = conn
        self._encoder = spdy.FrameEncoder()
        self._parser = spdy.FrameParser()
        self._accept = accept
        self._max_streams = max_streams
        self._streams: dict[int, SpdyStream] = {}
        self._last_id = 0
        self._buffered = 0
        self._room = asyncio.Event()
        self._room.set()
        self.incoming: asyncio.Queue[SpdyStream | None] = asyncio.Queue()
        self.closed = False
        self.done = asyncio.Event()

    async def send(self, frame: spdy.Frame) -> None:
        if self.closed:
            raise ConnectionResetError("SPDY session closed")
        # Encoding and the write happen without a suspension point in between,
        # so frames (and the header compression context) never interleave.
        self._conn.write(self._encoder.encode(frame))
        await self._conn.drain()

    async def send_data(self, stream_id: int, data: bytes) -> None:
        """DATA frames straight to the connection: the output path's hot loop."""
        if self.closed:
            raise ConnectionResetError("SPDY session closed")
        self._conn.write(spdy.encode_data(stream_id, data, MAX_DATA_CHUNK))
        await self._conn.drain()

    async def run(self) -> None:
        """Read and dispatch frames until the client goes away; then end every stream."""
        try:
            while not self.closed:
                await self._room.wait()
                data = await self._conn.read()
                if not data:
                    break
                for frame in self._parser.feed(data):
                    await self._dispatch(frame)
        except spdy.ProtocolError as exc:
            log.info("SPDY protocol error from client: %s", exc)
            with contextlib.suppress(ConnectionError):
                await self.send(spdy.GoAway(self._last_id, spdy.GoAwayStatus.PROTOCOL_ERROR))
        except ConnectionError:
            pass
        finally:
            self._end()

    async def close(self) -> None:
        """GOAWAY, then drop the connection; every stream reads EOF."""
        if not self.closed:
            with contextlib.suppress(ConnectionError):
                await self.send(spdy.GoAway(self._last_id))
        self._end()

    def _end(self) -> None:
        if self.closed and self.done.is_set():
            return
        self.closed = True
        for stream in self._streams.values():
            stream._finish_remote()
        self.incoming.put_nowait(None)
        self._room.set()
        self._conn.close()
        self.done.set()

    def _consumed(self, size: int) -> None:
        self._buffered -= size
        if self._buffered < INBOUND_LIMIT:
            self._room.set()

    async def _dispatch(self, frame: spdy.Frame) -> None:
        match frame:
            case spdy.Data(stream_id, data, _):
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream._feed(data)
                    if frame.fin:
                        stream._finish_remote()
                if self._buffered >= INBOUND_LIMIT:
                    self._room.clear()
            case spdy.SynStream():
                await self._open(frame)
            case spdy.RstStream(stream_id, _):
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream.was_reset = True
                    stream._finish_remote()
            case spdy.Ping(ping_id) if ping_id % 2 == 1:
                await self.send(frame)
            case spdy.GoAway():
                self.closed = True
            case _:
                pass  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do

    async def _open(self, frame: spdy.SynStream) -> None:
        stream_id = frame.stream_id
        if stream_id % 2 == 0 or stream_id <= self._last_id:
            await self.send(spdy.RstStream(stream_id, spdy.RstStatus.PROTOCOL_ERROR))
            return
        self._last_id = stream_id
        stream = SpdyStream(self, stream_id, frame.headers)
        # Every stream held counts, half-closed or not: each keeps its headers
        # and a place in ``incoming`` until its consumer forgets it.
        if len(self._streams) >= self._max_streams:
            await self.send(spdy.RstStream(stream_id, spdy.RstStatus.REFUSED_STREAM))
            return
        if self._accept is not None and not self._accept(stream):
            await self.send(spdy.RstStream(stream_id, spdy.RstStatus.REFUSED_STREAM))
            return
        self._streams[stream_id] = stream
        if frame.flags & spdy.FLAG_FIN:
            stream._finish_remote()
        await self.send(spdy.SynReply(stream_id))
        self.incoming.put_nowait(stream)

    def forget(self, stream: SpdyStream) -> None:
        """Drop a finished stream so that long port-forward sessions do not accumulate them."""
        self._streams.pop(stream.id, None)
