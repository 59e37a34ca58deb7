"""The clocks the pod worker and lifecycle read, as a seam tests can replace.

``monotonic`` orders retries and measures hook and preStop durations;
``time`` (seconds since the epoch) is compared with the runtime's
timestamps (a container's ``finished_at``) for crash-loop back-off. The
fast tests use a clock that follows a virtual-time event loop, so
back-off, grace periods and retries are checked without waiting.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()
