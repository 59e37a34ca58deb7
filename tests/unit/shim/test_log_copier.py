"""The log copier's ordering and reopen rules, with a fake log stream in place of dockerd.

(The real dockerd path, restarts included, is in tests/integration/shim/test_logs.py.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shim.deadline import deadline_for, rpc_deadline
from shim.engine.dockerapi import LogFrame
from shim.errors import FailedPrecondition
from shim.logs.copier import Copier, LogFile, LogManager, _Reopen
from shim.logs.resume import LogLine
from shim.translate.convert import docker_time_ns

STAMP = "2026-01-01T00:00:00.{:09d}Z"


class FakeStream:
    """dockerd's log of one container: the test pushes frames and ends the container.

    ``lost_at_end`` frames are what a follow stream misses when it ends with
    the container (dockerd's race with output that has no newline); a
    non-follow read returns every stored frame.
    """

    def __init__(self, lost_at_end: int = 0) -> None:
        self.stored: list[LogFrame] = []
        self.ended = False
        self.lost_at_end = lost_at_end
        self._changed = asyncio.Event()
        # Set when a follower waits for more: every stored frame is in the copier's queue.
        self.idle = asyncio.Event()
        self.deadlines_seen: list[float | None] = []

    def push(self, text: str) -> None:
        stamp = STAMP.format(len(self.stored) + 1)
        self.stored.append(LogFrame("stdout", stamp, text.encode(), False))
        self._changed.set()

    def end(self) -> None:
        self.ended = True
        self._changed.set()

    async def log_frames(
        self, container_id: str, *, since: str | None, follow: bool, **_: Any
    ) -> AsyncIterator[LogFrame]:
        self.deadlines_seen.append(deadline_for(None))
        since_ns = _since_ns(since)
        index = 0
        while True:
            visible = len(self.stored) - (self.lost_at_end if follow and self.ended else 0)
            if index < visible:
                frame = self.stored[index]
                index += 1
                if docker_time_ns(frame.timestamp) >= since_ns:
                    yield frame
                continue
            if self.ended or not follow:
                return
            self._changed.clear()
            self.idle.set()
            await self._changed.wait()
            self.idle.clear()

    async def drained(self) -> None:
        await self.idle.wait()

    async def inspect_container(self, container_id: str) -> dict[str, Any]:
        return {"State": {"Running": not self.ended}}


def _since_ns(since: str | None) -> int:
    if since is None:
        return 0
    seconds, _, nanos = since.partition(".")
    return int(seconds) * 1_000_000_000 + int(nanos or 0)


def texts(path: Path) -> list[str]:
    return [line.split(" ", 3)[3] for line in path.read_text().splitlines()]


async def test_lines_after_a_reopen_go_to_the_new_file(tmp_path: Path) -> None:
    stream = FakeStream()
    path = tmp_path / "app" / "0.log"
    copier = Copier(stream, "c1", LogFile(str(tmp_path), "app/0.log"), tty=False, follow=True)  # type: ignore[arg-type]
    task = asyncio.create_task(copier.run())
    stream.push("before")
    await stream.drained()
    # As the kubelet rotates: rename the file, then ask for a new one.
    rotated = tmp_path / "app" / "0.log.1"
    path.rename(rotated)
    await copier.reopen()
    stream.push("after")
    stream.end()
    await task
    assert texts(rotated) == ["before"]
    assert texts(path) == ["after"]


async def test_a_reopen_queued_behind_the_end_of_output_fails_instead_of_hanging(
    tmp_path: Path,
) -> None:
    file = LogFile(str(tmp_path), "0.log")
    copier = Copier(FakeStream(), "c1", file, tty=False, follow=True)  # type: ignore[arg-type]
    file.open()
    late: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    for item in (LogLine(STAMP.format(1), "stdout", False, b"last"), None, _Reopen(late)):
        copier._queue.put_nowait(item)
    await copier._write()
    file.close()
    assert isinstance(late.exception(), FailedPrecondition)
    assert texts(tmp_path / "0.log") == ["last"]


async def _run_to_end(copier: Copier) -> None:
    # A bound that only a hang can reach: the verdict is "ended" or "hung".
    async with asyncio.timeout(30):
        await copier.run()


async def test_output_the_follow_stream_missed_at_exit_is_copied_once(tmp_path: Path) -> None:
    """``printf last``: dockerd's follow stream can end before its last message."""
    stream = FakeStream(lost_at_end=1)
    file = LogFile(str(tmp_path), "0.log")
    copier = Copier(stream, "c1", file, tty=False, follow=True)  # type: ignore[arg-type]
    task = asyncio.create_task(_run_to_end(copier))
    for text in ("first", "second"):
        stream.push(text)
    await stream.drained()
    stream.push("last")
    stream.end()
    await task
    assert texts(tmp_path / "0.log") == ["first", "second", "last"]


async def test_a_copier_does_not_inherit_the_deadline_of_the_rpc_that_started_it(
    tmp_path: Path,
) -> None:
    stream = FakeStream()
    manager = LogManager(stream)  # type: ignore[arg-type]
    with rpc_deadline(0.001):
        file = await manager.open(str(tmp_path), "app/0.log")
        manager.follow("c1", file, tty=False)
    stream.push("hello")
    await stream.drained()
    stream.end()
    await manager.close()
    assert stream.deadlines_seen
    assert set(stream.deadlines_seen) == {None}


async def test_the_log_file_exists_once_open_returns(tmp_path: Path) -> None:
    manager = LogManager(FakeStream())  # type: ignore[arg-type]
    file = await manager.open(str(tmp_path), "app/0.log")
    assert (tmp_path / "app" / "0.log").is_file()
    file.close()


async def test_a_copier_whose_writer_fails_with_a_full_queue_ends_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shim.logs.copier.QUEUE_LINES", 2)
    stream = FakeStream()
    for index in range(20):
        stream.push(f"line {index}")
    file = LogFile(str(tmp_path), "0.log")

    def broken_write(lines: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file, "write", broken_write)
    copier = Copier(stream, "c1", file, tty=False, follow=True)  # type: ignore[arg-type]
    await _run_to_end(copier)
    assert "No space left on device" in caplog.text
    assert not file.is_open


async def test_forgetting_a_copier_blocked_on_a_full_queue_ends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shim.logs.copier.QUEUE_LINES", 2)
    stream = FakeStream()
    for index in range(20):
        stream.push(f"line {index}")
    manager = LogManager(stream)  # type: ignore[arg-type]
    file = await manager.open(str(tmp_path), "0.log")
    stuck = threading.Event()

    def slow_write(lines: object) -> None:
        stuck.wait(5)

    monkeypatch.setattr(file, "write", slow_write)
    manager.follow("c1", file, tty=False)
    await asyncio.sleep(0)
    async with asyncio.timeout(30):
        await manager.forget("c1")
    stuck.set()


async def test_an_exit_is_settled_once_its_last_output_is_in_the_file(tmp_path: Path) -> None:
    stream = FakeStream()
    manager = LogManager(stream)  # type: ignore[arg-type]
    manager.follow("c1", await manager.open(str(tmp_path), "0.log"), tty=False)
    stream.push("first")
    await stream.drained()
    stream.push("last")
    stream.end()
    await manager.settled("c1", within=30)
    assert texts(tmp_path / "0.log") == ["first", "last"]
    await manager.close()


async def test_settling_gives_up_after_its_bound_and_leaves_the_copier_running(
    tmp_path: Path,
) -> None:
    stream = FakeStream()
    manager = LogManager(stream)  # type: ignore[arg-type]
    manager.follow("c1", await manager.open(str(tmp_path), "0.log"), tty=False)
    await manager.settled("c1", within=0.01)  # the container still runs: nothing to wait for
    stream.push("later")
    await stream.drained()
    stream.end()
    await manager.settled("c1", within=30)
    assert texts(tmp_path / "0.log") == ["later"]
    await manager.close()


# -- resuming after a restart of the shim --------------------------------------------------


def _written_by_a_previous_shim(path: Path, stream: FakeStream, count: int) -> None:
    """The first ``count`` stored frames, as the copier of a killed shim left them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for frame in stream.stored[:count]:
            out.write(LogLine(frame.timestamp, frame.stream, frame.partial, frame.text).encode())


@pytest.mark.parametrize("lost_at_end", [0, 1])
async def test_a_resumed_copy_ending_soon_after_the_restart_writes_each_line_once(
    tmp_path: Path, lost_at_end: int
) -> None:
    """The container exits within the resume window of the restart (issue #8).

    After a follow ends, the copier reads once more from a resume point of its
    own: the lines the previous shim wrote are in that window too.
    """
    stream = FakeStream(lost_at_end=lost_at_end)
    for n in range(10):
        stream.push(f"line-{n}")
    _written_by_a_previous_shim(tmp_path / "0.log", stream, 6)
    copier = Copier(stream, "c1", LogFile(str(tmp_path), "0.log"), tty=False, follow=True)  # type: ignore[arg-type]
    task = asyncio.create_task(_run_to_end(copier))
    await stream.drained()
    stream.push("line-10")
    stream.end()
    await task
    assert texts(tmp_path / "0.log") == [f"line-{n}" for n in range(11)]


async def test_a_resumed_copy_that_re_attaches_writes_each_line_once(tmp_path: Path) -> None:
    """dockerd drops the follow stream of a running container right after the restart."""
    stream = FakeStream()
    for n in range(5):
        stream.push(f"line-{n}")
    _written_by_a_previous_shim(tmp_path / "0.log", stream, 3)
    dropped = DroppingStream(stream)
    copier = Copier(dropped, "c1", LogFile(str(tmp_path), "0.log"), tty=False, follow=True)  # type: ignore[arg-type]
    task = asyncio.create_task(_run_to_end(copier))
    await stream.drained()
    stream.push("line-5")
    stream.end()
    await task
    assert dropped.follows >= 2
    assert texts(tmp_path / "0.log") == [f"line-{n}" for n in range(6)]


class DroppingStream:
    """dockerd ending the first follow stream once it has sent what is stored."""

    def __init__(self, inner: FakeStream) -> None:
        self.inner = inner
        self.follows = 0

    async def log_frames(
        self, container_id: str, *, since: str | None, follow: bool, **kw: Any
    ) -> AsyncIterator[LogFrame]:
        self.follows += follow
        first = follow and self.follows == 1
        async for frame in self.inner.log_frames(container_id, since=since, follow=not first, **kw):
            yield frame

    async def inspect_container(self, container_id: str) -> dict[str, Any]:
        return await self.inner.inspect_container(container_id)


async def test_identical_fragments_of_a_long_line_are_each_copied(tmp_path: Path) -> None:
    """dockerd stamps every fragment of a split line with the line's timestamp.

    A line of 40 KiB of ``y`` is two identical 16 KiB fragments and a shorter
    end: a shim killed after the first fragment must still copy the second.
    """
    stream = FakeStream()
    stamp = STAMP.format(1)
    piece = b"y" * 16384
    for text, partial in ((piece, True), (piece, True), (b"y" * 8192, False)):
        stream.stored.append(LogFrame("stdout", stamp, text, partial))
    _written_by_a_previous_shim(tmp_path / "0.log", stream, 1)
    stream.end()
    copier = Copier(stream, "c1", LogFile(str(tmp_path), "0.log"), tty=False, follow=False)  # type: ignore[arg-type]
    await _run_to_end(copier)
    lines = (tmp_path / "0.log").read_bytes().splitlines()
    assert [line.split(b" ")[2] for line in lines] == [b"P", b"P", b"F"]
    assert b"".join(line.split(b" ", 3)[3] for line in lines) == b"y" * (2 * 16384 + 8192)


async def test_a_copier_leaves_a_log_another_process_writes_alone(tmp_path: Path) -> None:
    """A second shim resuming a container the first still copies (issue #8): no line twice."""
    stream = FakeStream()
    for n in range(3):
        stream.push(f"line-{n}")
    stream.end()
    owner = LogFile(str(tmp_path), "0.log")
    owner.open()
    copier = Copier(stream, "c1", LogFile(str(tmp_path), "0.log"), tty=False, follow=False)  # type: ignore[arg-type]
    await _run_to_end(copier)
    assert (tmp_path / "0.log").read_bytes() == b""
    owner.close()


async def test_starting_a_container_whose_log_another_process_writes_is_refused(
    tmp_path: Path,
) -> None:
    owner = LogFile(str(tmp_path), "0.log")
    owner.open()
    with pytest.raises(FailedPrecondition, match=r"log_path: .*another log copier"):
        await LogManager(FakeStream()).open(str(tmp_path), "0.log")  # type: ignore[arg-type]
    owner.close()
