"""kubelet-lite's Evented PLEG against a fake runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import cast

import grpc

from criapi.runtime.v1 import api_pb2 as pb
from kubeletlite.pods.pleg import EventedPleg, Pleg
from kubeletlite.runtime.client import RuntimeCallError, RuntimeClient


def event_for(uid: str) -> pb.ContainerEventResponse:
    event = pb.ContainerEventResponse(
        container_id="c", container_event_type=pb.CONTAINER_STOPPED_EVENT
    )
    event.pod_sandbox_status.metadata.uid = uid
    return event


class FakeRuntime:
    """First stream: two events then an error; later streams fail as unimplemented."""

    def __init__(self) -> None:
        self.streams = 0
        self.release = asyncio.Event()
        self.delivered = asyncio.Event()

    async def container_events(
        self, on_open: Callable[[], None]
    ) -> AsyncIterator[pb.ContainerEventResponse]:
        self.streams += 1
        if self.streams > 1:
            raise RuntimeCallError("GetContainerEvents", grpc.StatusCode.UNIMPLEMENTED, "no")
        on_open()
        yield event_for("pod-a")
        yield event_for("pod-b")
        self.delivered.set()  # the consumer has handled both events
        await self.release.wait()
        raise RuntimeCallError("GetContainerEvents", grpc.StatusCode.UNAVAILABLE, "dockerd gone")


def test_relisting_only_uses_the_short_period() -> None:
    assert Pleg().period(1.0, 60.0) == 1.0


async def test_events_wake_their_pod_and_a_lost_stream_falls_back_to_relisting() -> None:
    runtime = FakeRuntime()
    sleeps: list[float] = []
    slept = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        slept.set()
        await asyncio.Event().wait()

    pleg = EventedPleg(cast(RuntimeClient, runtime), sleep=fake_sleep)
    woken: list[str] = []
    pleg.watch("pod-a", lambda: woken.append("a"))
    stop_b = pleg.watch("pod-b", lambda: woken.append("b"))
    stop_b()
    task = asyncio.create_task(pleg.run())
    await asyncio.wait_for(runtime.delivered.wait(), 5)
    assert pleg.events_seen == 2
    assert pleg.healthy
    assert pleg.period(1.0, 60.0) == 60.0
    # "a" once for the stream coming up (relist to catch up), once for its event.
    assert woken == ["a", "a"]
    runtime.release.set()
    await asyncio.wait_for(slept.wait(), 5)
    assert not pleg.healthy
    assert pleg.period(1.0, 60.0) == 1.0
    assert woken == ["a", "a", "a"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
