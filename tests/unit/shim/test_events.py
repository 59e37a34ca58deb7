"""Container event fan-out and the shared Docker subscription, with fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, cast

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim.engine.docker import DockerClient
from shim.errors import DockerAPIError, ResourceExhausted, Unavailable
from shim.monitor.dockerevents import DockerEvent, DockerEvents, parse
from shim.monitor.eventhub import ContainerEventHub, Subscription, event_type
from shim.monitor.imagecache import ImageRefs
from shim.translate import labels


def event(n: int) -> pb.ContainerEventResponse:
    return pb.ContainerEventResponse(container_id=str(n))


async def test_a_slow_client_is_cut_off_not_buffered_forever() -> None:
    sub = Subscription(limit=3)
    for n in range(3):
        sub.offer(event(n))
    assert (await sub.next()).container_id == "0"
    sub.offer(event(3))
    sub.offer(event(4))  # one too many
    with pytest.raises(ResourceExhausted):
        await sub.next()
    sub.offer(event(5))
    assert sub.failure is not None


async def test_losing_dockerd_ends_every_client_with_unavailable() -> None:
    hub = ContainerEventHub(cast(DockerClient, object()), cast(ImageRefs, None))
    with pytest.raises(Unavailable):
        hub.subscribe()
    hub.on_connection(True)
    first, second = hub.subscribe(), hub.subscribe()
    hub.on_connection(False)
    for sub in (first, second):
        with pytest.raises(Unavailable):
            await sub.next()


def test_only_shim_objects_make_cri_events() -> None:
    ours = {labels.TYPE_KEY: labels.TYPE_CONTAINER}
    assert event_type(DockerEvent("container", "die", "x", 1, ours)) == pb.CONTAINER_STOPPED_EVENT
    assert event_type(DockerEvent("container", "kill", "x", 1, ours)) is None
    assert event_type(DockerEvent("container", "die", "x", 1, {})) is None
    assert event_type(DockerEvent("image", "pull", "x", 1, ours)) is None


def test_parse_a_docker_event() -> None:
    raw = {
        "Type": "container",
        "Action": "start",
        "Actor": {"ID": "abc", "Attributes": {"name": "n"}},
        "timeNano": 5,
    }
    assert parse(raw) == DockerEvent("container", "start", "abc", 5, {"name": "n"})
    assert parse({"Type": "container"}) is None


class FlakyDocker:
    """First subscription fails at once, the second yields one event, then ends."""

    def __init__(self) -> None:
        self.subscriptions = 0

    async def events(
        self, filters: Mapping[str, Sequence[str]], on_open: Callable[[], None]
    ) -> AsyncIterator[dict[str, Any]]:
        self.subscriptions += 1
        if self.subscriptions == 1:
            raise DockerAPIError(900, "connection refused")
        on_open()
        yield {"Type": "container", "Action": "start", "Actor": {"ID": "c1"}, "timeNano": 1}


class Recorder:
    def __init__(self) -> None:
        self.log: list[str] = []

    def on_event(self, event: DockerEvent) -> None:
        self.log.append(f"{event.action} {event.id}")

    def on_connection(self, connected: bool) -> None:
        self.log.append("up" if connected else "down")


async def test_the_subscription_comes_back_after_dockerd_restarts() -> None:
    docker = FlakyDocker()
    sleeps: list[float] = []
    done = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 2:
            done.set()
            await asyncio.Event().wait()

    events = DockerEvents(cast(DockerClient, docker), sleep=fake_sleep)
    recorder = Recorder()
    events.add_listener(recorder)
    task = asyncio.create_task(events.run())
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert docker.subscriptions == 2
    assert recorder.log == ["up", "start c1", "down"]
    # Back-off grows between failed attempts and starts over after a working stream.
    assert sleeps[0] < 1


class SlowDocker:
    """Answers inspects never: a build in flight when the hub is shut down."""

    async def inspect_container(self, container_id: str) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError

    async def list_containers(self, filters: object) -> list[dict[str, Any]]:
        await asyncio.Event().wait()
        raise AssertionError


async def test_the_hub_stops_when_cancelled_mid_build() -> None:
    hub = ContainerEventHub(cast(DockerClient, SlowDocker()), cast(ImageRefs, None))
    hub.on_connection(True)
    hub.subscribe()
    attributes = {labels.TYPE_KEY: labels.TYPE_SANDBOX}
    hub.on_event(DockerEvent("container", "start", "s1", 1, attributes))
    task = asyncio.create_task(hub.run())
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
    assert task.cancelled()


class GatedDocker:
    """Inspects of a sandbox wait for its gate; listings are empty."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}

    async def inspect_container(self, container_id: str) -> dict[str, Any]:
        await self.gates.setdefault(container_id, asyncio.Event()).wait()
        raise DockerAPIError(404, "gone")

    async def list_containers(self, filters: object) -> list[dict[str, Any]]:
        return []


def container_event(action: str, container_id: str, sandbox_id: str) -> DockerEvent:
    attributes = {labels.TYPE_KEY: labels.TYPE_CONTAINER, labels.SANDBOX_ID_KEY: sandbox_id}
    return DockerEvent("container", action, container_id, 1, attributes)


async def test_order_is_kept_within_a_pod_and_pods_do_not_wait_for_each_other() -> None:
    docker = GatedDocker()
    hub = ContainerEventHub(cast(DockerClient, docker), cast(ImageRefs, None))
    hub.on_connection(True)
    sub = hub.subscribe()
    runner = asyncio.create_task(hub.run())
    hub.on_event(container_event("create", "a1", "podA"))
    hub.on_event(container_event("start", "a1", "podA"))
    hub.on_event(container_event("create", "b1", "podB"))
    docker.gates.setdefault("podB", asyncio.Event()).set()
    first = await asyncio.wait_for(sub.next(), 5)
    assert first.container_id == "b1"
    docker.gates.setdefault("podA", asyncio.Event()).set()
    kinds = [(await asyncio.wait_for(sub.next(), 5)).container_event_type for _ in range(2)]
    assert kinds == [pb.CONTAINER_CREATED_EVENT, pb.CONTAINER_STARTED_EVENT]
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
