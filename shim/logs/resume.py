"""Where a copy of a container's log resumes, so that each line is written exactly once.

Each line of a container's log file is

    <RFC 3339 timestamp with nanoseconds> <stdout|stderr> <F|P> <text>

where ``P`` marks a fragment of a line that was too long and continues in
the next entry, and ``F`` marks the end of a line. The line itself is
parsed and written by ``cricommon.criolog`` (kubelet-lite reads with the
same parser); this module adds what the shim's copier needs to resume a
log without loss or duplicates. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from cricommon.criolog import FULL, PARTIAL, LogLine, parse
from shim.translate.convert import docker_time_ns

__all__ = [
    "FULL",
    "PARTIAL",
    "LogCursor",
    "LogLine",
    "RecentLines",
    "ResumePoint",
    "parse",
    "resume_point",
]

# dockerd copies stdout and stderr in separate goroutines, so its log is only
# roughly ordered by timestamp. A resumed copy starts this far before the
# newest line already written, and skips the lines it finds already there.
RESUME_WINDOW_NS = 2_000_000_000


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a copy left off: ask dockerd from ``since_ns``; ``seen`` was written at or after it.

    ``seen`` is a multiset (in a canonical order): dockerd stamps every
    fragment of a split line with the line's timestamp, so equal lines are
    each written once, and each must be skipped once, never all for one.
    """

    since_ns: int
    seen: tuple[LogLine, ...]

    @property
    def since(self) -> str:
        """Docker's ``since`` parameter ("seconds.nanoseconds")."""
        return f"{self.since_ns // 1_000_000_000}.{self.since_ns % 1_000_000_000:09d}"


def resume_point(lines: Iterable[LogLine], whole: bool = True) -> ResumePoint | None:
    """The resume point after ``lines`` (the end of a log, in any order).

    ``whole`` is False when ``lines`` are a tail cut from a longer file: lines
    before the cut are written but unknown, so the copy resumes no earlier than
    the oldest line known (a window reaching past the cut would copy them again).
    """
    stamped = [(docker_time_ns(line.timestamp), line) for line in lines]
    if not stamped:
        return None
    since = max(ns for ns, _ in stamped) - RESUME_WINDOW_NS
    if not whole:
        since = max(since, min(ns for ns, _ in stamped))
    return _point(stamped, since)


def _point(stamped: Iterable[tuple[int, LogLine]], since: int) -> ResumePoint:
    seen = sorted((entry for entry in stamped if entry[0] >= since), key=_canonical)
    return ResumePoint(since_ns=since, seen=tuple(line for _, line in seen))


def _canonical(entry: tuple[int, LogLine]) -> tuple[int, str, bool, bytes]:
    ns, line = entry
    return ns, line.stream, line.partial, line.text


def parse_tail(tail: bytes) -> list[LogLine]:
    """The CRI lines in the last bytes of a log file (a cut first line is ignored)."""
    return [p for p in (parse(raw) for raw in tail.split(b"\n") if raw) if p is not None]


# What RecentLines keeps, at most: a container writing 100 MB/s would otherwise
# make the shim hold the 400 MB of its last two windows.
RECENT_BYTES = 4 * 1024 * 1024


class RecentLines:
    """The lines written within the resume window, to resume without a file read.

    Bounded by :data:`RECENT_BYTES` too: a line dropped for room raises the
    resume point's floor past its timestamp, so a resumed copy never asks
    dockerd for it again (which would write it twice).
    """

    def __init__(self, start: ResumePoint | None = None, max_bytes: int = RECENT_BYTES) -> None:
        self._lines: deque[tuple[int, LogLine]] = deque()
        self._newest = 0
        self._bytes = 0
        self._max_bytes = max_bytes
        # The earliest ``since`` a resume may use: not before the start (what
        # preceded it is unknown here), nor at a line dropped for room.
        self._floor = start.since_ns if start else 0
        for line in start.seen if start else ():
            self.add(line)

    def add(self, line: LogLine) -> None:
        ns = docker_time_ns(line.timestamp)
        self._newest = max(self._newest, ns)
        self._lines.append((ns, line))
        self._bytes += len(line.text)
        # Keep twice the window: lines arrive only roughly in timestamp order.
        while self._lines and self._lines[0][0] < self._newest - 2 * RESUME_WINDOW_NS:
            self._drop()
        while self._bytes > self._max_bytes and len(self._lines) > 1:
            self._floor = max(self._floor, self._drop() + 1)

    def _drop(self) -> int:
        ns, line = self._lines.popleft()
        self._bytes -= len(line.text)
        return ns

    def resume_point(self) -> ResumePoint | None:
        if not self._lines:
            return None
        return _point(self._lines, max(self._newest - RESUME_WINDOW_NS, self._floor))


class LogCursor:
    """Exactly once across every read of one container's log from dockerd.

    Every read starts at a resume point: from the log file the copy found
    (a previous shim's work), then from the lines written since, found or
    copied alike. Each line a read replays that was already written is
    skipped once; every other line is new, and is remembered as written.
    """

    def __init__(self, start: ResumePoint | None = None) -> None:
        self._recent = RecentLines(start)
        self._unmatched: Counter[LogLine] = Counter()

    def next_read(self) -> str | None:
        """Begin a read: Docker's ``since`` for it (None: from the start of the log)."""
        point = self._recent.resume_point()
        self._unmatched = Counter(point.seen) if point else Counter()
        return point.since if point else None

    def admit(self, line: LogLine) -> bool:
        """Whether ``line``, read from dockerd, is new (and must be written now)."""
        if self._unmatched[line] > 0:
            self._unmatched[line] -= 1
            return False
        self._recent.add(line)
        return True
