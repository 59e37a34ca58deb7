"""A small SPDY/3.1 streaming client, for tests that need what crictl cannot show:
raw HTTP statuses, several port-forward pairs in one session, abrupt hang-ups.

It reuses the shim's framing module (unit-tested on its own, and checked
against the real Go clients by the crictl and critest tests).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shim.streaming import spdy


@dataclass
class ClientStream:
    stream_id: int
    replied: asyncio.Event = field(default_factory=asyncio.Event)
    data: bytearray = field(default_factory=bytearray)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    reset: bool = False


class UpgradeRefused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


class SpdyClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._encoder = spdy.FrameEncoder()
        self._parser = spdy.FrameParser()
        self._streams: dict[int, ClientStream] = {}
        self._next_id = 1
        self.goaway = asyncio.Event()
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, url: str, protocols: list[str]) -> tuple[SpdyClient, str]:
        """POST with the SPDY upgrade; returns the client and the negotiated protocol."""
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        lines = [
            f"POST {parts.path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Connection: Upgrade",
            "Upgrade: SPDY/3.1",
            "Content-Length: 0",
            *(f"X-Stream-Protocol-Version: {p}" for p in protocols),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        status = int(head.split(" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        if status != 101:
            length = int(headers.get("content-length", "0"))
            body = (await reader.readexactly(length)).decode() if length else ""
            writer.close()
            raise UpgradeRefused(status, body)
        return cls(reader, writer), headers.get("x-stream-protocol-version", "")

    async def open(self, headers: dict[str, str], fin: bool = False) -> ClientStream:
        stream = ClientStream(self._next_id)
        self._next_id += 2
        self._streams[stream.stream_id] = stream
        block = {k.lower(): [v] for k, v in headers.items()}
        flags = spdy.FLAG_FIN if fin else 0
        self._send(spdy.SynStream(stream.stream_id, block, flags=flags))
        async with asyncio.timeout(10):
            await stream.replied.wait()
        return stream

    def write(self, stream: ClientStream, data: bytes, fin: bool = False) -> None:
        self._send(spdy.Data(stream.stream_id, data, spdy.FLAG_FIN if fin else 0))

    async def read_all(self, stream: ClientStream, within: float = 30.0) -> bytes:
        async with asyncio.timeout(within):
            await stream.ended.wait()
        return bytes(stream.data)

    def hang_up(self) -> None:
        """Drop the TCP connection without any goodbye."""
        self._writer.transport.abort()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def wait_closed(self, within: float = 30.0) -> None:
        async with asyncio.timeout(within):
            await asyncio.shield(self._task)

    def _send(self, frame: spdy.Frame) -> None:
        self._writer.write(self._encoder.encode(frame))

    async def _read_loop(self) -> None:
        try:
            while data := await self._reader.read(65536):
                for frame in self._parser.feed(data):
                    self._handle(frame)
        finally:
            for stream in self._streams.values():
                stream.ended.set()

    def _handle(self, frame: spdy.Frame) -> None:
        match frame:
            case spdy.SynReply(stream_id):
                if stream_id in self._streams:
                    self._streams[stream_id].replied.set()
            case spdy.Data(stream_id, data):
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream.data += data
                    if frame.fin:
                        stream.ended.set()
            case spdy.RstStream(stream_id):
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream.reset = True
                    stream.replied.set()
                    stream.ended.set()
            case spdy.GoAway():
                self.goaway.set()
            case _:
                pass
