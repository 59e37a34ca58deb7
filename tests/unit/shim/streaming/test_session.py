"""The server side of a SPDY session, against an in-memory connection."""

from __future__ import annotations

import asyncio

from shim.streaming import spdy
from shim.streaming.session import INBOUND_LIMIT, SpdySession


class MemoryConnection:
    """What the client wrote, and what the server wrote back, parsed."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[bytes] = asyncio.Queue()
        self.client = spdy.FrameEncoder()
        self.parser = spdy.FrameParser()
        self.written: list[spdy.Frame] = []
        self.closed = False
        self.reads = 0

    def send(self, *frames: spdy.Frame) -> None:
        for frame in frames:
            self.inbound.put_nowait(self.client.encode(frame))

    def hang_up(self) -> None:
        self.inbound.put_nowait(b"")

    async def read(self) -> bytes:
        self.reads += 1
        return await self.inbound.get()

    def write(self, data: bytes) -> None:
        self.written += self.parser.feed(data)

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def syn(stream_id: int, kind: str, flags: int = 0) -> spdy.SynStream:
    return spdy.SynStream(stream_id, {"streamtype": [kind]}, flags=flags)


async def test_streams_are_replied_to_and_handed_out():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    conn.send(syn(1, "error"), syn(3, "stdout"))
    first, second = await session.incoming.get(), await session.incoming.get()
    assert first is not None
    assert second is not None
    assert (first.id, first.header("streamType")) == (1, "error")
    assert (second.id, second.header("streamtype")) == (3, "stdout")
    assert conn.written == [spdy.SynReply(1), spdy.SynReply(3)]
    conn.hang_up()
    await runner
    assert conn.closed


async def test_data_then_fin_reads_then_eof():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    conn.send(syn(1, "stdin"), spdy.Data(1, b"ab"), spdy.Data(1, b"c", spdy.FLAG_FIN))
    stream = await session.incoming.get()
    assert stream is not None
    assert await stream.read() == b"ab"
    assert await stream.read() == b"c"
    assert await stream.read() == b""
    assert await stream.read() == b""
    conn.hang_up()
    await runner


async def test_writes_are_data_frames_and_close_sends_fin_once():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    conn.send(syn(1, "stdout"))
    stream = await session.incoming.get()
    assert stream is not None
    await stream.write(b"out")
    await stream.close()
    await stream.close()
    assert conn.written[1:] == [spdy.Data(1, b"out"), spdy.Data(1, b"", spdy.FLAG_FIN)]
    conn.hang_up()
    await runner


async def test_client_pings_are_echoed_and_even_ones_are_not():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    conn.send(spdy.Ping(5), spdy.Ping(6))
    await settle()
    assert conn.written == [spdy.Ping(5)]
    conn.hang_up()
    await runner


async def test_bad_stream_ids_are_reset():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    conn.send(syn(2, "stdin"), syn(5, "stdin"), syn(3, "stdin"))
    await settle()
    assert conn.written == [
        spdy.RstStream(2, spdy.RstStatus.PROTOCOL_ERROR),
        spdy.SynReply(5),
        spdy.RstStream(3, spdy.RstStatus.PROTOCOL_ERROR),
    ]
    conn.hang_up()
    await runner


async def test_refused_streams_and_the_stream_bound():
    conn = MemoryConnection()
    session = SpdySession(conn, accept=lambda s: s.header("streamtype") != "bad", max_streams=1)
    runner = asyncio.create_task(session.run())
    conn.send(syn(1, "bad"), syn(3, "ok"), syn(5, "ok"))
    await settle()
    assert conn.written == [
        spdy.RstStream(1, spdy.RstStatus.REFUSED_STREAM),
        spdy.SynReply(3),
        spdy.RstStream(5, spdy.RstStatus.REFUSED_STREAM),
    ]
    conn.hang_up()
    await runner


async def test_half_closed_streams_count_against_the_bound_until_forgotten():
    # Streams opened with FIN are half-closed at once; they still hold their
    # headers and a place in ``incoming``, so a flood of them is refused.
    conn = MemoryConnection()
    session = SpdySession(conn, max_streams=2)
    runner = asyncio.create_task(session.run())
    conn.send(*(syn(i, "error", spdy.FLAG_FIN) for i in (1, 3, 5)))
    await settle()
    assert conn.written == [
        spdy.SynReply(1),
        spdy.SynReply(3),
        spdy.RstStream(5, spdy.RstStatus.REFUSED_STREAM),
    ]
    first = await session.incoming.get()
    assert first is not None
    session.forget(first)
    conn.send(syn(7, "error", spdy.FLAG_FIN))
    await settle()
    assert conn.written[-1] == spdy.SynReply(7)
    conn.hang_up()
    await runner


async def test_a_protocol_error_ends_the_session_with_goaway():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    conn.send(syn(1, "stdin"))
    stream = await session.incoming.get()
    assert stream is not None
    conn.inbound.put_nowait(bytes.fromhex("800200060000000400000001"))
    await runner
    assert conn.written[-1] == spdy.GoAway(1, spdy.GoAwayStatus.PROTOCOL_ERROR)
    assert await stream.read() == b""
    assert await session.incoming.get() is None
    assert conn.closed


async def test_reset_by_the_client_ends_the_stream():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    conn.send(syn(1, "stdin"), spdy.RstStream(1, spdy.RstStatus.CANCEL))
    stream = await session.incoming.get()
    assert stream is not None
    assert await stream.read() == b""
    assert stream.was_reset
    conn.hang_up()
    await runner


async def test_unread_input_stops_reading_the_socket_until_consumed():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    chunk = b"x" * (INBOUND_LIMIT // 4)
    conn.send(syn(1, "stdin"), *[spdy.Data(1, chunk) for _ in range(6)])
    stream = await session.incoming.get()
    assert stream is not None
    await settle()
    reads_while_full = conn.reads
    await settle()
    assert conn.reads == reads_while_full  # paused: nothing more is read
    assert await stream.read() == chunk
    await settle()
    assert conn.reads > reads_while_full
    for _ in range(5):
        assert await stream.read() == chunk
    conn.hang_up()
    await runner


async def test_close_sends_goaway_and_ends_readers():
    conn = MemoryConnection()
    session = SpdySession(conn)
    runner = asyncio.create_task(session.run())
    conn.send(syn(1, "stdin"))
    stream = await session.incoming.get()
    assert stream is not None
    await session.close()
    assert conn.written[-1] == spdy.GoAway(1)
    assert await stream.read() == b""
    assert session.done.is_set()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
