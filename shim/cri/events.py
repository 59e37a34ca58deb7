"""GetContainerEvents: one client's stream of the hub's container events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri.backend import Backend
from shim.monitor.eventhub import ContainerEventHub, Subscription


async def get_container_events(
    backend: Backend, request: cri.GetEventsRequest
) -> AsyncIterator[cri.ContainerEventResponse]:
    """Subscribe now (UNAVAILABLE when dockerd's events are not followed); stream afterwards."""
    return _follow(backend.events, backend.events.subscribe())


async def _follow(
    hub: ContainerEventHub, subscription: Subscription
) -> AsyncIterator[cri.ContainerEventResponse]:
    try:
        while True:
            yield await subscription.next()
    finally:
        hub.unsubscribe(subscription)
