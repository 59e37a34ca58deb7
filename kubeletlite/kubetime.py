"""Times and durations as kubectl writes and reads them. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_FRACTION = re.compile(r"\.(\d+)")


def parse_duration(text: str) -> int:
    """A Go duration (``5s``, ``1h30m``, ``250ms``) in nanoseconds; ValueError if it is not one."""
    position, total = 0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += round(float(match.group(1)) * _UNIT_NS[match.group(2)])
        position = match.end()
    if not text or position != len(text):
        raise ValueError(f"invalid duration {text!r}: use a number and a unit, e.g. 30s, 5m, 1h")
    return total


def parse_rfc3339(text: str) -> int:
    """An RFC 3339 time (``2024-03-01T12:00:00Z``, nanoseconds allowed) in ns since the epoch."""
    match = _FRACTION.search(text)
    nanos = 0
    if match is not None:
        digits = match.group(1)
        nanos = int(digits[:9].ljust(9, "0"))
        text = text[: match.start()] + text[match.end() :]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use RFC 3339, e.g. 2024-03-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"invalid time {text!r}: give a zone, e.g. a trailing Z for UTC")
    return int(moment.timestamp()) * 1_000_000_000 + nanos


def rfc3339(ns: int) -> str:
    """Seconds precision, UTC, as metav1.Time is written."""
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
