"""The caches that keep Docker round trips off the hot paths, with recording fakes for dockerd.

- ImageRefs: image id -> reference behind ListContainers and ContainerStatus.
- EngineMonitor: what Version and Status report.
- Backend.owned_id: stop and remove of an id the shim already knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from shim.config import ShimConfig
from shim.cri.backend import Backend
from shim.engine import docker
from shim.errors import DOCKER_UNREACHABLE, DockerAPIError
from shim.monitor.dockerevents import DockerEvent
from shim.monitor.enginestate import EngineMonitor
from shim.monitor.imagecache import ImageRefs

BUSYBOX_ID = "sha256:" + "b" * 64
PAUSE_ID = "sha256:" + "p" * 64
DIGEST = "sha256:" + "d" * 64


class FakeImages:
    def __init__(self) -> None:
        self.images = [
            {"Id": BUSYBOX_ID, "RepoDigests": [f"busybox@{DIGEST}"], "RepoTags": ["busybox:1"]},
            {"Id": PAUSE_ID, "RepoDigests": [], "RepoTags": ["registry.k8s.io/pause:3.10"]},
        ]
        self.calls: list[str] = []
        self.gate: asyncio.Event | None = None

    async def list_images(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[Any]:
        self.calls.append("list")
        if self.gate is not None:
            await self.gate.wait()
        return list(self.images)

    async def inspect_image(self, ref: str) -> dict[str, Any] | None:
        self.calls.append(f"inspect {ref}")
        for image in self.images:
            if ref == image["Id"] or ref in image.get("RepoTags", []):
                return image
        return None


async def test_image_refs_list_images_once_until_invalidated() -> None:
    fake = FakeImages()
    refs = ImageRefs(fake)
    assert (await refs.all())[BUSYBOX_ID] == f"docker.io/library/busybox@{DIGEST}"
    assert (await refs.all())[PAUSE_ID] == PAUSE_ID
    assert fake.calls == ["list"]
    refs.invalidate()
    await refs.all()
    assert fake.calls == ["list", "list"]


async def test_only_image_events_invalidate_the_map() -> None:
    fake = FakeImages()
    refs = ImageRefs(fake)
    await refs.all()
    refs.on_event(DockerEvent("container", "start", "x", 0))
    await refs.all()
    assert fake.calls == ["list"]
    refs.on_event(DockerEvent("image", "untag", "x", 0))
    await refs.all()
    assert fake.calls == ["list", "list"]


async def test_concurrent_callers_share_one_listing() -> None:
    fake = FakeImages()
    fake.gate = asyncio.Event()
    refs = ImageRefs(fake)
    waiting = [asyncio.create_task(refs.all()) for _ in range(5)]
    await asyncio.sleep(0)
    fake.gate.set()
    results = await asyncio.gather(*waiting)
    assert fake.calls == ["list"]
    assert all(r == results[0] for r in results)


async def test_a_listing_overtaken_by_an_invalidation_is_not_kept() -> None:
    fake = FakeImages()
    fake.gate = asyncio.Event()
    refs = ImageRefs(fake)
    first = asyncio.create_task(refs.all())
    await asyncio.sleep(0)
    refs.invalidate()  # e.g. an image was removed while the listing was under way
    fake.gate.set()
    await first
    await refs.all()
    assert fake.calls == ["list", "list"]


async def test_an_id_missing_from_the_map_is_inspected_and_unknown_ids_stay_ids() -> None:
    fake = FakeImages()
    refs = ImageRefs(fake)
    await refs.all()
    fake.images.append({"Id": "sha256:" + "n" * 64, "RepoDigests": [f"new@{DIGEST}"]})
    assert await refs.ref_of("sha256:" + "n" * 64) == f"docker.io/library/new@{DIGEST}"
    assert await refs.ref_of("sha256:" + "g" * 64) == "sha256:" + "g" * 64
    assert fake.calls == ["list", f"inspect sha256:{'n' * 64}", f"inspect sha256:{'g' * 64}"]


async def test_exists_remembers_present_images_until_invalidated() -> None:
    fake = FakeImages()
    refs = ImageRefs(fake)
    assert await refs.exists("registry.k8s.io/pause:3.10")
    assert await refs.exists("registry.k8s.io/pause:3.10")
    assert not await refs.exists("missing:1")
    assert not await refs.exists("missing:1")
    assert fake.calls == ["inspect registry.k8s.io/pause:3.10", *["inspect missing:1"] * 2]
    refs.invalidate()
    await refs.exists("registry.k8s.io/pause:3.10")
    assert fake.calls[-1] == "inspect registry.k8s.io/pause:3.10"
    assert len(fake.calls) == 4


class FakeEngine:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.server_version = "20.10.24"
        self.down: str | None = None
        self.networks = {"bridge"}

    async def ping(self) -> str:
        self.calls.append("ping")
        if self.down:
            raise DockerAPIError(DOCKER_UNREACHABLE, self.down)
        return self.server_version

    async def version(self) -> dict[str, Any]:
        self.calls.append("version")
        return {"Version": "24.0.0"}

    async def network_exists(self, name: str) -> bool:
        self.calls.append(f"network {name}")
        return name in self.networks


async def test_engine_state_is_asked_once_then_served_from_memory() -> None:
    fake = FakeEngine()
    monitor = EngineMonitor(fake, "bridge")
    for _ in range(3):
        state = await monitor.current()
        assert state.version == "20.10.24"
        assert state.runtime.ready
        assert state.network.ready
    assert fake.calls == ["ping", "network bridge"]


async def test_a_refresh_sees_dockerd_go_down_and_keeps_the_version() -> None:
    fake = FakeEngine()
    monitor = EngineMonitor(fake, "bridge")
    await monitor.refresh()
    fake.down = "connection refused"
    state = await monitor.refresh()
    assert not state.runtime.ready
    assert state.runtime.reason == "DockerDaemonNotReady"
    assert state.runtime.message == "connection refused"
    assert not state.network.ready
    assert state.version == "20.10.24"


async def test_missing_pod_network_and_version_fallback() -> None:
    fake = FakeEngine()
    fake.server_version = ""  # an engine whose _ping has no Server header
    monitor = EngineMonitor(fake, "podnet")
    state = await monitor.current()
    assert state.version == "24.0.0"
    assert (state.network.ready, state.network.reason) == (False, "NetworkMissing")
    assert "podnet" in state.network.message


@pytest.mark.parametrize(
    ("header", "version"),
    [
        ("Docker/20.10.24+dfsg1 (linux)", "20.10.24+dfsg1"),
        ("Docker/27.3.1 (linux)", "27.3.1"),
        ("nginx", ""),
        ("", ""),
    ],
)
def test_engine_version_from_the_server_header(header: str, version: str) -> None:
    assert docker._engine_version(header) == version


class FakeContainers:
    def __init__(self) -> None:
        self.inspected: list[str] = []
        self.objects = {
            "c" * 64: {
                "Id": "c" * 64,
                "Config": {"Labels": {"io.kubernetes.docker.type": "container"}},
            }
        }

    async def list_containers(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        return list(self.objects.values())

    async def inspect_container(self, object_id: str) -> dict[str, Any]:
        self.inspected.append(object_id)
        for full, inspect in self.objects.items():
            if full.startswith(object_id):
                return inspect
        raise DockerAPIError(404, f"No such container: {object_id}")


def backend_with(fake: FakeContainers) -> Backend:
    return Backend(
        docker=fake,  # type: ignore[arg-type]
        config=ShimConfig(),
        logs=None,  # type: ignore[arg-type]
        oom=None,  # type: ignore[arg-type]
        privileges=None,  # type: ignore[arg-type]
        stats=None,  # type: ignore[arg-type]
        events=None,  # type: ignore[arg-type]
        image_refs=ImageRefs(fake),  # type: ignore[arg-type]
    )


async def test_owned_id_inspects_an_id_only_the_first_time() -> None:
    fake = FakeContainers()
    backend = backend_with(fake)
    cid = "c" * 64
    assert await backend.owned_id(cid, "container", "container_id") == cid
    assert await backend.owned_id(cid, "container", "container_id") == cid
    assert fake.inspected == [cid]


async def test_owned_id_checks_the_kind_and_resolves_prefixes_by_inspecting() -> None:
    fake = FakeContainers()
    backend = backend_with(fake)
    cid = "c" * 64
    assert await backend.owned_id(cid, "podsandbox", "pod_sandbox_id") is None
    assert await backend.owned_id(cid, "podsandbox", "pod_sandbox_id") is None
    assert await backend.owned_id(cid[:12], "container", "container_id") == cid
    assert await backend.owned_id(cid[:12], "container", "container_id") == cid
    assert fake.inspected == [cid, cid, cid[:12], cid[:12]]


async def test_a_forgotten_id_is_inspected_again() -> None:
    fake = FakeContainers()
    backend = backend_with(fake)
    cid = "c" * 64
    await backend.owned_id(cid, "container", "container_id")
    backend.forget(cid)
    del fake.objects[cid]
    assert await backend.owned_id(cid, "container", "container_id") is None
    assert fake.inspected == [cid, cid]


def test_a_created_container_is_fresh_once_and_not_after_removal() -> None:
    backend = backend_with(FakeContainers())
    backend.note_created("a" * 64, "app/0.log", False)
    backend.note_created("b" * 64, "", True)
    assert backend.take_fresh("a" * 64) == ("app/0.log", False)
    assert backend.take_fresh("a" * 64) is None  # a second start must inspect
    backend.forget("b" * 64)
    assert backend.take_fresh("b" * 64) is None


def test_a_started_sandbox_is_ready_until_stopped_removed_or_seen_to_die() -> None:
    backend = backend_with(FakeContainers())
    for sandbox_id in ("1" * 64, "2" * 64, "3" * 64):
        backend.note_sandbox_ready(sandbox_id, {"io.kubernetes.docker.type": "podsandbox"}, "")
    ready = backend.ready_sandbox("1" * 64)
    assert ready is not None
    assert ready["State"]["Running"] is True
    assert ready["Config"]["Labels"] == {"io.kubernetes.docker.type": "podsandbox"}
    backend.sandbox_not_ready("1" * 64)  # StopPodSandbox
    backend.forget("2" * 64)  # RemovePodSandbox
    backend.on_event(DockerEvent("container", "start", "3" * 64, 0))
    assert backend.ready_sandbox("3" * 64) is not None
    backend.on_event(DockerEvent("container", "die", "3" * 64, 0))
    assert [backend.ready_sandbox(s * 64) for s in "123"] == [None, None, None]


async def test_backend_events_reach_the_image_map() -> None:
    backend = backend_with(FakeContainers())
    fake = FakeImages()
    backend.image_refs = ImageRefs(fake)
    await backend.image_refs.all()
    backend.on_event(DockerEvent("image", "delete", BUSYBOX_ID, 0))
    await backend.image_refs.all()
    assert fake.calls == ["list", "list"]


async def test_a_lost_event_stream_drops_what_events_kept_true() -> None:
    backend = backend_with(FakeContainers())
    fake = FakeImages()
    backend.image_refs = ImageRefs(fake)
    await backend.image_refs.all()
    backend.note_sandbox_ready("4" * 64, {}, "")
    backend.on_connection(True)
    assert backend.ready_sandbox("4" * 64) is not None
    backend.on_connection(False)
    await backend.image_refs.all()
    assert backend.ready_sandbox("4" * 64) is None
    assert fake.calls == ["list", "list"]
