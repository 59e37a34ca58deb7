"""The delay before reconnecting a stream that keeps failing: doubled each time, capped.

The shim's Docker event subscription, its container list worker and
kubelet-lite's evented PLEG all retry this way; a success starts over.
"""

from __future__ import annotations


class RetryDelay:
    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._next = initial

    def reset(self) -> None:
        """After a success: the next failure waits the initial delay again."""
        self._next = self._initial

    def take(self, at_least: float = 0.0) -> float:
        """The delay before this retry (never below ``at_least``); the next one doubles,
        up to the maximum, or stays at a longer delay asked for here."""
        delay = max(self._next, at_least)
        self._next = min(delay * 2, max(self._maximum, delay))
        return delay
