"""Concurrent identical container listings share one Docker call.

Fifty clients listing at once (a kubelet's relist, monitoring, crictl in a
loop) would otherwise cost fifty ``GET /containers/json``, each a full scan
in dockerd. Here a caller joins the *next* listing of its query: when none
runs, one starts at once; while one runs, the next starts as soon as it ends
and serves everyone who arrived in the meantime. Every answer therefore
reflects dockerd's state at or after the caller's arrival (nothing stale),
while N concurrent callers cost at most two Docker calls, not N.

A listing belongs to no single RPC: it runs without any caller's deadline
(the Docker client's own call timeout bounds it), and a caller that gives up
does not cancel it for the others.

Listings come here only when :mod:`shim.monitor.containercache` cannot answer (not
synced yet, dockerd's event stream lost), and for answers a write acts on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from shim.deadline import detached_context

JSON = dict[str, Any]
Filters = Mapping[str, Sequence[str]]


class SharedListings:
    def __init__(self, fetch: Callable[[Filters], Coroutine[Any, Any, list[JSON]]]) -> None:
        self._fetch = fetch
        self._running: dict[str, asyncio.Task[list[JSON]]] = {}
        self._next: dict[str, asyncio.Future[list[JSON]]] = {}

    async def run(self, filters: Filters) -> list[JSON]:
        key = json.dumps({k: sorted(v) for k, v in filters.items()}, sort_keys=True)
        waiting: asyncio.Future[list[JSON]]
        if key not in self._running:
            waiting = self._start(key, filters)
        else:
            waiting = self._next.get(key) or self._queue_next(key)
        # Shielded: one caller's cancellation must not end the others' listing.
        return list(await asyncio.shield(waiting))

    def _start(self, key: str, filters: Filters) -> asyncio.Task[list[JSON]]:
        task: asyncio.Task[list[JSON]] = asyncio.get_running_loop().create_task(
            self._fetch(filters), name="list-containers", context=detached_context()
        )
        self._running[key] = task
        task.add_done_callback(lambda done: self._finished(key, filters, done))
        return task

    def _queue_next(self, key: str) -> asyncio.Future[list[JSON]]:
        future: asyncio.Future[list[JSON]] = asyncio.get_running_loop().create_future()
        self._next[key] = future
        return future

    def _finished(self, key: str, filters: Filters, done: asyncio.Task[list[JSON]]) -> None:
        del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved here: every waiter may have given up
        waiting = self._next.pop(key, None)
        if waiting is None:
            return
        following = self._start(key, filters)
        following.add_done_callback(lambda result: _settle(waiting, result))


def _settle(future: asyncio.Future[list[JSON]], task: asyncio.Task[list[JSON]]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
        future.exception()  # retrieved: every waiter may have given up
    else:
        future.set_result(task.result())
