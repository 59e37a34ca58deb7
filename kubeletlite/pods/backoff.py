"""Crash-loop back-off, as the kubelet computes it.

The kubelet keys a back-off entry per container (pod, container name and
spec hash). The first restart of a crashed container is immediate; each
later one must wait, from the moment the container finished, 10 s, then 20 s,
40 s ... capped at 300 s. An entry not touched for 10 minutes (the container
ran that long) starts over. Pure: callers pass the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INITIAL_SECONDS = 10.0
MAX_SECONDS = 300.0
RESET_AFTER_SECONDS = 600.0


@dataclass
class _Entry:
    delay: float
    last_update: float


@dataclass
class CrashLoopBackOff:
    initial: float = INITIAL_SECONDS
    maximum: float = MAX_SECONDS
    reset_after: float = RESET_AFTER_SECONDS
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def remaining(self, key: str, finished_at: float, now: float) -> float:
        """Seconds to wait before ``key`` may restart; 0 means restart now.

        ``finished_at`` is when the container last exited; all times are in
        seconds on one clock.
        """
        entry = self._entries.get(key)
        if entry is None or finished_at - entry.last_update > self.reset_after:
            return 0.0
        return max(entry.delay - (now - finished_at), 0.0)

    def record_restart(self, key: str, finished_at: float, now: float) -> float:
        """Note that ``key`` restarts now; return the delay that will guard the next restart."""
        entry = self._entries.get(key)
        if entry is None or finished_at - entry.last_update > self.reset_after:
            entry = _Entry(delay=self.initial, last_update=now)
        else:
            entry = _Entry(delay=min(entry.delay * 2, self.maximum), last_update=now)
        self._entries[key] = entry
        return entry.delay

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def entries(self) -> int:
        """How many containers have an entry (entries of deleted pods must not pile up)."""
        return len(self._entries)
