"""GetContainerEvents against the real dockerd, with a grpc.aio client."""

from __future__ import annotations

import asyncio

import grpc

from criapi.runtime.v1 import api_pb2 as pb
from tests.support.cri import Workspace

TIMEOUT = 60.0


async def next_for(
    stream: grpc.aio.UnaryStreamCall[pb.GetEventsRequest, pb.ContainerEventResponse],
    object_id: str,
) -> pb.ContainerEventResponse:
    """The next event about ``object_id`` (other tests' events share the stream)."""
    while True:
        event = await stream.read()
        assert event is not grpc.aio.EOF
        if event.container_id == object_id:
            return event


async def test_a_container_life_is_streamed_with_its_pod(workspace: Workspace) -> None:
    stream = workspace.cri.runtime.GetContainerEvents(pb.GetEventsRequest())
    try:
        async with asyncio.timeout(TIMEOUT):
            pod_id, pod = await workspace.run_pod(name="events")
            created = await next_for(stream, pod_id)
            assert created.container_event_type == pb.CONTAINER_CREATED_EVENT
            started = await next_for(stream, pod_id)
            assert started.container_event_type == pb.CONTAINER_STARTED_EVENT
            assert started.pod_sandbox_status.id == pod_id
            assert started.pod_sandbox_status.state == pb.SANDBOX_READY

            config = workspace.container_config("app", ["sleep", "3600"])
            container_id = await workspace.run_container(pod_id, pod, config)
            await workspace.cri.runtime.StopContainer(
                pb.StopContainerRequest(container_id=container_id, timeout=0)
            )
            await workspace.cri.runtime.RemoveContainer(
                pb.RemoveContainerRequest(container_id=container_id)
            )
            seen = [await next_for(stream, container_id) for _ in range(4)]
    finally:
        stream.cancel()
    assert [e.container_event_type for e in seen] == [
        pb.CONTAINER_CREATED_EVENT,
        pb.CONTAINER_STARTED_EVENT,
        pb.CONTAINER_STOPPED_EVENT,
        pb.CONTAINER_DELETED_EVENT,
    ]
    assert all(e.pod_sandbox_status.metadata.name == "events" for e in seen)
    assert all(e.created_at > 0 for e in seen)
    # Statuses are read when the event is served (as upstream runtimes do), so only
    # what follows the stop is certain: never running again, then gone.
    exited = [s for s in seen[2].containers_statuses if s.id == container_id]
    assert all(s.state == pb.CONTAINER_EXITED for s in exited)
    assert not [s for s in seen[3].containers_statuses if s.id == container_id]
