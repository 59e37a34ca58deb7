"""The listing cache over the recording fake Docker: seeding, event updates, re-seeding
after a lost event stream, filters evaluated in memory as dockerd evaluates them, and
the shim's own writes listed at once even when dockerd's events lag."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri import containers, sandboxes
from shim.cri.backend import Backend
from shim.errors import DockerAPIError
from shim.monitor import containercache
from shim.monitor.containercache import ContainerCache
from shim.monitor.dockerevents import DockerEvent
from shim.translate import labels
from tests.support import virtualtime
from tests.support.fakedocker import FakeDocker
from tests.support.fakeshim import INFRA_IMAGE, backend_for

BUSYBOX = "127.0.0.1:5000/busybox:1.35"
NAMESPACE = "i8-listcache"


def fake_docker() -> FakeDocker:
    docker = FakeDocker()
    docker.add_image(INFRA_IMAGE)
    docker.add_image(BUSYBOX)
    return docker


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (the fake answers without waiting)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


@asynccontextmanager
async def cached(docker: FakeDocker, **config: Any) -> AsyncIterator[Backend]:
    """A backend whose listing cache follows the fake's events, seeded and synced."""
    backend = backend_for(docker, **config)
    worker = asyncio.create_task(backend.listing_cache.run())
    docker.listeners.append(backend)
    backend.on_connection(True)
    try:
        await until(lambda: backend.listing_cache.synced)
        yield backend
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await backend.logs.close()


def full_listings(docker: FakeDocker) -> int:
    """Docker listings of everything (a seed, or an answer not from the cache): not a
    refresh of a few ids, nor the members of one pod (which StopPodSandbox asks dockerd for)."""
    return sum(
        1
        for call in docker.calls_to("list_containers")
        if "id" not in call.args[0]
        and not any(labels.SANDBOX_ID_KEY in wanted for wanted in call.args[0].get("label", []))
    )


async def run_pod(backend: Backend, name: str, pod_labels: Mapping[str, str] | None = None) -> str:
    config = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, namespace=NAMESPACE, uid=f"uid-{name}"),
        labels=dict(pod_labels or {}),
    )
    response = await sandboxes.run_pod_sandbox(backend, cri.RunPodSandboxRequest(config=config))
    return response.pod_sandbox_id


async def create(
    backend: Backend, pod: str, name: str, container_labels: Mapping[str, str] | None = None
) -> str:
    config = cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=name),
        image=cri.ImageSpec(image=BUSYBOX),
        command=["sleep", "3600"],
        labels=dict(container_labels or {}),
    )
    response = await containers.create_container(
        backend, cri.CreateContainerRequest(pod_sandbox_id=pod, config=config)
    )
    return response.container_id


async def start(backend: Backend, container_id: str) -> None:
    await containers.start_container(backend, cri.StartContainerRequest(container_id=container_id))


async def listed(backend: Backend, **wanted: Any) -> dict[str, int]:
    """Id -> CRI state of what ListContainers answers for the filter ``wanted``."""
    request = cri.ListContainersRequest(filter=cri.ContainerFilter(**wanted))
    response = await containers.list_containers(backend, request)
    return {c.id: c.state for c in response.containers}


async def test_a_seed_lists_what_was_there_before_and_then_listing_costs_no_docker_call() -> None:
    docker = fake_docker()
    before = backend_for(docker)
    pod = await run_pod(before, "seed")
    running = await create(before, pod, "running")
    await start(before, running)
    created = await create(before, pod, "created")
    async with cached(docker) as backend:
        seeded = full_listings(docker)
        calls = len(docker.calls_to("list_containers"))
        assert await listed(backend) == {
            created: cri.CONTAINER_CREATED,
            running: cri.CONTAINER_RUNNING,
        }
        pods = await sandboxes.list_pod_sandbox(backend, cri.ListPodSandboxRequest())
        assert [p.id for p in pods.items] == [pod]
        assert full_listings(docker) == seeded
        assert len(docker.calls_to("list_containers")) == calls
    await before.logs.close()


async def test_changes_behind_the_shims_back_are_listed_once_their_event_arrived() -> None:
    docker = fake_docker()
    other = backend_for(docker)  # another client of the same dockerd
    async with cached(docker) as backend:
        pod = await run_pod(other, "behind")
        container = await create(other, pod, "app")
        # Listed at once: a reader waits for the refresh of the events already received.
        assert await listed(backend) == {container: cri.CONTAINER_CREATED}
        await start(other, container)
        assert await listed(backend) == {container: cri.CONTAINER_RUNNING}
        await docker.stop_container(container, 0)
        assert await listed(backend) == {container: cri.CONTAINER_EXITED}
        await docker.remove_container(container)
        assert await listed(backend) == {}
        # Each burst of events cost one re-listing of the dirty ids, never a full listing.
        assert full_listings(docker) == 1
    await other.logs.close()


async def test_what_an_event_says_of_a_known_object_is_applied_without_asking_dockerd() -> None:
    docker = fake_docker()
    async with cached(docker) as backend:
        pod = await run_pod(backend, "known")
        container = await create(backend, pod, "app")
        await listed(backend)  # the cache has caught up with the create's event
        calls = len(docker.calls_to("list_containers"))
        await docker.start_container(container)  # behind the shim's back, all of it
        assert await listed(backend) == {container: cri.CONTAINER_RUNNING}
        await docker.stop_container(container, 0)
        assert await listed(backend) == {container: cri.CONTAINER_EXITED}
        await docker.remove_container(container)
        assert await listed(backend) == {}
        await docker.stop_container(pod, 0)
        pods = await sandboxes.list_pod_sandbox(backend, cri.ListPodSandboxRequest())
        assert [p.state for p in pods.items] == [cri.SANDBOX_NOTREADY]
        assert len(docker.calls_to("list_containers")) == calls


async def test_the_shims_own_writes_are_listed_when_they_return_even_without_events() -> None:
    docker = fake_docker()
    async with cached(docker) as backend:
        docker.listeners.clear()  # dockerd's events lag behind forever
        pod = await run_pod(backend, "own")
        assert [
            p.state
            for p in (await sandboxes.list_pod_sandbox(backend, cri.ListPodSandboxRequest())).items
        ] == [cri.SANDBOX_READY]
        container = await create(backend, pod, "app")
        assert await listed(backend) == {container: cri.CONTAINER_CREATED}
        await start(backend, container)
        assert await listed(backend) == {container: cri.CONTAINER_RUNNING}
        await containers.stop_container(
            backend, cri.StopContainerRequest(container_id=container, timeout=0)
        )
        assert await listed(backend) == {container: cri.CONTAINER_EXITED}
        await containers.remove_container(
            backend, cri.RemoveContainerRequest(container_id=container)
        )
        assert await listed(backend) == {}
        second = await create(backend, pod, "second")
        await start(backend, second)
        await sandboxes.stop_pod_sandbox(backend, cri.StopPodSandboxRequest(pod_sandbox_id=pod))
        assert await listed(backend) == {second: cri.CONTAINER_EXITED}
        await sandboxes.remove_pod_sandbox(backend, cri.RemovePodSandboxRequest(pod_sandbox_id=pod))
        assert await listed(backend) == {}
        assert (await sandboxes.list_pod_sandbox(backend, cri.ListPodSandboxRequest())).items == []
        # All of it answered from the cache, which never stopped being synced.
        assert backend.listing_cache.synced
        assert full_listings(docker) == 1


async def test_a_lost_event_stream_lists_through_docker_until_the_cache_is_reseeded() -> None:
    docker = fake_docker()
    other = backend_for(docker)
    async with cached(docker) as backend:
        pod = await run_pod(other, "reseed")
        first = await create(other, pod, "first")
        backend.on_connection(False)
        docker.listeners.clear()  # events of the outage are never seen
        await start(other, first)
        second = await create(other, pod, "second")
        listings = full_listings(docker)
        expected = {second: cri.CONTAINER_CREATED, first: cri.CONTAINER_RUNNING}
        assert await listed(backend) == expected  # from dockerd
        assert full_listings(docker) == listings + 1
        backend.on_connection(True)
        await until(lambda: backend.listing_cache.synced)
        listings = full_listings(docker)
        assert await listed(backend) == expected  # from the re-seeded cache
        assert full_listings(docker) == listings
    await other.logs.close()


async def setup_filter_world(backend: Backend) -> dict[str, str]:
    web = await run_pod(backend, "web", {"tier": "front"})
    db = await run_pod(backend, "db", {"tier": "back"})
    ids = {
        "web": web,
        "db": db,
        "running": await create(backend, web, "server", {"role": "server"}),
        "created": await create(backend, web, "sidecar", {"label.role": "x"}),
        "exited": await create(backend, db, "job", {"role": "job"}),
    }
    await start(backend, ids["running"])
    await start(backend, ids["exited"])
    await containers.stop_container(
        backend, cri.StopContainerRequest(container_id=ids["exited"], timeout=0)
    )
    await sandboxes.stop_pod_sandbox(backend, cri.StopPodSandboxRequest(pod_sandbox_id=db))
    return ids


CONTAINER_FILTERS: list[Callable[[dict[str, str]], dict[str, Any]]] = [
    lambda ids: {},
    lambda ids: {"id": ids["running"]},
    lambda ids: {"id": ids["running"][:6]},
    lambda ids: {"id": ids["web"]},  # a sandbox is no container
    lambda ids: {"pod_sandbox_id": ids["web"]},
    lambda ids: {"pod_sandbox_id": ids["db"][:8]},
    lambda ids: {"label_selector": {"role": "server"}},
    lambda ids: {"label_selector": {"label.role": "x"}},
    lambda ids: {"label_selector": {"role": "nobody"}},
    lambda ids: {"state": cri.ContainerStateValue(state=cri.CONTAINER_RUNNING)},
    lambda ids: {"state": cri.ContainerStateValue(state=cri.CONTAINER_CREATED)},
    lambda ids: {"state": cri.ContainerStateValue(state=cri.CONTAINER_EXITED)},
    lambda ids: {"state": cri.ContainerStateValue(state=cri.CONTAINER_UNKNOWN)},
    lambda ids: {
        "pod_sandbox_id": ids["web"],
        "state": cri.ContainerStateValue(state=cri.CONTAINER_CREATED),
    },
]
SANDBOX_FILTERS: list[Callable[[dict[str, str]], dict[str, Any]]] = [
    lambda ids: {},
    lambda ids: {"id": ids["db"][:10]},
    lambda ids: {"id": ids["running"]},  # a container is no sandbox
    lambda ids: {"label_selector": {"tier": "front"}},
    lambda ids: {"state": cri.PodSandboxStateValue(state=cri.SANDBOX_READY)},
    lambda ids: {"state": cri.PodSandboxStateValue(state=cri.SANDBOX_NOTREADY)},
]


@pytest.mark.parametrize("wanted", range(len(CONTAINER_FILTERS)))
async def test_container_filters_answer_from_memory_what_dockerd_answers(wanted: int) -> None:
    docker = fake_docker()
    uncached = backend_for(docker)
    async with cached(docker) as backend:
        ids = await setup_filter_world(backend)
        fields = CONTAINER_FILTERS[wanted](ids)
        listings = full_listings(docker)
        from_cache = await listed(backend, **fields)
        assert full_listings(docker) == listings
        assert from_cache == await listed(uncached, **fields)  # the fake filters as dockerd
    await uncached.logs.close()


@pytest.mark.parametrize("wanted", range(len(SANDBOX_FILTERS)))
async def test_sandbox_filters_answer_from_memory_what_dockerd_answers(wanted: int) -> None:
    docker = fake_docker()
    uncached = backend_for(docker)

    async def pods(backend: Backend, fields: dict[str, Any]) -> list[tuple[str, int]]:
        request = cri.ListPodSandboxRequest(filter=cri.PodSandboxFilter(**fields))
        response = await sandboxes.list_pod_sandbox(backend, request)
        return sorted((p.id, p.state) for p in response.items)

    async with cached(docker) as backend:
        ids = await setup_filter_world(backend)
        fields = SANDBOX_FILTERS[wanted](ids)
        listings = full_listings(docker)
        from_cache = await pods(backend, fields)
        assert full_listings(docker) == listings
        assert from_cache == await pods(uncached, fields)
    await uncached.logs.close()


async def test_an_instance_lists_only_its_own_objects_from_the_cache() -> None:
    docker = fake_docker()
    stranger = backend_for(docker, instance="other")
    async with cached(docker, instance="mine") as backend:
        pod = await run_pod(stranger, "theirs")
        await create(stranger, pod, "app")
        mine = await run_pod(backend, "mine")
        container = await create(backend, mine, "app")
        assert await listed(backend) == {container: cri.CONTAINER_CREATED}
    await stranger.logs.close()


async def test_converted_messages_are_reused_until_their_container_changes() -> None:
    docker = fake_docker()
    async with cached(docker) as backend:
        pod = await run_pod(backend, "reuse")
        container = await create(backend, pod, "app")
        entry = next(e for e in await backend.list_owned({}) if e["Id"] == container)
        refs = await backend.image_refs.all()
        first = backend.listing_cache.container(entry, refs)
        assert backend.listing_cache.container(entry, refs) is first
        await start(backend, container)
        entry = next(e for e in await backend.list_owned({}) if e["Id"] == container)
        changed = backend.listing_cache.container(entry, refs)
        assert changed is not first
        assert changed.state == cri.CONTAINER_RUNNING


# -- the cache alone, over a source whose listings the test releases ---------------------


class GatedSource:
    """Each listing answers what ``state`` holds when the test releases it."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        self.gates: list[asyncio.Event] = []
        self.calls: list[dict[str, list[str]]] = []

    async def list_containers(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        self.calls.append({k: list(v) for k, v in filters.items()})
        gate = asyncio.Event()
        self.gates.append(gate)
        ids = filters.get("id")
        await gate.wait()
        return [
            {"Id": i, "State": s, "Labels": {labels.TYPE_KEY: labels.TYPE_CONTAINER}}
            for i, s in self.state.items()
            if ids is None or i in ids
        ]


def event(object_id: str, action: str = "die") -> DockerEvent:
    return DockerEvent("container", action, object_id, 0, {labels.TYPE_KEY: labels.TYPE_CONTAINER})


async def seeded(source: GatedSource) -> tuple[ContainerCache, asyncio.Task[None]]:
    cache = ContainerCache(source)
    worker = asyncio.create_task(cache.run())
    cache.on_connection(True)
    await until(lambda: len(source.gates) == 1)
    source.gates[0].set()
    await until(lambda: cache.synced)
    return cache, worker


async def test_a_refresh_that_started_earlier_never_overwrites_a_later_one() -> None:
    source = GatedSource()
    source.state["c1"] = "running"
    cache, worker = await seeded(source)
    early = asyncio.create_task(cache.refresh(["c1"]))  # will answer "running"
    await until(lambda: len(source.gates) == 2)
    source.state["c1"] = "exited"
    late = asyncio.create_task(cache.refresh(["c1"]))
    await until(lambda: len(source.gates) == 3)
    source.gates[2].set()
    await late
    source.state["c1"] = "running"  # what the early listing now answers, out of date
    source.gates[1].set()
    await early
    assert [e["State"] for e in await cache.entries() or []] == ["exited"]
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)


def test_a_reader_waits_for_received_events_and_lists_through_docker_if_they_stall() -> None:
    async def main() -> tuple[list[dict[str, Any]] | None, float]:
        source = GatedSource()
        source.state["c1"] = "running"
        cache, worker = await seeded(source)
        cache.on_event(event("c2", "create"))  # new: its re-listing never answers
        found = await cache.entries()
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        return found, virtualtime.now()

    found, waited = virtualtime.run(main())
    assert found is None
    assert waited == pytest.approx(containercache.CATCH_UP_SECONDS)


async def test_more_dirty_ids_than_the_bound_reseed_instead_of_growing() -> None:
    source = GatedSource()
    cache, worker = await seeded(source)
    worker.cancel()  # events pile up with nobody re-listing them
    await asyncio.gather(worker, return_exceptions=True)
    for number in range(containercache.DIRTY_LIMIT + 1):
        cache.on_event(event(f"c{number}", "create"))
    assert not cache.synced
    assert await cache.entries() is None
    source.state = {"c1": "created"}
    worker = asyncio.create_task(cache.run())
    await until(lambda: len(source.gates) == 2)
    assert source.calls[1] == {"label": [labels.TYPE_KEY]}  # a full listing
    source.gates[1].set()
    await until(lambda: cache.synced)
    assert [e["Id"] for e in await cache.entries() or []] == ["c1"]
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)


def test_a_failed_refresh_lists_through_docker_until_the_worker_has_reseeded() -> None:
    async def main() -> None:
        docker = fake_docker()
        other = backend_for(docker)
        async with cached(docker) as backend:
            pod = await run_pod(other, "failing")
            docker.listeners.clear()
            container = await create(other, pod, "app")
            docker.fail["list_containers"] = DockerAPIError(500, "dockerd is busy")
            backend.on_event(event(container, "create"))  # its re-listing fails
            await until(lambda: not backend.listing_cache.synced)
            listings = full_listings(docker)
            assert await listed(backend) == {container: cri.CONTAINER_CREATED}  # from dockerd
            assert full_listings(docker) == listings + 1
            await asyncio.sleep(containercache.RETRY_INITIAL_SECONDS)  # the worker's back-off
            await until(lambda: backend.listing_cache.synced)
            listings = full_listings(docker)
            assert await listed(backend) == {container: cri.CONTAINER_CREATED}  # cached again
            assert full_listings(docker) == listings
        await other.logs.close()

    virtualtime.run(main())
