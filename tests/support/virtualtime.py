"""An asyncio event loop whose clock jumps instead of waiting, for fast timing tests.

When nothing is ready to run, no I/O has arrived and no thread the loop
waits on (``asyncio.to_thread``) is busy, the loop moves its clock straight
to the next timer: a 300 s back-off takes no real time, and the order of
events is exactly what the timers say. Threads and real I/O still run in
real time; the clock does not move while a thread is busy.

Use :func:`run` like ``asyncio.run``; :class:`LoopClock` is a
``kubeletlite.clock.Clock`` on this loop's time.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")

# Wall-clock time at virtual time 0 (any fixed instant works; this one reads well in logs).
EPOCH = 1_700_000_000.0
# How long one real wait may last before the loop looks again (a thread may be busy).
_REAL_SLICE = 0.05


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        assert self.loop is not None
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if self.loop.threads_busy() or timeout is None:
            # Something outside the loop may wake it: wait for it in real time, clock stopped.
            return super().select(_REAL_SLICE)
        self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._now = 0.0
        self._thread_futures: set[asyncio.Future[Any]] = set()

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)

    def threads_busy(self) -> bool:
        self._thread_futures = {f for f in self._thread_futures if not f.done()}
        return bool(self._thread_futures)

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._thread_futures.add(future)
        return future


def run(main: Coroutine[Any, Any, T], *, limit: float = 3600.0) -> T:
    """Run ``main`` on a fresh virtual-time loop; fail if it takes more than ``limit``
    virtual seconds (a hung test then fails at once instead of hanging)."""

    async def bounded() -> T:
        async with asyncio.timeout(limit):
            return await main

    try:
        with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
            return runner.run(bounded())
    finally:
        # As asyncio.run leaves it: no current loop (else the next get_event_loop() makes one).
        asyncio.set_event_loop(None)


class LoopClock:
    """``kubeletlite.clock.Clock`` on the running loop's (virtual) time."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        return EPOCH + asyncio.get_running_loop().time()


def now() -> float:
    return asyncio.get_running_loop().time()


__all__ = ["EPOCH", "LoopClock", "VirtualTimeLoop", "now", "run"]
