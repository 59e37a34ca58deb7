"""The hijacked connection's output queue: demultiplexing, batches, flow control, lingering."""

from __future__ import annotations

import asyncio
import struct

import pytest

from shim.engine import docker
from shim.engine.docker import _OutputQueue


class FakeProtocol:
    """What the queue uses of aiohttp's protocol: the reading-paused flag and its switches."""

    def __init__(self) -> None:
        self._reading_paused = False
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self._reading_paused = True
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self._reading_paused = False
        self.calls.append("resume")


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


async def test_same_stream_output_is_joined_up_to_the_batch_and_split_at_a_stream_change() -> None:
    queue = _OutputQueue(FakeProtocol(), tty=False, limit=1 << 20)
    queue.feed_data(frame(1, b"ab") + frame(1, b"cd") + frame(2, b"err") + frame(1, b"x" * 10))
    queue.feed_data(frame(1, b"y" * 10))
    queue.feed_eof()
    assert await queue.read(1024) == (1, b"abcd")
    assert await queue.read(1024) == (2, b"err")
    assert await queue.read(5) == (1, b"x" * 10)  # whole slices, at least one
    assert await queue.read(1024) == (1, b"y" * 10)
    assert await queue.read(1024) is None


async def test_reading_pauses_over_the_limit_and_resumes_once_read() -> None:
    protocol = FakeProtocol()
    queue = _OutputQueue(protocol, tty=True, limit=100)
    queue.feed_data(b"a" * 60)
    assert protocol.calls == []
    queue.feed_data(b"b" * 60)
    assert protocol.calls == ["pause"]
    assert await queue.read(1000) == (1, b"a" * 60 + b"b" * 60)
    assert protocol.calls == ["pause", "resume"]


async def test_a_reader_waits_for_output_and_sees_a_failure_after_what_came_before() -> None:
    queue = _OutputQueue(FakeProtocol(), tty=True, limit=100)
    pending = asyncio.create_task(queue.read(100))
    await asyncio.sleep(0)
    assert not pending.done()
    queue.feed_data(b"late")
    assert await pending == (1, b"late")
    queue.feed_data(b"last")
    queue.set_exception(ConnectionResetError("gone"))
    assert await queue.read(100) == (1, b"last")
    with pytest.raises(ConnectionResetError):
        await queue.read(100)


async def test_flowing_output_lingers_with_the_socket_paused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(docker, "HIJACK_FLOWING", 3600.0)  # every read counts as flowing
    monkeypatch.setattr(docker, "HIJACK_LINGER", 0.0)
    protocol = FakeProtocol()
    queue = _OutputQueue(protocol, tty=True, limit=1 << 20)
    queue.feed_data(b"first")
    assert await queue.read(1024) == (1, b"first")
    assert protocol.calls == []  # output after a pause goes on at once
    queue.feed_data(b"second")
    assert await queue.read(1024) == (1, b"second")
    assert protocol.calls == ["pause", "resume"]
    queue.feed_data(b"z" * docker.HIJACK_COALESCE)
    assert await queue.read(1 << 20) == (1, b"z" * docker.HIJACK_COALESCE)
    assert protocol.calls == ["pause", "resume"]  # a full batch does not wait
