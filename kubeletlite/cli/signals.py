"""SIGINT/SIGTERM for `run` and `serve`: the first stops gracefully, the second forces the exit.

The first signal sets the event the agent watches (pods then terminate with
their preStop hooks, within their grace periods). A second one, during a
long preStop for example, cancels the command's task: kubelet-lite exits at
once and leaves the containers to the runtime, as the shim does on its own
second signal. The handlers are removed when the block ends, so nothing
outlives the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ForcedStop(Exception):
    """A second signal ended the command before its pods finished terminating."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """Within the block, the first signal sets the yielded event; a second raises ForcedStop."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None, "call from within a task"
    stop = asyncio.Event()
    forced = False

    def on_signal(signum: int) -> None:
        nonlocal forced
        name = signal.Signals(signum).name
        if not stop.is_set():
            log.info("%s received: terminating pods gracefully (again to exit at once)", name)
            stop.set()
        elif not forced:
            log.warning("second %s: exiting without waiting for pods to terminate", name)
            forced = True
            task.cancel()

    for signum in SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield stop
    except asyncio.CancelledError:
        if not forced:
            raise
        task.uncancel()
        raise ForcedStop("stopped by a second signal; pods may still be terminating") from None
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
