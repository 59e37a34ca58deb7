"""Property-based abuse of every served RPC: valid-looking messages with hostile values.

The contract, whatever the input: no INTERNAL or UNKNOWN (a client error is
INVALID_ARGUMENT, NOT_FOUND or FAILED_PRECONDITION), no crash, no call that
hangs until its deadline, nothing left behind by a failed create, and nothing
written outside the log directory. Bounded: a fixed number of examples per
RPC group, derandomised, so the suite takes the same time on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import aiodocker
import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from criapi.runtime.v1 import api_pb2 as pb
from tests.support import env
from tests.support.cri import TEST_LABEL, Workspace
from tests.support.processes import ShimProcess

pytestmark = pytest.mark.fault

FAULT = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CALL_TIMEOUT = 60.0
CLIENT_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}

_PATHLIKE = [
    "",
    ".",
    "..",
    "/",
    "//",
    "a/",
    "a//b",
    "../../../etc/passwd",
    "/etc/passwd",
    "escape/x.log",
    "escape",
    "a\x00b",
    "-1",
    "localhost/../../etc/shadow",
    "%s%n%x",
    "\u202ertl",
    "sha256:" + "0" * 64,
]


def _huge(char: str, count: int) -> str:
    return char * count


HOSTILE = st.one_of(
    st.text(max_size=30),
    st.sampled_from(_PATHLIKE),
    st.builds(_huge, st.sampled_from(["a", "/", ".", "\x00", "é", "-"]), st.integers(300, 300_000)),
)
HOSTILE_BYTES = st.one_of(
    st.binary(max_size=30), st.just(b"\xff\xfe\x00"), st.builds(bytes, st.integers(0, 200_000))
)
ENUM = st.integers(-3, 12)
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([-1, 0, 1, 2, 1000]))
SMALL_MAP = st.dictionaries(HOSTILE, HOSTILE, max_size=3)


async def obeys_contract(call: Any, *, may_time_out: bool = False) -> Any:
    try:
        reply = await call
    except grpc.aio.AioRpcError as exc:
        error = exc
    else:
        event("accepted")
        return reply
    event(error.code().name)
    assert error.code() not in CLIENT_FAULTS, f"{error.code()}: {error.details()[:300]}"
    if not may_time_out:
        assert error.code() != grpc.StatusCode.DEADLINE_EXCEEDED, error.details()[:300]
    return None


def _alive(shim: ShimProcess) -> None:
    assert shim.process is not None
    assert shim.process.poll() is None, "the shim died"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory a log path must never reach; each pod's log dir links to it."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "keep").write_bytes(b"host data")
    return directory


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


async def _members(docker: aiodocker.Docker, tag: str) -> set[str]:
    listed = await docker.containers.list(all=True, filters={"label": [f"{TEST_LABEL}={tag}"]})
    return {c.id for c in listed}


# -- sandboxes ---------------------------------------------------------------------------


def _set(path: str) -> Any:
    """A mutation that sets the (nested) field ``path`` of a config to the drawn value."""

    def apply(config: Any, value: Any) -> None:
        *parents, leaf = path.split(".")
        target = config
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, leaf, value)

    return apply


def _add(path: str, **fixed: Any) -> Any:
    """A mutation that adds a repeated message or scalar at ``path``."""

    def apply(config: Any, value: Any) -> None:
        *parents, leaf = path.split(".")
        target = config
        for parent in parents:
            target = getattr(target, parent)
        field = getattr(target, leaf)
        if fixed:
            field.add(**{k: (value if v is None else v) for k, v in fixed.items()})
        elif isinstance(value, dict):
            field.update(value)
        else:
            field.append(value)

    return apply


SANDBOX_MUTATIONS: dict[str, tuple[Any, Any]] = {
    "name": (HOSTILE, _set("metadata.name")),
    "namespace": (HOSTILE, _set("metadata.namespace")),
    "uid": (HOSTILE, _set("metadata.uid")),
    "attempt": (st.integers(0, 2**32 - 1), _set("metadata.attempt")),
    "hostname": (HOSTILE, _set("hostname")),
    "log_directory": (HOSTILE, _set("log_directory")),
    "cgroup_parent": (HOSTILE, _set("linux.cgroup_parent")),
    "labels": (SMALL_MAP, _add("labels")),
    "annotations": (SMALL_MAP, _add("annotations")),
    "sysctls": (SMALL_MAP, _add("linux.sysctls")),
    "port_protocol": (ENUM, _add("port_mappings", container_port=80, protocol=None)),
    "port_number": (INT64.map(lambda n: n % 2**31), _add("port_mappings", container_port=None)),
    "host_ip": (HOSTILE, _add("port_mappings", container_port=81, host_ip=None)),
    "network": (ENUM, _set("linux.security_context.namespace_options.network")),
    "pid": (ENUM, _set("linux.security_context.namespace_options.pid")),
    "seccomp_type": (ENUM, _set("linux.security_context.seccomp.profile_type")),
    "seccomp_ref": (HOSTILE, _set("linux.security_context.seccomp.localhost_ref")),
    "seccomp_path": (HOSTILE, _set("linux.security_context.seccomp_profile_path")),
    "dns_search": (HOSTILE, _add("dns_config.searches")),
    "dns_server": (HOSTILE, _add("dns_config.servers")),
    "groups": (INT64, _add("linux.security_context.supplemental_groups")),
}


def _mutated(data: st.DataObject, config: Any, mutations: dict[str, tuple[Any, Any]]) -> None:
    """Set one or two fields of an otherwise valid config to hostile values."""
    chosen = data.draw(st.lists(st.sampled_from(sorted(mutations)), min_size=1, max_size=2))
    for name in chosen:
        strategy, apply = mutations[name]
        with contextlib.suppress(ValueError, TypeError):  # out of the field's wire range
            apply(config, data.draw(strategy, label=name))


@FAULT
@given(data=st.data(), handler=st.one_of(st.just(""), HOSTILE))
async def test_run_pod_sandbox_with_hostile_values(
    shim_daemon: ShimProcess,
    workspace: Workspace,
    docker: aiodocker.Docker,
    *,
    data: st.DataObject,
    handler: str,
) -> None:
    config = workspace.pod_config("fz", host_network=True)
    _mutated(data, config, SANDBOX_MUTATIONS)
    before = await _members(docker, workspace.tag)
    reply = await obeys_contract(
        workspace.cri.runtime.RunPodSandbox(
            pb.RunPodSandboxRequest(config=config, runtime_handler=handler),
            timeout=CALL_TIMEOUT,
        )
    )
    if reply is None:
        assert await _members(docker, workspace.tag) == before, (
            "a failed RunPodSandbox left a container"
        )
    else:
        workspace.sandboxes.append(reply.pod_sandbox_id)
        await obeys_contract(
            workspace.cri.runtime.RemovePodSandbox(
                pb.RemovePodSandboxRequest(pod_sandbox_id=reply.pod_sandbox_id),
                timeout=CALL_TIMEOUT,
            )
        )
    _alive(shim_daemon)


@FAULT
@given(object_id=HOSTILE, state=ENUM, selector=SMALL_MAP, verbose=st.booleans())
async def test_sandbox_calls_by_id_with_hostile_values(
    shim_daemon: ShimProcess,
    workspace: Workspace,
    *,
    object_id: str,
    state: int,
    selector: dict[str, str],
    verbose: bool,
) -> None:
    runtime = workspace.cri.runtime
    await obeys_contract(
        runtime.PodSandboxStatus(
            pb.PodSandboxStatusRequest(pod_sandbox_id=object_id, verbose=verbose),
            timeout=CALL_TIMEOUT,
        )
    )
    await obeys_contract(
        runtime.StopPodSandbox(
            pb.StopPodSandboxRequest(pod_sandbox_id=object_id), timeout=CALL_TIMEOUT
        )
    )
    await obeys_contract(
        runtime.RemovePodSandbox(
            pb.RemovePodSandboxRequest(pod_sandbox_id=object_id), timeout=CALL_TIMEOUT
        )
    )
    wanted = pb.PodSandboxFilter(id=object_id, label_selector=selector)
    if state % 2:
        wanted.state.state = state  # type: ignore[assignment]
    await obeys_contract(
        runtime.ListPodSandbox(pb.ListPodSandboxRequest(filter=wanted), timeout=CALL_TIMEOUT)
    )
    _alive(shim_daemon)


# -- containers -----------------------------------------------------------------------------


@pytest.fixture
async def fuzz_pod(workspace: Workspace, outside: Path) -> tuple[str, pb.PodSandboxConfig]:
    pod_id, pod = await workspace.run_pod(name="fuzz", host_network=True)
    await asyncio.to_thread(_plant_escape, Path(pod.log_directory), outside)
    return pod_id, pod


def _plant_escape(log_dir: Path, outside: Path) -> None:
    """What a container that mounts its pod's log folder could plant there."""
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "escape").symlink_to(outside)


CONTAINER_MUTATIONS: dict[str, tuple[Any, Any]] = {
    "name": (HOSTILE, _set("metadata.name")),
    "attempt": (st.integers(0, 2**32 - 1), _set("metadata.attempt")),
    # Never a registry beyond loopback: an unknown name is simply missing.
    "image": (HOSTILE.map(lambda v: f"{env.REGISTRY}/{v}"), _set("image.image")),
    "command": (HOSTILE, _add("command")),
    "args": (HOSTILE, _add("args")),
    "env_key": (HOSTILE, _add("envs", key=None, value=b"v")),
    "env_value": (HOSTILE_BYTES, _add("envs", key="K", value=None)),
    "working_dir": (HOSTILE, _set("working_dir")),
    "log_path": (HOSTILE, _set("log_path")),
    "mount_host": (HOSTILE, _add("mounts", host_path=None, container_path="/m")),
    "mount_container": (HOSTILE, _add("mounts", host_path="/tmp", container_path=None)),
    "propagation": (ENUM, _add("mounts", host_path="/tmp", container_path="/p", propagation=None)),
    "device": (HOSTILE, _add("devices", host_path=None, container_path="/dev/x")),
    "stop_signal": (ENUM, _set("stop_signal")),
    "cpu_shares": (INT64, _set("linux.resources.cpu_shares")),
    "cpu_quota": (INT64, _set("linux.resources.cpu_quota")),
    "memory": (INT64, _set("linux.resources.memory_limit_in_bytes")),
    "oom": (INT64, _set("linux.resources.oom_score_adj")),
    "cpuset": (HOSTILE, _set("linux.resources.cpuset_cpus")),
    "capability": (HOSTILE, _add("linux.security_context.capabilities.add_capabilities")),
    "masked": (HOSTILE, _add("linux.security_context.masked_paths")),
    "username": (HOSTILE, _set("linux.security_context.run_as_username")),
    "labels": (SMALL_MAP, _add("labels")),
    "annotations": (SMALL_MAP, _add("annotations")),
    "seccomp_type": (ENUM, _set("linux.security_context.seccomp.profile_type")),
    "seccomp_ref": (HOSTILE, _set("linux.security_context.seccomp.localhost_ref")),
    "pid": (ENUM, _set("linux.security_context.namespace_options.pid")),
}


@FAULT
@given(data=st.data())
async def test_create_and_start_container_with_hostile_values(
    shim_daemon: ShimProcess,
    workspace: Workspace,
    docker: aiodocker.Docker,
    fuzz_pod: tuple[str, pb.PodSandboxConfig],
    outside: Path,
    *,
    data: st.DataObject,
) -> None:
    pod_id, pod = fuzz_pod
    kept = _snapshot(outside)
    config = workspace.container_config("app", ["true"])
    _mutated(data, config, CONTAINER_MUTATIONS)
    before = await _members(docker, workspace.tag)
    reply = await obeys_contract(
        workspace.cri.runtime.CreateContainer(
            pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=pod),
            timeout=CALL_TIMEOUT,
        )
    )
    if reply is None:
        assert await _members(docker, workspace.tag) == before, "a failed create left a container"
    else:
        await obeys_contract(
            workspace.cri.runtime.StartContainer(
                pb.StartContainerRequest(container_id=reply.container_id), timeout=CALL_TIMEOUT
            )
        )
        await obeys_contract(
            workspace.cri.runtime.RemoveContainer(
                pb.RemoveContainerRequest(container_id=reply.container_id), timeout=CALL_TIMEOUT
            )
        )
    assert _snapshot(outside) == kept, "a log path reached a host directory"
    _alive(shim_daemon)


@FAULT
@given(
    object_id=HOSTILE,
    timeout=INT64,
    cmd=st.lists(HOSTILE, max_size=3),
    state=ENUM,
    selector=SMALL_MAP,
    cpu=INT64,
    oom=INT64,
    cpuset=HOSTILE,
)
async def test_container_calls_by_id_with_hostile_values(
    shim_daemon: ShimProcess,
    workspace: Workspace,
    *,
    object_id: str,
    timeout: int,
    cmd: list[str],
    state: int,
    selector: dict[str, str],
    cpu: int,
    oom: int,
    cpuset: str,
) -> None:
    runtime = workspace.cri.runtime
    calls = [
        runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=object_id, verbose=True)),
        runtime.StartContainer(pb.StartContainerRequest(container_id=object_id)),
        runtime.StopContainer(pb.StopContainerRequest(container_id=object_id, timeout=timeout % 3)),
        runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=object_id)),
        runtime.ReopenContainerLog(pb.ReopenContainerLogRequest(container_id=object_id)),
        runtime.ExecSync(pb.ExecSyncRequest(container_id=object_id, cmd=cmd, timeout=timeout % 5)),
        runtime.UpdateContainerResources(
            pb.UpdateContainerResourcesRequest(
                container_id=object_id,
                linux=pb.LinuxContainerResources(
                    cpu_shares=cpu, oom_score_adj=oom, cpuset_cpus=cpuset
                ),
            )
        ),
    ]
    for call in calls:
        await obeys_contract(call)
    wanted = pb.ContainerFilter(
        id=object_id, pod_sandbox_id=object_id[::-1], label_selector=selector
    )
    if state % 2:
        wanted.state.state = state  # type: ignore[assignment]
    await obeys_contract(runtime.ListContainers(pb.ListContainersRequest(filter=wanted)))
    _alive(shim_daemon)


@FAULT
@given(cmd=st.lists(HOSTILE, min_size=1, max_size=3), timeout=st.integers(-5, 3))
async def test_exec_sync_with_hostile_commands(
    shim_daemon: ShimProcess,
    workspace: Workspace,
    fuzz_pod: tuple[str, pb.PodSandboxConfig],
    cmd: list[str],
    timeout: int,
) -> None:
    pod_id, pod = fuzz_pod
    if not hasattr(workspace, "fuzz_container"):
        config = workspace.container_config("execme", ["sleep", "600"])
        workspace.fuzz_container = await workspace.run_container(pod_id, pod, config)  # type: ignore[attr-defined]
    await obeys_contract(
        workspace.cri.runtime.ExecSync(
            pb.ExecSyncRequest(
                container_id=workspace.fuzz_container,  # type: ignore[attr-defined]
                cmd=cmd,
                timeout=timeout,
            ),
            timeout=CALL_TIMEOUT,
        ),
        may_time_out=True,
    )
    _alive(shim_daemon)


# -- images and runtime ---------------------------------------------------------------------


@FAULT
@given(
    image=HOSTILE,
    username=HOSTILE,
    password=HOSTILE,
    auth=HOSTILE,
    token=HOSTILE,
    cidr=HOSTILE,
    verbose=st.booleans(),
)
async def test_image_and_runtime_calls_with_hostile_values(
    shim_daemon: ShimProcess,
    workspace: Workspace,
    *,
    image: str,
    username: str,
    password: str,
    auth: str,
    token: str,
    cidr: str,
    verbose: bool,
) -> None:
    images, runtime = workspace.cri.images, workspace.cri.runtime
    # Pulls and removals stay on names of this test's own, in the loopback registry.
    own = f"{env.REGISTRY}/cri-shim-fuzz-{workspace.tag}/{image}"
    credentials = pb.AuthConfig(
        username=username,
        password=password,
        auth=auth,
        identity_token=token if len(token) % 2 else "",
    )
    await obeys_contract(
        images.PullImage(
            pb.PullImageRequest(image=pb.ImageSpec(image=own), auth=credentials),
            timeout=CALL_TIMEOUT,
        ),
        may_time_out=True,
    )
    await obeys_contract(images.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=own))))
    await obeys_contract(
        images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=image), verbose=verbose))
    )
    await obeys_contract(
        images.ListImages(
            pb.ListImagesRequest(filter=pb.ImageFilter(image=pb.ImageSpec(image=image)))
        )
    )
    await obeys_contract(
        runtime.UpdateRuntimeConfig(
            pb.UpdateRuntimeConfigRequest(
                runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr=cidr))
            )
        )
    )
    await obeys_contract(runtime.Version(pb.VersionRequest(version=cidr)))
    await obeys_contract(runtime.Status(pb.StatusRequest(verbose=verbose)))
    _alive(shim_daemon)


@FAULT
@given(body=st.one_of(st.binary(max_size=200), st.builds(bytes, st.integers(0, 100_000))))
async def test_request_bodies_that_are_no_protobuf(
    shim_daemon: ShimProcess, workspace: Workspace, body: bytes
) -> None:
    for method in (
        "/runtime.v1.RuntimeService/CreateContainer",
        "/runtime.v1.RuntimeService/ListContainers",
        "/runtime.v1.ImageService/ImageStatus",
    ):
        call = workspace.cri.channel.unary_unary(
            method, request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw
        )
        with contextlib.suppress(AssertionError):
            pass
        await obeys_contract(call(body, timeout=CALL_TIMEOUT))
    _alive(shim_daemon)


def test_the_fuzzed_shim_never_logged_a_traceback(shim_daemon: ShimProcess) -> None:
    # Runs after the fuzzers in this module (pytest keeps file order).
    assert "Traceback" not in shim_daemon.log_text()
    assert os.path.exists(shim_daemon.socket_path)
