"""Take over an aiohttp request's connection after ``101 Switching Protocols``.

aiohttp upgrades natively only to WebSocket; for SPDY the handler installs
its own payload parser on the connection before answering 101 (the client
sends no frame before it reads the 101), as aiohttp's WebSocket response
does for its reader. Bytes then flow into an ``asyncio.StreamReader`` that
pauses the socket when its buffer is full.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

READ_CHUNK = 256 * 1024
READ_LIMIT = 1024 * 1024


class _Feeder:
    """The payload parser aiohttp feeds an upgraded connection's bytes to."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def set_exception(self, exc: BaseException, exc_cause: BaseException | None = None) -> None:
        self._reader.set_exception(exc if isinstance(exc, Exception) else ConnectionError(exc))


class UpgradedConnection:
    """Raw bytes both ways on a request's socket (the ``session.Connection`` protocol)."""

    def __init__(self, request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("client went away before the upgrade")
        self._transport = transport
        self._protocol = request.protocol
        self._reader = asyncio.StreamReader(limit=READ_LIMIT)
        self._reader.set_transport(transport)  # lets the reader pause the socket
        request.protocol.set_parser(_Feeder(self._reader))  # type: ignore[arg-type]

    async def read(self) -> bytes:
        return await self._reader.read(READ_CHUNK)

    def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("connection closed")
        self._transport.write(data)

    async def drain(self) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("connection closed")
        await self._protocol._drain_helper()

    def close(self) -> None:
        self._transport.close()
