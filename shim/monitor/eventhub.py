"""CRI container events built from dockerd's, fanned out to every GetContainerEvents client.

The hub (run by the daemon, never by an RPC) turns each Docker event about a
shim-owned sandbox or container into a ``ContainerEventResponse`` carrying
the pod's sandbox status and its containers' statuses, and offers it to
every client, in dockerd's order within each pod.
Each client has a bounded buffer: one that falls behind is ended with
RESOURCE_EXHAUSTED instead of growing memory. When the Docker event stream
is lost (dockerd restarts), every client is ended with UNAVAILABLE; a client
that re-subscribes and relists once has missed nothing.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from criapi.runtime.v1 import api_pb2 as cri
from shim.deadline import rpc_deadline
from shim.engine.dockerapi import JSON, DockerAPI
from shim.errors import DockerAPIError, ResourceExhausted, ShimError, Unavailable
from shim.monitor.dockerevents import DockerEvent
from shim.monitor.imagecache import ImageRefs
from shim.translate import convert, labels

log = logging.getLogger(__name__)

# Events one client may have waiting before it is cut off.
CLIENT_BUFFER = 1000
# Docker events being turned into CRI events (all clients share them).
BACKLOG = 10_000
BUILD_CONCURRENCY = 16
# Image documents kept for statuses (image ids are content addressed; bounded anyway).

EVENT_TYPES = {
    "create": cri.CONTAINER_CREATED_EVENT,
    "start": cri.CONTAINER_STARTED_EVENT,
    "die": cri.CONTAINER_STOPPED_EVENT,
    "destroy": cri.CONTAINER_DELETED_EVENT,
}


class Subscription:
    """One client's bounded queue of events, ended by an error once it fails."""

    def __init__(self, limit: int) -> None:
        self._items: collections.deque[cri.ContainerEventResponse] = collections.deque()
        self._limit = limit
        self._wake = asyncio.Event()
        self.failure: ShimError | None = None

    def offer(self, event: cri.ContainerEventResponse) -> None:
        if self.failure is not None:
            return
        if len(self._items) >= self._limit:
            self.fail(
                ResourceExhausted(
                    f"client fell {self._limit} container events behind; subscribe again and relist"
                )
            )
            return
        self._items.append(event)
        self._wake.set()

    def fail(self, error: ShimError) -> None:
        if self.failure is None:
            self.failure = error
            self._items.clear()
            self._wake.set()

    async def next(self) -> cri.ContainerEventResponse:
        while not self._items:
            if self.failure is not None:
                raise self.failure
            self._wake.clear()
            await self._wake.wait()
        return self._items.popleft()


def pod_key(event: DockerEvent) -> str:
    """The sandbox an event is about (its own id for a sandbox's events)."""
    if event.attributes.get(labels.TYPE_KEY) == labels.TYPE_SANDBOX:
        return event.id
    return event.attributes.get(labels.SANDBOX_ID_KEY) or event.id


def event_type(event: DockerEvent) -> cri.ContainerEventType.ValueType | None:
    """The CRI event for a Docker one about a shim-owned object; None for anything else."""
    if event.type != "container":
        return None
    if event.attributes.get(labels.TYPE_KEY) not in (labels.TYPE_SANDBOX, labels.TYPE_CONTAINER):
        return None
    return EVENT_TYPES.get(event.action)


class ContainerEventHub:
    """A :class:`shim.monitor.dockerevents.Listener` serving GetContainerEvents clients."""

    def __init__(
        self,
        docker: DockerAPI,
        image_refs: ImageRefs,
        instance: str = "",
        client_buffer: int = CLIENT_BUFFER,
    ) -> None:
        self._docker = docker
        self._image_refs = image_refs
        self._instance = instance
        self._client_buffer = client_buffer
        self._subscriptions: set[Subscription] = set()
        # Events are built concurrently (each takes a few Docker calls) and served in
        # dockerd's order within each pod; one pod's slow build never holds up another's.
        self._inflight: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._building = asyncio.Semaphore(BUILD_CONCURRENCY)
        self.connected = False

    # -- Listener -------------------------------------------------------------------

    def on_connection(self, connected: bool) -> None:
        self.connected = connected
        if not connected:
            self._end_all(Unavailable("dockerd's event stream was lost; subscribe again"))

    def on_event(self, event: DockerEvent) -> None:
        if not self._subscriptions or event_type(event) is None:
            return
        if not labels.in_scope(event.attributes, self._instance):
            return
        if len(self._inflight) >= BACKLOG:
            self._end_all(ResourceExhausted("container events arrive faster than they are served"))
            return
        key = pod_key(event)
        task = asyncio.create_task(self._serve(event, self._tails.get(key)))
        self._tails[key] = task
        self._inflight.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    # -- clients --------------------------------------------------------------------

    def subscribe(self) -> Subscription:
        if not self.connected:
            raise Unavailable("not subscribed to dockerd's events (is dockerd running?)")
        subscription = Subscription(self._client_buffer)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every client's stream, so that a graceful shutdown need not wait for them."""
        self.connected = False
        self._end_all(Unavailable("cri-shim is shutting down"))

    def _end_all(self, error: ShimError) -> None:
        for subscription in self._subscriptions:
            subscription.fail(error)
        self._subscriptions.clear()
        for task in list(self._inflight):
            task.cancel()

    # -- the worker -----------------------------------------------------------------

    async def run(self) -> None:
        """Own the event builds: they end with the hub (at shutdown)."""
        try:
            await asyncio.Event().wait()
        finally:
            for task in list(self._inflight):
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _serve(self, event: DockerEvent, previous: asyncio.Task[None] | None) -> None:
        """Build one event, then offer it once the pod's previous event was offered."""
        response = await self._build_bounded(event)
        if previous is not None:
            await asyncio.wait({previous})
        if response is None:
            return
        for subscription in list(self._subscriptions):
            subscription.offer(response)
            if subscription.failure is not None:
                self._subscriptions.discard(subscription)

    async def _build_bounded(self, event: DockerEvent) -> cri.ContainerEventResponse | None:
        async with self._building:
            try:
                with rpc_deadline(None):
                    return await self._build(event)
            except ShimError as exc:
                log.warning("container event for %s: %s", event.id[:12], exc.message)
                return None
            except Exception:
                # A bug must cost one event, never the stream of every client.
                log.exception("building the container event for %s failed", event.id[:12])
                return None

    async def _build(self, event: DockerEvent) -> cri.ContainerEventResponse | None:
        kind = event_type(event)
        if kind is None:
            return None
        is_sandbox = event.attributes.get(labels.TYPE_KEY) == labels.TYPE_SANDBOX
        sandbox_id = event.id if is_sandbox else event.attributes.get(labels.SANDBOX_ID_KEY, "")
        response = cri.ContainerEventResponse(
            container_id=event.id, container_event_type=kind, created_at=event.time_ns
        )
        if not sandbox_id:
            return response
        # Independent reads, so one round trip to dockerd rather than two.
        sandbox, statuses = await asyncio.gather(
            self._inspect(sandbox_id), self._statuses(sandbox_id)
        )
        if sandbox is not None:
            response.pod_sandbox_status.CopyFrom(convert.pod_sandbox_status(sandbox))
        response.containers_statuses.extend(statuses)
        return response

    async def _statuses(self, sandbox_id: str) -> list[cri.ContainerStatus]:
        members = await self._docker.list_containers(
            {
                "label": [
                    f"{labels.TYPE_KEY}={labels.TYPE_CONTAINER}",
                    f"{labels.SANDBOX_ID_KEY}={sandbox_id}",
                    *labels.scope_filters(self._instance),
                ]
            }
        )
        inspects = [
            i for i in await asyncio.gather(*(self._inspect(m["Id"]) for m in members)) if i
        ]
        return [
            convert.container_status(i, await self._image_refs.ref_of(i["Image"])) for i in inspects
        ]

    async def _inspect(self, object_id: str) -> JSON | None:
        try:
            return await self._docker.inspect_container(object_id)
        except DockerAPIError as exc:
            if exc.is_not_found:
                return None
            raise
