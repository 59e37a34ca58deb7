"""Reading CRI-format container logs back, for `kubeletlite logs`.

Each line of the file is "<timestamp> <stream> <F|P> <text>"
(``cricommon.criolog`` parses it, as the shim does); fragments tagged P are
joined with what follows until an F line ends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import NamedTuple

import watchfiles

from cricommon import criolog
from kubeletlite.kubetime import parse_rfc3339

FOLLOW_POLL_SECONDS = 1.0


class LogLine(NamedTuple):
    stream: str  # stdout | stderr
    text: bytes  # the whole line, fragments joined
    timestamp: str  # when the runtime received the line's first fragment (RFC 3339)


def decode(
    lines: Iterable[bytes], pending: dict[str, tuple[str, bytes]] | None = None
) -> list[LogLine]:
    """Whole log lines; ``pending`` carries fragments (and their first timestamp) across calls."""
    pending = {} if pending is None else pending
    out: list[LogLine] = []
    for raw in lines:
        line = criolog.parse(raw)
        if line is None:
            continue  # not a CRI log line: the same ones the shim's resume skips
        first_stamp, before = pending.pop(line.stream, (line.timestamp, b""))
        if line.partial:
            pending[line.stream] = (first_stamp, before + line.text)
            continue
        out.append(LogLine(line.stream, before + line.text, first_stamp))
    return out


def read_all(path: str) -> list[LogLine]:
    """Blocking: every whole line of a log file."""
    with open(path, "rb") as handle:
        return decode(handle)


def read_complete(path: str) -> tuple[list[LogLine], int]:
    """Blocking: the whole lines of a log file, and the offset after the last one read.

    A file line not yet ended by its newline is left for a follower to read from that offset.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    complete, newline, _rest = data.rpartition(b"\n")
    body = complete + newline
    return decode(body.splitlines(keepends=True)), len(body)


def select(lines: list[LogLine], since_ns: int, tail: int) -> list[LogLine]:
    """kubectl's filters: lines from ``since_ns`` on (0: all), then the last ``tail`` (-1: all)."""
    if since_ns:
        lines = [line for line in lines if _stamp_ns(line.timestamp) >= since_ns]
    if tail >= 0:
        lines = lines[len(lines) - tail :] if tail else []
    return lines


def _stamp_ns(stamp: str) -> int:
    try:
        return parse_rfc3339(stamp)
    except ValueError:
        return 0


async def follow(
    path: str, still_running: Callable[[], Awaitable[bool]], offset: int = 0
) -> AsyncIterator[LogLine]:
    """Yield lines as they are written (from ``offset``), until the container has exited and
    nothing is left."""
    pending: dict[str, tuple[str, bytes]] = {}
    carry = b""
    exited = False
    while True:
        data = await asyncio.to_thread(_read_from, path, offset)
        offset += len(data)
        complete, _, carry_next = (carry + data).rpartition(b"\n")
        carry = carry_next
        if complete:
            for item in decode((line + b"\n" for line in complete.split(b"\n")), pending):
                yield item
        if data:
            continue
        if exited:
            return
        if not await still_running():
            # Read once more: the last lines may have landed after the read above.
            exited = True
            continue
        await _changed_or_timeout(path)


def _read_from(path: str, offset: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


async def _changed_or_timeout(path: str) -> None:
    """Wait for the file to change (inotify), or a poll period at most."""
    stop = asyncio.Event()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(FOLLOW_POLL_SECONDS):
            try:
                async for _ in watchfiles.awatch(path, stop_event=stop, debounce=10, step=10):
                    return
            except FileNotFoundError:
                # Not created yet (the container has not written anything): poll.
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
