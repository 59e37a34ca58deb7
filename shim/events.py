"""GetContainerEvents: one client's stream of the hub's container events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from criapi.runtime.v1 import api_pb2 as cri
from shim.backend import Backend


async def get_container_events(
    backend: Backend, request: cri.GetEventsRequest
) -> AsyncIterator[cri.ContainerEventResponse]:
    subscription = backend.events.subscribe()
    try:
        while True:
            yield await subscription.next()
    finally:
        backend.events.unsubscribe(subscription)
