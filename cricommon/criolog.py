"""One line of a CRI container log, as the kubelet and ``crictl logs`` read it.

Each line of a container's log file is

    <RFC 3339 timestamp with nanoseconds> <stdout|stderr> <F|P> <text>

where ``P`` marks a fragment of a line that was too long and continues in
the next entry, and ``F`` marks the end of a line. The shim writes these
lines and kubelet-lite reads them back; both parse them here, so both
refuse the same malformed lines (unknown stream, unknown tag, no valid
timestamp). Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

FULL = b"F"
PARTIAL = b"P"
STREAMS = (b"stdout", b"stderr")

_RFC3339 = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d{2}:\d{2})"
)


def rfc3339_ns(value: str | None) -> int:
    """Nanoseconds since the epoch for an RFC 3339 timestamp; 0 if invalid or Go's zero time."""
    if not value:
        return 0
    match = _RFC3339.fullmatch(value)
    if match is None:
        return 0
    tz = match["tz"].replace("Z", "+00:00")
    try:
        base = datetime.fromisoformat(match["base"] + tz)
    except ValueError:
        return 0
    if base.year <= 1:
        return 0
    frac = (match["frac"] or "").ljust(9, "0")[:9]
    return int(base.timestamp()) * 1_000_000_000 + int(frac)


@dataclass(frozen=True, slots=True)
class LogLine:
    timestamp: str
    stream: str  # "stdout" | "stderr"
    partial: bool  # a fragment: the line continues in the next entry of this stream
    text: bytes

    def encode(self) -> bytes:
        tag = PARTIAL if self.partial else FULL
        return (
            b" ".join((self.timestamp.encode("ascii"), self.stream.encode("ascii"), tag, self.text))
            + b"\n"
        )


def parse(line: bytes) -> LogLine | None:
    """Parse one line (its newline may be there or not); None if it is not in CRI format."""
    parts = line.removesuffix(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tag = parts[0], parts[1], parts[2]
    if stream not in STREAMS or tag not in (FULL, PARTIAL):
        return None
    if rfc3339_ns(stamp.decode("ascii", "replace")) == 0:
        return None
    return LogLine(
        timestamp=stamp.decode("ascii"),
        stream=stream.decode("ascii"),
        partial=tag == PARTIAL,
        text=parts[3] if len(parts) == 4 else b"",
    )
