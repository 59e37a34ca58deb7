"""The kubelet's Evented PLEG: react to the runtime's container events, relist as a safety net.

When the runtime serves GetContainerEvents, one stream per process wakes
the pod worker an event is about (by pod UID), and workers relist only every
``evented_relist_period`` (the kubelet: 300 s) in case an event was lost.
While the stream is down (runtime restarting, or no events at all), workers
fall back to relisting every ``relist_period``; when the stream is back,
every worker relists once, since events may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, runtime_checkable

import grpc

from criapi.runtime.v1 import api_pb2 as cri
from cricommon.retrydelay import RetryDelay
from kubeletlite.runtime.client import RuntimeCallError

log = logging.getLogger(__name__)

RETRY_INITIAL_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0
# A runtime without GetContainerEvents is asked again this rarely.
UNIMPLEMENTED_RETRY_SECONDS = 300.0

Wake = Callable[[], None]


@runtime_checkable
class EventSource(Protocol):
    """A runtime client that can stream GetContainerEvents (runtime.client.RuntimeClient)."""

    def container_events(
        self, on_open: Callable[[], None]
    ) -> AsyncIterator[cri.ContainerEventResponse]: ...


class Pleg:
    """Relisting only: what a worker uses where no events are wanted."""

    healthy = False

    def watch(self, pod_uid: str, wake: Wake) -> Callable[[], None]:
        return lambda: None

    def period(self, relist_period: float, evented_relist_period: float) -> float:
        """How long a worker may go without relisting."""
        return evented_relist_period if self.healthy else relist_period


class EventedPleg(Pleg):
    def __init__(
        self,
        runtime: EventSource,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._runtime = runtime
        self._watchers: dict[str, set[Wake]] = {}
        self._sleep = sleep
        self.healthy = False
        self.events_seen = 0

    def watch(self, pod_uid: str, wake: Wake) -> Callable[[], None]:
        """Call ``wake`` on events about pod ``pod_uid``; returns the function that stops it."""
        self._watchers.setdefault(pod_uid, set()).add(wake)

        def stop() -> None:
            wakes = self._watchers.get(pod_uid, set())
            wakes.discard(wake)
            if not wakes:
                self._watchers.pop(pod_uid, None)

        return stop

    async def run(self) -> None:
        """Follow the runtime's events until cancelled, reconnecting with back-off."""
        retry = RetryDelay(RETRY_INITIAL_SECONDS, RETRY_MAX_SECONDS)
        while True:
            at_least = 0.0
            try:
                async for event in self._runtime.container_events(self._connected):
                    retry.reset()
                    self._on_event(event)
                log.warning("the runtime ended its container event stream; relisting meanwhile")
            except RuntimeCallError as exc:
                if exc.code == grpc.StatusCode.UNIMPLEMENTED:
                    log.info("the runtime has no container events; relisting instead")
                    at_least = UNIMPLEMENTED_RETRY_SECONDS
                else:
                    log.warning("container event stream lost (%s); relisting meanwhile", exc)
            self._set_healthy(False)
            await self._sleep(retry.take(at_least))

    def _connected(self) -> None:
        self._set_healthy(True)

    def _set_healthy(self, healthy: bool) -> None:
        if self.healthy == healthy:
            return
        self.healthy = healthy
        # Either way every worker relists now: to catch up, or to shorten its wait.
        for wakes in list(self._watchers.values()):
            for wake in list(wakes):
                wake()

    def _on_event(self, event: cri.ContainerEventResponse) -> None:
        self.events_seen += 1
        uid = event.pod_sandbox_status.metadata.uid
        for wake in list(self._watchers.get(uid, ())):
            wake()


async def stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
