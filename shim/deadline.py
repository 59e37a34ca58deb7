"""Per-RPC deadlines, carried in a context variable.

The RPC boundary (``shim.rpc``) records the client's deadline when a call
arrives; every Docker call then runs under the earlier of that deadline and
the shim's own per-call bound. A context variable follows the call into any
task it spawns, so nothing needs to thread a deadline argument through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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
