"""The log copier's ordering and reopen rules, with a fake log stream in place of dockerd.

(The real dockerd path, restarts included, is in tests/integration/shim/test_logs.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from shim.criolog import LogLine
from shim.docker import LogFrame
from shim.errors import FailedPrecondition
from shim.logs import Copier, LogFile, _Reopen

STAMP = "2026-01-01T00:00:00.{:09d}Z"


class FakeStream:
    """Frames are pushed by the test; None ends the stream (the container exited)."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[LogFrame | None] = asyncio.Queue()
        self.count = 0
        # Set when the copier asks for the next frame: every earlier one is in its queue.
        self.idle = asyncio.Event()

    def push(self, text: str) -> None:
        self.count += 1
        self.frames.put_nowait(LogFrame("stdout", STAMP.format(self.count), text.encode(), False))

    def end(self) -> None:
        self.frames.put_nowait(None)

    async def log_frames(self, container_id: str, **_: Any) -> AsyncIterator[LogFrame]:
        while True:
            if self.frames.empty():
                self.idle.set()
            frame = await self.frames.get()
            self.idle.clear()
            if frame is None:
                return
            yield frame

    async def drained(self) -> None:
        await self.idle.wait()

    async def inspect_container(self, container_id: str) -> dict[str, Any]:
        return {"State": {"Running": False}}


def texts(path: Path) -> list[str]:
    return [line.split(" ", 3)[3] for line in path.read_text().splitlines()]


async def test_lines_after_a_reopen_go_to_the_new_file(tmp_path: Path) -> None:
    stream = FakeStream()
    path = tmp_path / "app" / "0.log"
    copier = Copier(stream, "c1", str(path), tty=False, follow=True)  # type: ignore[arg-type]
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
    copier = Copier(FakeStream(), "c1", str(tmp_path / "0.log"), tty=False, follow=True)  # type: ignore[arg-type]
    file = LogFile(copier.path)
    file.open()
    late: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    for item in (LogLine(STAMP.format(1), "stdout", False, b"last"), None, _Reopen(late)):
        copier._queue.put_nowait(item)
    await copier._write(file)
    file.close()
    assert isinstance(late.exception(), FailedPrecondition)
    assert texts(tmp_path / "0.log") == ["last"]
