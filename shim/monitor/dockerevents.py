"""The shim's one subscription to dockerd's event stream, shared by every listener.

Parts of the shim that care about changes in dockerd (container events for
GetContainerEvents, later caches) register a :class:`Listener`; this module
keeps one ``GET /events`` open for all of them, re-subscribes when dockerd
restarts (with a bounded back-off) and tells listeners when the stream is
lost and back, so they can end their clients' streams or relist.

Listeners are called on the event loop and must not block: they hand work
to their own tasks. The subscription task is started by the daemon, not by
an RPC, so it never inherits an RPC's deadline or cancellation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cricommon.retrydelay import RetryDelay
from shim.deadline import rpc_deadline
from shim.engine.dockerapi import DockerAPI
from shim.errors import ShimError

log = logging.getLogger(__name__)

RETRY_INITIAL_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class DockerEvent:
    type: str  # "container", "image", ...
    action: str  # "create", "start", "die", "destroy", "pull", ...
    id: str
    time_ns: int
    attributes: Mapping[str, str] = field(default_factory=dict)


class Listener(Protocol):
    def on_event(self, event: DockerEvent) -> None: ...

    def on_connection(self, connected: bool) -> None: ...


def parse(raw: Mapping[str, Any]) -> DockerEvent | None:
    """One decoded event of ``GET /events``; None when it lacks what listeners need."""
    actor = raw.get("Actor") or {}
    object_id = str(actor.get("ID") or raw.get("id") or "")
    action = str(raw.get("Action") or raw.get("status") or "")
    if not object_id or not action:
        return None
    time_ns = raw.get("timeNano")
    if not isinstance(time_ns, int):
        time_ns = int(raw.get("time") or 0) * 1_000_000_000
    attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    return DockerEvent(str(raw.get("Type") or ""), action, object_id, time_ns, attributes)


class DockerEvents:
    def __init__(
        self,
        docker: DockerAPI,
        filters: Mapping[str, Sequence[str]] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._docker = docker
        self._filters = dict(filters or {"type": ["container", "image"]})
        self._listeners: list[Listener] = []
        self._sleep = sleep
        self.connected = False

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns the function that unregisters it."""
        self._listeners.append(listener)
        if self.connected:
            listener.on_connection(True)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def run(self) -> None:
        """Follow dockerd's events until cancelled, re-subscribing whenever the stream ends."""
        retry = RetryDelay(RETRY_INITIAL_SECONDS, RETRY_MAX_SECONDS)
        with rpc_deadline(None):
            while True:
                try:
                    async for raw in self._docker.events(self._filters, self._opened):
                        retry.reset()
                        event = parse(raw)
                        if event is not None:
                            self._dispatch(event)
                    log.warning("dockerd closed its event stream; re-subscribing")
                except (ShimError, ValueError) as exc:
                    log.warning("docker event stream lost: %s; re-subscribing", exc)
                self._set_connected(False)
                await self._sleep(retry.take())

    def _opened(self) -> None:
        self._set_connected(True)

    def _set_connected(self, connected: bool) -> None:
        if self.connected == connected:
            return
        self.connected = connected
        for listener in list(self._listeners):
            try:
                listener.on_connection(connected)
            except Exception:
                log.exception("event listener failed on a connection change")

    def _dispatch(self, event: DockerEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener.on_event(event)
            except Exception:
                log.exception("event listener failed on %s %s", event.action, event.id[:12])
