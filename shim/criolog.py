"""The CRI container log format, as the kubelet and ``crictl logs`` read it.

Each line of a container's log file is

    <RFC 3339 timestamp with nanoseconds> <stdout|stderr> <F|P> <text>

where ``P`` marks a fragment of a line that was too long and continues in
the next entry, and ``F`` marks the end of a line. The line itself is
parsed and written by ``cricommon.criolog`` (kubelet-lite reads with the
same parser); this module adds what the shim's copier needs to resume a
log without loss or duplicates. Pure functions only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from cricommon.criolog import FULL, PARTIAL, LogLine, parse
from shim.convert import docker_time_ns

__all__ = ["FULL", "PARTIAL", "LogLine", "RecentLines", "ResumePoint", "parse", "resume_point"]

# dockerd copies stdout and stderr in separate goroutines, so its log is only
# roughly ordered by timestamp. A resumed copy starts this far before the
# newest line already written, and skips the lines it finds already there.
RESUME_WINDOW_NS = 2_000_000_000


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a copy left off: ask dockerd from ``since_ns``, skip what is in ``seen``."""

    since_ns: int
    seen: frozenset[LogLine]

    @property
    def since(self) -> str:
        """Docker's ``since`` parameter ("seconds.nanoseconds")."""
        return f"{self.since_ns // 1_000_000_000}.{self.since_ns % 1_000_000_000:09d}"

    def already_written(self, line: LogLine) -> bool:
        return line in self.seen


def resume_point(lines: Iterable[LogLine]) -> ResumePoint | None:
    """The resume point after ``lines`` (the end of a log, in any order)."""
    stamped = [(docker_time_ns(line.timestamp), line) for line in lines]
    if not stamped:
        return None
    since = max(ns for ns, _ in stamped) - RESUME_WINDOW_NS
    return ResumePoint(since_ns=since, seen=frozenset(line for ns, line in stamped if ns >= since))


def parse_tail(tail: bytes) -> list[LogLine]:
    """The CRI lines in the last bytes of a log file (a cut first line is ignored)."""
    return [p for p in (parse(raw) for raw in tail.split(b"\n") if raw) if p is not None]


# What RecentLines keeps, at most: a container writing 100 MB/s would otherwise
# make the shim hold the 400 MB of its last two windows.
RECENT_BYTES = 4 * 1024 * 1024


class RecentLines:
    """The lines copied within the resume window, to resume without a file read.

    Bounded by :data:`RECENT_BYTES` too: lines dropped for room raise the
    resume point's floor past their timestamps, so a resumed copy never asks
    dockerd for them again (which would write them twice).
    """

    def __init__(self, max_bytes: int = RECENT_BYTES) -> None:
        self._lines: deque[tuple[int, LogLine]] = deque()
        self._newest = 0
        self._bytes = 0
        self._max_bytes = max_bytes
        self._floor = 0  # the newest timestamp of a line dropped for room

    def add(self, line: LogLine) -> None:
        ns = docker_time_ns(line.timestamp)
        self._newest = max(self._newest, ns)
        self._lines.append((ns, line))
        self._bytes += len(line.text)
        # Keep twice the window: lines arrive only roughly in timestamp order.
        while self._lines and self._lines[0][0] < self._newest - 2 * RESUME_WINDOW_NS:
            self._drop()
        while self._bytes > self._max_bytes and len(self._lines) > 1:
            self._floor = max(self._floor, self._drop())

    def _drop(self) -> int:
        ns, line = self._lines.popleft()
        self._bytes -= len(line.text)
        return ns

    def resume_point(self) -> ResumePoint | None:
        point = resume_point(line for _, line in self._lines)
        if point is None or point.since_ns > self._floor:
            return point
        since = self._floor + 1
        seen = frozenset(line for ns, line in self._lines if ns >= since)
        return ResumePoint(since_ns=since, seen=seen)
