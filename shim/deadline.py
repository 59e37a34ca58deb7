"""Per-RPC deadlines, carried in a context variable.

The RPC boundary (``shim.edge.rpc``) records the client's deadline when a call
arrives; every Docker call then runs under the earlier of that deadline and
the shim's own per-call bound. A context variable follows the call into any
task it spawns, so nothing needs to thread a deadline argument through; work
that must outlive the call (log copiers, a creation the client gave up on)
runs in a :func:`detached_context` instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Absolute deadline on the running loop's clock, or None when the client set none.
_rpc_deadline: ContextVar[float | None] = ContextVar("rpc_deadline", default=None)


@contextmanager
def rpc_deadline(seconds_remaining: float | None) -> Iterator[None]:
    """Bound everything inside the block by ``seconds_remaining`` (None: unbounded)."""
    when = None
    if seconds_remaining is not None:
        when = asyncio.get_running_loop().time() + max(seconds_remaining, 0.0)
    token = _rpc_deadline.set(when)
    try:
        yield
    finally:
        _rpc_deadline.reset(token)


def deadline_for(seconds: float | None) -> float | None:
    """Absolute loop time by which an operation allowed ``seconds`` must end.

    ``seconds=None`` means the operation itself is unbounded; the RPC's own
    deadline (if any) still applies.
    """
    rpc = _rpc_deadline.get()
    if seconds is None:
        return rpc
    own = asyncio.get_running_loop().time() + seconds
    return own if rpc is None else min(own, rpc)


def rpc_time_remaining() -> float | None:
    """Seconds left before the client's deadline, or None if it set none."""
    rpc = _rpc_deadline.get()
    if rpc is None:
        return None
    return max(rpc - asyncio.get_running_loop().time(), 0.0)


def detached_context() -> contextvars.Context:
    """A copy of the current context without the RPC's deadline.

    ``asyncio.create_task`` copies the creating task's context, so work that
    outlives an RPC (a log copier) would otherwise carry its deadline.
    """
    context = contextvars.copy_context()
    context.run(_rpc_deadline.set, None)
    return context


# Abandoned work and its undoing, by name, kept referenced until both end.
_abandoned: dict[str, asyncio.Task[None]] = {}


async def finish_even_if_abandoned(
    work: Coroutine[Any, Any, T],
    name: str,
    undo: Callable[[T], Awaitable[None]] | None = None,
) -> T:
    """Run ``work`` to its end even when the caller is cancelled (the client gave up).

    A half-done Docker change is worse than a finished one: ``work`` runs in
    a task of its own, bounded by the shim's per-call timeouts only. If the
    caller is cancelled meanwhile, ``undo`` gets the result once ``work``
    ends; a retry under the same ``name`` first waits for both
    (:func:`abandoned_settled`), so it finds nothing in its way.
    """
    task = asyncio.create_task(work, name=name, context=detached_context())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        settling = asyncio.create_task(_settle(task, name, undo), context=detached_context())
        _abandoned[name] = settling
        settling.add_done_callback(lambda _: _forget(name, settling))
        raise


async def abandoned_settled(name: str) -> None:
    """Wait until earlier abandoned work under ``name`` (and its undoing) has ended."""
    settling = _abandoned.get(name)
    if settling is not None:
        await asyncio.shield(settling)


def _forget(name: str, settling: asyncio.Task[None]) -> None:
    if _abandoned.get(name) is settling:
        del _abandoned[name]


async def _settle(
    task: asyncio.Task[T], name: str, undo: Callable[[T], Awaitable[None]] | None
) -> None:
    try:
        result = await task
    except Exception as exc:
        log.warning("%s, abandoned by its client, failed: %s", name, exc)
        return
    if undo is None:
        return
    try:
        await undo(result)
        log.info("%s was abandoned by its client and rolled back", name)
    except Exception as exc:
        log.warning("rolling back %s, abandoned by its client, failed: %s", name, exc)


async def run_until(work: Coroutine[Any, Any, None], until: Awaitable[object] | None) -> None:
    """Run ``work``; if ``until`` returns first, cancel it (what it did so far stays)."""
    if until is None:
        await work
        return
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(until)
    try:
        while not task.done():
            waiting = {task} if stopper.done() else {task, stopper}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if stopper.done() and not stopper.cancelled() and stopper.exception() is None:
                break  # a watch that failed stops nothing
    finally:
        for pending in (task, stopper):
            pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
    if not task.cancelled():
        task.result()  # the work's own error, if any
