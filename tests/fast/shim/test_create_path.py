"""One CreateContainer / RunPodSandbox, validate -> resolve -> translate, over the fake Docker.

What reaches dockerd's create is the body the pure translation made from the
resolved inputs, complete: no step adds to it afterwards.
"""

from __future__ import annotations

import pytest

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri import containers, resolve, sandboxes
from shim.engine import capabilities
from shim.engine.privileged import PrivilegePolicy
from shim.errors import FailedPrecondition, InvalidArgument
from shim.translate import createspec, labels
from tests.support.fakedocker import FakeDocker
from tests.support.fakeshim import INFRA_IMAGE, backend_for

BUSYBOX = "127.0.0.1:5000/busybox:1.35"
SYS_RESOURCE_BIT = capabilities.CAPABILITY_NAMES.index("SYS_RESOURCE")
LAST_CAP = 40


def fake_docker() -> FakeDocker:
    docker = FakeDocker()
    docker.add_image(INFRA_IMAGE)
    docker.add_image(BUSYBOX)
    return docker


def sandbox_config(**linux) -> cri.PodSandboxConfig:
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name="path", namespace="i9-fast", uid="uid-path"),
        log_directory="/var/log/pods/i9-fast_path_uid-path",
        linux=cri.LinuxPodSandboxConfig(security_context=cri.LinuxSandboxSecurityContext(**linux)),
    )


def container_request(sandbox_id: str, **security) -> cri.CreateContainerRequest:
    return cri.CreateContainerRequest(
        pod_sandbox_id=sandbox_id,
        config=cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name="app"),
            image=cri.ImageSpec(image=BUSYBOX),
            log_path="app/0.log",
            linux=cri.LinuxContainerConfig(
                security_context=cri.LinuxContainerSecurityContext(**security)
            ),
        ),
        sandbox_config=sandbox_config(),
    )


def created_bodies(docker: FakeDocker) -> list[dict]:
    return [
        call.args[1]
        for call in docker.calls_to("create_container")
        if not call.args[0].startswith("cri-shim-")  # the engine probes
    ]


async def run_sandbox(backend, config=None) -> str:
    response = await sandboxes.run_pod_sandbox(
        backend, cri.RunPodSandboxRequest(config=config or sandbox_config())
    )
    return response.pod_sandbox_id


async def test_dockerd_receives_the_translation_of_the_resolved_inputs_unchanged() -> None:
    docker = fake_docker()
    backend = backend_for(docker, instance="i9path")
    sandbox_id = await run_sandbox(backend)
    request = container_request(sandbox_id)
    resolved = await resolve.container(backend, request)
    await containers.create_container(backend, request)
    sandbox_body, container_body = created_bodies(docker)
    expected = createspec.container_body(request.config, resolved)
    # Only the creation time differs between two resolutions of the same request.
    assert {**container_body, "Labels": None} == {**expected, "Labels": None}
    assert container_body["Labels"][labels.INSTANCE_KEY] == "i9path"
    assert sandbox_body["Labels"][labels.INSTANCE_KEY] == "i9path"
    assert (
        container_body["Labels"][labels.LOG_PATH_KEY]
        == "/var/log/pods/i9-fast_path_uid-path/app/0.log"
    )
    assert container_body["HostConfig"]["NetworkMode"] == f"container:{sandbox_id}"


async def test_privileged_mode_is_emulated_in_the_create_body_where_the_host_lacks_a_cap(
    tmp_path,
) -> None:
    held = (1 << (LAST_CAP + 1)) - 1 & ~(1 << SYS_RESOURCE_BIT)
    (tmp_path / "status").write_text(f"Name:\tshim\nCapBnd:\t{held:016x}\n")
    (tmp_path / "cap_last_cap").write_text(f"{LAST_CAP}\n")
    docker = fake_docker()
    backend = backend_for(docker)
    backend.privileges = PrivilegePolicy(
        docker, str(tmp_path / "status"), str(tmp_path / "cap_last_cap")
    )
    sandbox_id = await run_sandbox(backend, sandbox_config(privileged=True))
    await containers.create_container(backend, container_request(sandbox_id, privileged=True))
    for body in created_bodies(docker):
        host_config = body["HostConfig"]
        assert host_config["Privileged"] is False
        assert "SYS_ADMIN" in host_config["CapAdd"]
        assert "SYS_RESOURCE" not in host_config["CapAdd"]
        assert host_config["DeviceCgroupRules"] == [capabilities.ALL_DEVICES_RULE]


async def test_a_refused_config_reaches_no_docker_call() -> None:
    docker = fake_docker()
    backend = backend_for(docker)
    bad = container_request("0" * 64, run_as_group=cri.Int64Value(value=1))
    with pytest.raises(InvalidArgument, match=r"^config\.linux\.security_context\.run_as_group"):
        await containers.create_container(backend, bad)
    with pytest.raises(InvalidArgument, match=r"^config\.linux\.cgroup_parent"):
        await sandboxes.run_pod_sandbox(
            backend,
            cri.RunPodSandboxRequest(
                config=cri.PodSandboxConfig(
                    metadata=sandbox_config().metadata,
                    linux=cri.LinuxPodSandboxConfig(cgroup_parent="/a/../b"),
                )
            ),
        )
    assert docker.calls == []


async def test_a_container_of_a_stopped_sandbox_is_refused_before_anything_is_created() -> None:
    docker = fake_docker()
    backend = backend_for(docker)
    sandbox_id = await run_sandbox(backend)
    await sandboxes.stop_pod_sandbox(backend, cri.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))
    before = len(created_bodies(docker))
    with pytest.raises(FailedPrecondition, match="is not ready"):
        await containers.create_container(backend, container_request(sandbox_id))
    assert len(created_bodies(docker)) == before
