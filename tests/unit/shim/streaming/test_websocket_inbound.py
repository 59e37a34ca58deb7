"""A WebSocket session's client bytes wait for their reader within a bound."""

from __future__ import annotations

import asyncio

import aiohttp

from shim.streaming.websocket import INBOUND_LIMIT, STDIN, V5, ChannelSocket

CHUNK = 512 * 1024


class FakeWebSocket:
    """Hands out queued client messages, counting how many the session asked for."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self.received = 0
        self.closed = False

    def client_sends(self, data: bytes) -> None:
        self.messages.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.BINARY, data, None))

    def client_closes(self) -> None:
        self.messages.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.CLOSE, None, None))

    async def receive(self) -> aiohttp.WSMessage:
        message = await self.messages.get()
        self.received += 1
        return message


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_unread_stdin_stops_reading_the_socket_until_consumed() -> None:
    ws = FakeWebSocket()
    sock = ChannelSocket(ws, V5, {STDIN})  # type: ignore[arg-type]
    runner = asyncio.create_task(sock.run())
    flood = 4 * INBOUND_LIMIT // CHUNK
    for _ in range(flood):
        ws.client_sends(bytes([STDIN]) + b"x" * CHUNK)
    await settle()
    assert ws.received == INBOUND_LIMIT // CHUNK  # then it waits for the reader
    stdin = sock.reader(STDIN)
    assert len(await stdin.read()) == CHUNK
    await settle()
    assert ws.received == INBOUND_LIMIT // CHUNK + 1
    ws.client_closes()
    read = sum([len(await stdin.read()) for _ in range(flood - 1)])
    assert read == (flood - 1) * CHUNK
    await runner


async def test_bytes_on_a_channel_nobody_reads_are_dropped() -> None:
    ws = FakeWebSocket()
    sock = ChannelSocket(ws, V5, set())  # type: ignore[arg-type]
    runner = asyncio.create_task(sock.run())
    for _ in range(4 * INBOUND_LIMIT // CHUNK):
        ws.client_sends(bytes([STDIN]) + b"x" * CHUNK)
    ws.client_closes()
    await runner  # every message was read (and dropped): nothing waits
    assert ws.received == 4 * INBOUND_LIMIT // CHUNK + 1
