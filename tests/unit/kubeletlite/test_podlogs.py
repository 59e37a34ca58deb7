"""Reading CRI-format container logs: decoding, and following a file being written."""

import asyncio
from pathlib import Path

import pytest

from kubeletlite.state import podlogs

TS = b"2024-03-01T12:00:00.000000001Z"


def line(stream: str, tag: str, text: str) -> bytes:
    return TS + f" {stream} {tag} {text}\n".encode()


def pairs(lines: list[podlogs.LogLine]) -> list[tuple[str, bytes]]:
    return [(line.stream, line.text) for line in lines]


# -- decode --------------------------------------------------------------------------------


def test_decode_whole_lines() -> None:
    lines = [line("stdout", "F", "hello world"), line("stderr", "F", "oops")]
    assert pairs(podlogs.decode(lines)) == [("stdout", b"hello world"), ("stderr", b"oops")]


def test_decode_joins_partial_fragments_per_stream() -> None:
    lines = [
        line("stdout", "P", "a long "),
        line("stderr", "P", "err-"),
        line("stdout", "P", "line that was "),
        line("stderr", "F", "end"),
        line("stdout", "F", "split"),
    ]
    assert pairs(podlogs.decode(lines)) == [
        ("stderr", b"err-end"),
        ("stdout", b"a long line that was split"),
    ]


def test_decode_keeps_spaces_inside_the_message() -> None:
    assert pairs(podlogs.decode([line("stdout", "F", "  two  spaces ")])) == [
        ("stdout", b"  two  spaces ")
    ]


def test_decode_empty_message() -> None:
    assert pairs(podlogs.decode([line("stdout", "F", ""), TS + b" stdout F\n"])) == [
        ("stdout", b""),
        ("stdout", b""),
    ]


def test_decode_ignores_malformed_lines() -> None:
    lines = [b"\n", b"garbage\n", TS + b" stdout\n", line("stdout", "F", "kept")]
    assert pairs(podlogs.decode(lines)) == [("stdout", b"kept")]


def test_decode_carries_fragments_across_calls() -> None:
    pending: dict[str, tuple[str, bytes]] = {}
    assert pairs(podlogs.decode([line("stdout", "P", "to be ")], pending)) == []
    assert pending == {"stdout": (TS.decode(), b"to be ")}
    assert pairs(podlogs.decode([line("stdout", "F", "continued")], pending)) == [
        ("stdout", b"to be continued")
    ]
    assert pending == {}


def test_decode_without_pending_state_forgets_fragments_between_calls() -> None:
    assert pairs(podlogs.decode([line("stdout", "P", "lost ")])) == []
    assert pairs(podlogs.decode([line("stdout", "F", "only")])) == [("stdout", b"only")]


def test_read_all(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(line("stdout", "P", "a") + line("stdout", "F", "b") + b"junk\n")
    assert pairs(podlogs.read_all(str(path))) == [("stdout", b"ab")]


# -- follow ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def quick_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bound the wait for a file change: a write just before the watch begins is missed."""
    monkeypatch.setattr(podlogs, "FOLLOW_POLL_SECONDS", 0.05)


class Container:
    """A container that writes each of ``chunks`` to its log once the follower has caught up.

    The follower asks ``still_running`` only after it has read everything there is, so
    that call is the writer's cue: no sleeps, and every chunk lands while the follower
    is waiting for the file to change.
    """

    def __init__(self, path: Path, chunks: list[bytes]) -> None:
        self.path = path
        self.chunks = chunks
        self.running = True
        self.caught_up = asyncio.Event()

    async def still_running(self) -> bool:
        self.caught_up.set()
        return self.running

    async def write(self) -> None:
        for chunk in self.chunks:
            await self.caught_up.wait()
            self.caught_up.clear()
            with self.path.open("ab") as handle:
                handle.write(chunk)
        await self.caught_up.wait()
        self.running = False


async def follow_all(container: Container) -> list[tuple[str, bytes]]:
    async with asyncio.timeout(10):
        writer = asyncio.create_task(container.write())
        lines = [
            (item.stream, item.text)
            async for item in podlogs.follow(str(container.path), container.still_running)
        ]
        await writer
    return lines


async def test_follow_yields_lines_as_they_are_written_until_the_container_exits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(line("stdout", "F", "zero"))
    chunks = [
        line("stdout", "F", "one"),
        line("stdout", "F", "two") + line("stderr", "F", "three"),
        line("stdout", "P", "fo"),
        line("stdout", "F", "ur"),
        TS + b" stdout F fi",  # a write that ends inside a line
        b"ve\n",
    ]
    assert await follow_all(Container(path, chunks)) == [
        ("stdout", b"zero"),
        ("stdout", b"one"),
        ("stdout", b"two"),
        ("stderr", b"three"),
        ("stdout", b"four"),
        ("stdout", b"five"),
    ]


async def test_follow_waits_for_a_file_not_created_yet(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    container = Container(path, [line("stdout", "F", "late"), line("stdout", "F", "later")])
    assert await follow_all(container) == [("stdout", b"late"), ("stdout", b"later")]


async def test_follow_reads_lines_written_just_before_the_exit(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(line("stdout", "F", "first"))

    async def exits_after_last_words() -> bool:
        # Between the follower's last read and this check, the container wrote and exited.
        with path.open("ab") as handle:
            handle.write(line("stdout", "F", "last words"))
        return False

    async with asyncio.timeout(10):
        lines = [item async for item in podlogs.follow(str(path), exits_after_last_words)]
    assert pairs(lines) == [("stdout", b"first"), ("stdout", b"last words")]


async def test_follow_of_an_exited_container_returns_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(line("stdout", "P", "a") + line("stdout", "F", "b"))
    calls = 0

    async def exited() -> bool:
        nonlocal calls
        calls += 1
        return False

    async with asyncio.timeout(10):
        lines = [item async for item in podlogs.follow(str(path), exited)]
    assert pairs(lines) == [("stdout", b"ab")]
    assert calls == 1


def test_decode_keeps_the_timestamp_of_a_lines_first_fragment() -> None:
    first = b"2026-01-01T00:00:00.1Z stdout P par\n"
    last = b"2026-01-01T00:00:00.2Z stdout F tial\n"
    assert podlogs.decode([first, last]) == [
        podlogs.LogLine("stdout", b"partial", "2026-01-01T00:00:00.1Z")
    ]
