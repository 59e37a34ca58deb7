"""The shim's RPC edge through real grpc.aio, in process, over the recording fake Docker.

Deadlines, the error map and cancellation are decided here in well under a
second each; the integration suite keeps the real-dockerd checks.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as cri
from shim.errors import DOCKER_UNREACHABLE, DockerAPIError
from tests.support.fakedocker import FakeDocker
from tests.support.fakeshim import INFRA_IMAGE, backend_for, serving

BUSYBOX = "127.0.0.1:5000/busybox:1.35"


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def sandbox_config(name: str = "edge") -> cri.PodSandboxConfig:
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, namespace="i9-fast", uid=f"uid-{name}")
    )


async def running_container(runtime, name: str = "app") -> str:
    config = sandbox_config()
    sandbox = await runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config))
    created = await runtime.CreateContainer(
        cri.CreateContainerRequest(
            pod_sandbox_id=sandbox.pod_sandbox_id,
            config=cri.ContainerConfig(
                metadata=cri.ContainerMetadata(name=name),
                image=cri.ImageSpec(image=BUSYBOX),
                command=["sleep", "3600"],
            ),
            sandbox_config=config,
        )
    )
    await runtime.StartContainer(cri.StartContainerRequest(container_id=created.container_id))
    return created.container_id


def fake_docker(**kwargs) -> FakeDocker:
    docker = FakeDocker(**kwargs)
    docker.add_image(INFRA_IMAGE)
    docker.add_image(BUSYBOX)
    return docker


async def test_a_pod_runs_through_the_edge_and_lands_in_the_fake_as_in_dockerd() -> None:
    docker = fake_docker()
    async with serving(backend_for(docker)) as (runtime, _images):
        container_id = await running_container(runtime)
        status = await runtime.ContainerStatus(
            cri.ContainerStatusRequest(container_id=container_id)
        )
        listed = await runtime.ListContainers(cri.ListContainersRequest())
    assert status.status.state == cri.CONTAINER_RUNNING
    assert status.status.metadata.name == "app"
    assert [c.id for c in listed.containers] == [container_id]
    pod = [what for what, name in docker.history if not name.startswith("cri-shim-oom-probe")]
    assert pod == ["create", "start", "create", "start"]  # sandbox, then container


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (DockerAPIError(404, "No such container: x"), grpc.StatusCode.NOT_FOUND),
        (DockerAPIError(409, "conflict"), grpc.StatusCode.FAILED_PRECONDITION),
        (DockerAPIError(DOCKER_UNREACHABLE, "connect: refused"), grpc.StatusCode.UNAVAILABLE),
        (DockerAPIError(500, "engine broke"), grpc.StatusCode.INTERNAL),
    ],
)
async def test_docker_failures_map_to_their_one_grpc_code(
    error: DockerAPIError, code: grpc.StatusCode
) -> None:
    docker = fake_docker()
    async with serving(backend_for(docker)) as (runtime, _images):
        docker.fail["inspect_container"] = error
        failure = await rpc_error(
            runtime.ContainerStatus(cri.ContainerStatusRequest(container_id="abc"))
        )
    assert failure.code() == code


async def test_client_errors_name_their_field_and_bugs_are_internal_without_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    docker = fake_docker()
    async with serving(backend_for(docker)) as (runtime, _images):
        bad = await rpc_error(
            runtime.StopContainer(cri.StopContainerRequest(container_id="x", timeout=-1))
        )
        docker.fail["info"] = ValueError("a bug")  # type: ignore[assignment]
        with caplog.at_level(logging.ERROR, logger="shim.edge.rpc"):
            bug = await rpc_error(runtime.RuntimeConfig(cri.RuntimeConfigRequest()))
        unserved = await rpc_error(
            runtime.CheckpointContainer(cri.CheckpointContainerRequest(container_id="x"))
        )
        # The daemon keeps serving after a bug.
        assert (await runtime.Version(cri.VersionRequest())).runtime_name == "docker"
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad.details().startswith("timeout:")
    assert bug.code() == grpc.StatusCode.INTERNAL
    assert "ValueError" in bug.details()
    assert any("RuntimeConfig failed unexpectedly" in r.getMessage() for r in caplog.records)
    assert unserved.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "CheckpointContainer" in unserved.details()


async def test_the_clients_deadline_bounds_the_docker_call() -> None:
    docker = fake_docker()
    async with serving(backend_for(docker)) as (runtime, _images):
        docker.hang.add("inspect_container")
        failure = await rpc_error(
            runtime.ContainerStatus(cri.ContainerStatusRequest(container_id="abc"), timeout=0.3)
        )
        await asyncio.sleep(0.1)
    assert failure.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    (call,) = docker.calls_to("inspect_container")
    # Nothing is left waiting on dockerd for a client that has given up.
    assert call.outcome in ("deadline", "cancelled")


async def test_the_shims_own_call_timeout_bounds_a_call_without_client_deadline() -> None:
    docker = fake_docker(call_timeout=0.2)
    async with serving(backend_for(docker)) as (runtime, _images):
        docker.hang.add("info")
        failure = await rpc_error(runtime.RuntimeConfig(cri.RuntimeConfigRequest()))
    assert failure.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "did not answer before the deadline" in failure.details()
    assert docker.calls_to("info")[0].outcome == "deadline"


async def test_a_cancelled_rpc_cancels_its_docker_call_and_others_are_served() -> None:
    docker = fake_docker()
    async with serving(backend_for(docker)) as (runtime, _images):
        docker.hang.add("inspect_container")
        call = runtime.ContainerStatus(cri.ContainerStatusRequest(container_id="abc"))
        for _ in range(100):
            if docker.calls_to("inspect_container"):
                break
            await asyncio.sleep(0.01)
        # A hung request does not stall anybody else's.
        assert (await runtime.Version(cri.VersionRequest(), timeout=5)).runtime_name == "docker"
        call.cancel()
        for _ in range(100):
            if docker.calls_to("inspect_container")[0].outcome != "pending":
                break
            await asyncio.sleep(0.01)
    assert docker.calls_to("inspect_container")[0].outcome == "cancelled"


async def test_stop_container_asks_dockerd_for_the_requests_timeout() -> None:
    docker = fake_docker()
    async with serving(backend_for(docker)) as (runtime, _images):
        container_id = await running_container(runtime)
        await runtime.StopContainer(cri.StopContainerRequest(container_id=container_id, timeout=7))
        await runtime.StopContainer(cri.StopContainerRequest(container_id=container_id, timeout=7))
    # No inspect first (the shim created it): dockerd's 304 tells the second it was stopped.
    stops = docker.calls_to("stop_container")
    assert [(s.args, s.outcome) for s in stops] == [
        ((container_id, 7), "ok"),
        ((container_id, 7), "error"),
    ]
    assert not docker.calls_to("inspect_container")


async def test_stop_pod_sandbox_kills_leftovers_then_stops_the_infra_gracefully() -> None:
    docker = fake_docker()
    async with serving(backend_for(docker)) as (runtime, _images):
        container_id = await running_container(runtime)
        (sandbox,) = (await runtime.ListPodSandbox(cri.ListPodSandboxRequest())).items
        await runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=sandbox.id))
    assert [call.args for call in docker.calls_to("stop_container")] == [
        (container_id, 0),
        (sandbox.id, 10),
    ]
