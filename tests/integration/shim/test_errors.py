"""The error boundary: every bad request gets a precise status, changes nothing,
and leaves the daemon serving."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support import env
from tests.support.cri import TEST_LABEL, CriClient, Workspace, rpc_error
from tests.support.processes import ShimProcess, short_socket_dir

# RPCs that address one object by id, each with an otherwise valid request.
SANDBOX_RPCS: dict[str, Callable[[CriClient, str], Awaitable[Any]]] = {
    "PodSandboxStatus": lambda c, i: c.runtime.PodSandboxStatus(
        pb.PodSandboxStatusRequest(pod_sandbox_id=i)
    ),
    "PodSandboxStats": lambda c, i: c.runtime.PodSandboxStats(
        pb.PodSandboxStatsRequest(pod_sandbox_id=i)
    ),
}
CONTAINER_RPCS: dict[str, Callable[[CriClient, str], Awaitable[Any]]] = {
    "ContainerStatus": lambda c, i: c.runtime.ContainerStatus(
        pb.ContainerStatusRequest(container_id=i)
    ),
    "StartContainer": lambda c, i: c.runtime.StartContainer(
        pb.StartContainerRequest(container_id=i)
    ),
    "UpdateContainerResources": lambda c, i: c.runtime.UpdateContainerResources(
        pb.UpdateContainerResourcesRequest(
            container_id=i, linux=pb.LinuxContainerResources(cpu_shares=512)
        )
    ),
    "ReopenContainerLog": lambda c, i: c.runtime.ReopenContainerLog(
        pb.ReopenContainerLogRequest(container_id=i)
    ),
    "ExecSync": lambda c, i: c.runtime.ExecSync(pb.ExecSyncRequest(container_id=i, cmd=["true"])),
    "ContainerStats": lambda c, i: c.runtime.ContainerStats(
        pb.ContainerStatsRequest(container_id=i)
    ),
}
# Stop and remove are idempotent: an unknown id is already stopped and removed.
IDEMPOTENT_RPCS: dict[str, Callable[[CriClient, str], Awaitable[Any]]] = {
    "StopContainer": lambda c, i: c.runtime.StopContainer(pb.StopContainerRequest(container_id=i)),
    "RemoveContainer": lambda c, i: c.runtime.RemoveContainer(
        pb.RemoveContainerRequest(container_id=i)
    ),
    "StopPodSandbox": lambda c, i: c.runtime.StopPodSandbox(
        pb.StopPodSandboxRequest(pod_sandbox_id=i)
    ),
    "RemovePodSandbox": lambda c, i: c.runtime.RemovePodSandbox(
        pb.RemovePodSandboxRequest(pod_sandbox_id=i)
    ),
}
BY_ID_RPCS = {**SANDBOX_RPCS, **CONTAINER_RPCS}

UNIMPLEMENTED: dict[str, Callable[[CriClient], Any]] = {
    "CheckpointContainer": lambda c: c.runtime.CheckpointContainer(
        pb.CheckpointContainerRequest(container_id="x")
    ),
    "UpdatePodSandboxResources": lambda c: c.runtime.UpdatePodSandboxResources(
        pb.UpdatePodSandboxResourcesRequest(pod_sandbox_id="x")
    ),
}

UNKNOWN_ID = "0123456789abcdef" * 4
# Strings that are no Docker id or name; some would read as other API paths.
ODD_IDS = [
    "a/b",
    ".",
    "..",
    "/",
    "%2F",
    "x?all=1",
    "\n",
    " ",
    "ü",
    "../containers/json",
    "a" * 20000,
]
CLIENT_FAULT_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


class Scene:
    """A ready sandbox with one running container, and the lists of this test's objects."""

    def __init__(self, workspace: Workspace, pod_id: str, pod: pb.PodSandboxConfig) -> None:
        self.workspace = workspace
        self.cri = workspace.cri
        self.pod_id = pod_id
        self.pod = pod
        self.container_id = ""

    def selector(self) -> dict[str, str]:
        return {TEST_LABEL: self.workspace.tag}

    async def snapshot(self) -> tuple[bytes, ...]:
        """Everything a bad request might change, serialized."""
        sandboxes = await self.cri.runtime.ListPodSandbox(
            pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector=self.selector()))
        )
        containers = await self.cri.runtime.ListContainers(
            pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector=self.selector()))
        )
        status = await self.cri.runtime.ContainerStatus(
            pb.ContainerStatusRequest(container_id=self.container_id, verbose=True)
        )
        return tuple(
            message.SerializeToString(deterministic=True)
            for message in (sandboxes, containers, status)
        )


@pytest.fixture
async def scene(workspace: Workspace) -> Scene:
    pod_id, pod = await workspace.run_pod()
    scene = Scene(workspace, pod_id, pod)
    scene.container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("steady", ["sleep", "3600"])
    )
    return scene


async def expect_error(
    scene: Scene, call: Callable[[], Awaitable[Any]], code: grpc.StatusCode, *needles: str
) -> grpc.aio.AioRpcError:
    """``call()`` fails with ``code``, its message names ``needles``, and nothing changed.

    ``call`` makes the request only when called: a grpc.aio call starts as soon as it exists.
    """
    before = await scene.snapshot()
    error = await rpc_error(call())
    assert error.code() == code, error.details()
    for needle in needles:
        assert needle in error.details()
    assert await scene.snapshot() == before
    return error


async def outcome(call: Callable[[], Awaitable[Any]]) -> tuple[grpc.StatusCode, str]:
    """The status a call ends with, success included."""
    try:
        await call()
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


# -- unknown, empty and mismatched ids ------------------------------------------------
# One scene per test, many requests per scene: a scene costs a sandbox and a container.


async def test_an_unknown_id_is_not_found(scene: Scene) -> None:
    for rpc, make in BY_ID_RPCS.items():
        error = await expect_error(
            scene, lambda make=make: make(scene.cri, UNKNOWN_ID), grpc.StatusCode.NOT_FOUND
        )
        assert UNKNOWN_ID in error.details(), rpc


async def test_an_empty_id_is_invalid(scene: Scene) -> None:
    for rpc, make in {**BY_ID_RPCS, **IDEMPOTENT_RPCS}.items():
        field = "pod_sandbox_id" if "PodSandbox" in rpc else "container_id"
        await expect_error(
            scene, lambda make=make: make(scene.cri, ""), grpc.StatusCode.INVALID_ARGUMENT, field
        )


async def test_stop_and_remove_of_an_unknown_id_succeed(scene: Scene) -> None:
    before = await scene.snapshot()

    for make in IDEMPOTENT_RPCS.values():
        await make(scene.cri, UNKNOWN_ID)

    assert await scene.snapshot() == before


async def test_each_kind_of_rpc_refuses_the_other_kind_of_id(scene: Scene) -> None:
    for make in CONTAINER_RPCS.values():
        await expect_error(
            scene, lambda make=make: make(scene.cri, scene.pod_id), grpc.StatusCode.NOT_FOUND
        )
    for make in SANDBOX_RPCS.values():
        await expect_error(
            scene, lambda make=make: make(scene.cri, scene.container_id), grpc.StatusCode.NOT_FOUND
        )
    config = scene.workspace.container_config("orphan", ["true"])
    request = pb.CreateContainerRequest(
        pod_sandbox_id=scene.container_id, config=config, sandbox_config=scene.pod
    )
    await expect_error(
        scene, lambda: scene.cri.runtime.CreateContainer(request), grpc.StatusCode.NOT_FOUND
    )


async def test_stop_and_remove_with_the_other_kind_of_id_touch_nothing(scene: Scene) -> None:
    before = await scene.snapshot()

    await IDEMPOTENT_RPCS["StopContainer"](scene.cri, scene.pod_id)
    await IDEMPOTENT_RPCS["RemoveContainer"](scene.cri, scene.pod_id)
    await IDEMPOTENT_RPCS["StopPodSandbox"](scene.cri, scene.container_id)
    await IDEMPOTENT_RPCS["RemovePodSandbox"](scene.cri, scene.container_id)

    assert await scene.snapshot() == before
    assert (await scene.workspace.status(scene.container_id)).state == pb.CONTAINER_RUNNING


async def test_ids_that_are_no_docker_id_are_not_found(scene: Scene) -> None:
    before = await scene.snapshot()

    for odd in ODD_IDS:
        for rpc, make in BY_ID_RPCS.items():
            error = await rpc_error(make(scene.cri, odd))
            assert error.code() == grpc.StatusCode.NOT_FOUND, (rpc, odd[:20], error.details())
            # Echoing a huge id whole would exceed the client's 8 KiB trailer limit.
            assert len(error.details()) < 8192
        for make in IDEMPOTENT_RPCS.values():
            await make(scene.cri, odd)

    assert await scene.snapshot() == before


# -- invalid requests -----------------------------------------------------------------


async def test_missing_metadata_is_invalid(scene: Scene) -> None:
    pod = scene.workspace.pod_config()
    pod.ClearField("metadata")
    for request in (pb.RunPodSandboxRequest(config=pod), pb.RunPodSandboxRequest()):
        await expect_error(
            scene,
            lambda request=request: scene.cri.runtime.RunPodSandbox(request),
            grpc.StatusCode.INVALID_ARGUMENT,
            "config.metadata",
        )

    changes: list[tuple[Callable[[pb.ContainerConfig], Any], str]] = [
        (lambda c: c.ClearField("metadata"), "config.metadata"),
        (lambda c: c.metadata.ClearField("name"), "config.metadata.name"),
        (lambda c: c.image.ClearField("image"), "config.image.image"),
        (lambda c: c.Clear(), "config.metadata"),
    ]
    for change, field in changes:
        config = scene.workspace.container_config("incomplete", ["true"])
        change(config)
        request = pb.CreateContainerRequest(
            pod_sandbox_id=scene.pod_id, config=config, sandbox_config=scene.pod
        )
        await expect_error(
            scene,
            lambda request=request: scene.cri.runtime.CreateContainer(request),
            grpc.StatusCode.INVALID_ARGUMENT,
            field,
        )
    request = pb.CreateContainerRequest(pod_sandbox_id=scene.pod_id, sandbox_config=scene.pod)
    await expect_error(
        scene,
        lambda: scene.cri.runtime.CreateContainer(request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "config",
    )


async def test_out_of_range_values_are_invalid(scene: Scene) -> None:
    ports = [
        (pb.PortMapping(container_port=70000), "config.port_mappings[0].container_port"),
        (pb.PortMapping(container_port=80, host_port=70000), "config.port_mappings[0].host_port"),
        (pb.PortMapping(container_port=0), "config.port_mappings[0].container_port"),
    ]
    for port, field in ports:
        pod = scene.workspace.pod_config(port_mappings=[port])
        await expect_error(
            scene,
            lambda pod=pod: scene.cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=pod)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field,
        )

    resources = [
        (pb.LinuxContainerResources(cpu_period=5), "cpu_period"),
        (pb.LinuxContainerResources(oom_score_adj=5000), "oom_score_adj"),
        (pb.LinuxContainerResources(memory_limit_in_bytes=1024), "memory_limit_in_bytes"),
        (pb.LinuxContainerResources(cpu_shares=1), "cpu_shares"),
    ]
    for limits, field in resources:
        config = scene.workspace.container_config(
            "greedy", ["true"], linux=pb.LinuxContainerConfig(resources=limits)
        )
        create = pb.CreateContainerRequest(
            pod_sandbox_id=scene.pod_id, config=config, sandbox_config=scene.pod
        )
        await expect_error(
            scene,
            lambda create=create: scene.cri.runtime.CreateContainer(create),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"config.linux.resources.{field}",
        )
        update = pb.UpdateContainerResourcesRequest(container_id=scene.container_id, linux=limits)
        await expect_error(
            scene,
            lambda update=update: scene.cri.runtime.UpdateContainerResources(update),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"linux.{field}",
        )


async def test_other_invalid_fields_are_named(scene: Scene) -> None:
    container_id = scene.container_id
    runtime, images = scene.cri.runtime, scene.cri.images
    calls: list[tuple[Callable[[], Awaitable[Any]], str]] = [
        (
            lambda: runtime.StopContainer(
                pb.StopContainerRequest(container_id=container_id, timeout=-1)
            ),
            "timeout",
        ),
        (
            lambda: runtime.ExecSync(
                pb.ExecSyncRequest(container_id=container_id, cmd=["true"], timeout=-1)
            ),
            "timeout",
        ),
        (lambda: runtime.ExecSync(pb.ExecSyncRequest(container_id=container_id)), "cmd"),
        (
            lambda: runtime.UpdateContainerResources(
                pb.UpdateContainerResourcesRequest(container_id=container_id)
            ),
            "linux",
        ),
        (
            lambda: runtime.RunPodSandbox(
                pb.RunPodSandboxRequest(
                    config=scene.workspace.pod_config(), runtime_handler="no-such-runtime"
                )
            ),
            "runtime_handler",
        ),
        (lambda: images.ImageStatus(pb.ImageStatusRequest()), "image.image"),
        (lambda: images.RemoveImage(pb.RemoveImageRequest()), "image.image"),
        (
            lambda: images.ListImages(
                pb.ListImagesRequest(filter=pb.ImageFilter(image=pb.ImageSpec(image="Bad Image")))
            ),
            "filter.image.image",
        ),
    ]
    for call, field in calls:
        await expect_error(scene, call, grpc.StatusCode.INVALID_ARGUMENT, field)


async def test_bad_input_is_never_a_fault_of_the_shim(scene: Scene) -> None:
    missing_image = f"{env.REGISTRY}/no-such-{uuid.uuid4().hex}:v1"
    runtime, images = scene.cri.runtime, scene.cri.images
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image="x" * 20000))),
        lambda: images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="sha256:"))),
        lambda: images.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image="a b"))),
        lambda: runtime.CreateContainer(
            pb.CreateContainerRequest(
                pod_sandbox_id=scene.pod_id,
                config=scene.workspace.container_config("missing", ["true"], image=missing_image),
                sandbox_config=scene.pod,
            )
        ),
        lambda: runtime.StartContainer(pb.StartContainerRequest(container_id=scene.container_id)),
        lambda: runtime.ListContainers(
            pb.ListContainersRequest(filter=pb.ContainerFilter(id="f" * 20000))
        ),
        lambda: runtime.ListPodSandbox(
            pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(id="(", label_selector={"=": ","}))
        ),
        lambda: runtime.ListContainers(
            pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id="f" * 65))
        ),
    ]
    before = await scene.snapshot()
    for call in calls:
        code, details = await outcome(call)
        assert code not in CLIENT_FAULT_CODES, details
        assert code != grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert await scene.snapshot() == before


async def test_list_containers_with_an_unknown_state_is_no_fault_of_the_shim(
    cri: CriClient,
) -> None:
    state = pb.ContainerStateValue(state=42)  # type: ignore[arg-type]
    request = pb.ListContainersRequest(filter=pb.ContainerFilter(state=state))

    code, details = await outcome(lambda: cri.runtime.ListContainers(request))

    assert code not in CLIENT_FAULT_CODES, details


# -- unimplemented RPCs ---------------------------------------------------------------


@pytest.mark.parametrize("rpc", list(UNIMPLEMENTED))
async def test_unimplemented_rpcs_say_so(cri: CriClient, rpc: str) -> None:
    error = await rpc_error(UNIMPLEMENTED[rpc](cri))

    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert rpc in error.details()


async def test_the_daemon_keeps_serving_after_bad_requests(cri: CriClient) -> None:
    for rpc in BY_ID_RPCS.values():
        await rpc_error(rpc(cri, UNKNOWN_ID))
        await rpc_error(rpc(cri, ""))
    for unimplemented in UNIMPLEMENTED.values():
        await rpc_error(unimplemented(cri))

    version = await cri.runtime.Version(pb.VersionRequest())

    assert version.runtime_name == "docker"


# -- dockerd unreachable --------------------------------------------------------------


@pytest.fixture
async def stranded_shim(tmp_path: Path) -> AsyncIterator[tuple[ShimProcess, CriClient]]:
    """A shim whose dockerd socket does not exist."""
    socket_dir = short_socket_dir()
    nowhere = f"unix:///tmp/no-dockerd-{uuid.uuid4().hex}.sock"
    shim = ShimProcess(socket_dir / "cri.sock", tmp_path / "shim.log", env={"DOCKER_HOST": nowhere})
    try:
        await asyncio.to_thread(shim.start)
        client = CriClient(shim.endpoint)
        try:
            yield shim, client
        finally:
            await client.close()
        code = await asyncio.to_thread(shim.stop)
        assert code == 0, shim.log_text()
    finally:
        if shim.process is not None and shim.process.poll() is None:
            await asyncio.to_thread(shim.kill)
        shutil.rmtree(socket_dir, ignore_errors=True)


async def test_an_unreachable_dockerd_is_unavailable_not_a_crash(
    stranded_shim: tuple[ShimProcess, CriClient],
) -> None:
    shim, client = stranded_shim

    error = await rpc_error(client.runtime.Version(pb.VersionRequest()))
    status = await client.runtime.Status(pb.StatusRequest())
    listing = await rpc_error(client.runtime.ListPodSandbox(pb.ListPodSandboxRequest()))

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert listing.code() == grpc.StatusCode.UNAVAILABLE
    conditions = {c.type: c for c in status.status.conditions}
    assert conditions["RuntimeReady"].status is False
    assert conditions["RuntimeReady"].reason == "DockerDaemonNotReady"
    assert conditions["RuntimeReady"].message
    assert conditions["NetworkReady"].status is False
    assert shim.process is not None
    assert shim.process.poll() is None
    assert "Traceback" not in shim.log_text()
