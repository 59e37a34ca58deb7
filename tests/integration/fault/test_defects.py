"""Each defect class of the reliability issue, against the real dockerd: the input that
found it, and what the shim must do instead (lose nothing, touch no host file, answer
client errors precisely, let no request stall another)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path

import aiodocker
import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc
from tests.support import env
from tests.support.cri import CriClient, Workspace, eventually, rpc_error
from tests.support.processes import ShimProcess

pytestmark = pytest.mark.fault


def log_of(pod: pb.PodSandboxConfig, config: pb.ContainerConfig) -> Path:
    return Path(pod.log_directory) / config.log_path


def texts(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [line.split(b" ", 3)[3] for line in data.splitlines() if line.count(b" ") >= 3]


# -- 1. log paths ------------------------------------------------------------------------


async def test_a_symlink_planted_at_the_log_path_is_refused_and_the_host_file_kept(
    workspace: Workspace, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    victim = tmp_path / "host-secret"
    victim.write_bytes(b"do not truncate me")  # no newline: a torn tail to "repair"
    pod_id, pod = await workspace.run_pod(name="symlink", host_network=True)
    config = workspace.container_config("app", ["echo", "hello"])
    container_id = await workspace.create(pod_id, pod, config)
    path = log_of(pod, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(victim)

    error = await rpc_error(
        workspace.cri.runtime.StartContainer(pb.StartContainerRequest(container_id=container_id))
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "log_path" in error.details()
    assert victim.read_bytes() == b"do not truncate me"
    inspect = await docker.containers.container(container_id).show()
    assert not inspect["State"]["Running"]
    assert not inspect["State"]["StartedAt"].startswith("20"), "refused start ran the container"


@pytest.mark.parametrize("log_path", [".", "app/", "app//0.log", "a\x00b.log", "../x.log"])
async def test_log_paths_naming_no_file_inside_are_refused_at_create(
    workspace: Workspace, docker: aiodocker.Docker, log_path: str
) -> None:
    pod_id, pod = await workspace.run_pod(name="badlog", host_network=True)
    config = workspace.container_config("app", ["true"])
    config.log_path = log_path

    error = await rpc_error(workspace.create(pod_id, pod, config))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config.log_path" in error.details()
    members = await docker.containers.list(
        all=True, filters={"label": [f"io.kubernetes.sandbox.id={pod_id}"]}
    )
    assert members == []


# -- 2. output without a trailing newline ------------------------------------------------


async def test_the_last_output_without_a_newline_reaches_the_log_every_time(
    workspace: Workspace,
) -> None:
    pod_id, pod = await workspace.run_pod(name="tail", host_network=True)
    runs = []
    for index in range(6):
        config = workspace.container_config(
            f"printf{index}", ["sh", "-c", "echo first; printf last"]
        )
        runs.append((await workspace.run_container(pod_id, pod, config), config))
    for container_id, _ in runs:
        await workspace.wait_exit(container_id)
    for _, config in runs:
        path = log_of(pod, config)
        # Exited containers: what is there now is all there will be, once the copier ends.
        await eventually(lambda path=path: _has(path, b"last"))
        assert texts(path) == [b"first", b"last"]


async def _has(path: Path, text: bytes) -> bool:
    return text in texts(path)


# -- 3. copiers do not inherit the StartContainer deadline ------------------------------


async def test_a_start_whose_client_gave_up_still_gets_its_log_file(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await workspace.run_pod(name="deadline", host_network=True)
    checked = 0
    for index, timeout in enumerate((0.05, 0.1, 0.2, 0.4, 0.8)):
        config = workspace.container_config(
            f"short{index}", ["sh", "-c", "echo started; sleep 3; echo later; sleep 300"]
        )
        container_id = await workspace.create(pod_id, pod, config)
        with contextlib.suppress(grpc.aio.AioRpcError):
            await workspace.cri.runtime.StartContainer(
                pb.StartContainerRequest(container_id=container_id), timeout=timeout
            )
        # Give a start the client abandoned time to finish in dockerd (or never happen).
        await asyncio.sleep(1.0)
        if not (await docker.containers.container(container_id).show())["State"]["Running"]:
            continue
        checked += 1
        path = log_of(pod, config)
        await eventually(lambda path=path: _has(path, b"later"), timeout=20)
        await workspace.cri.runtime.ReopenContainerLog(
            pb.ReopenContainerLogRequest(container_id=container_id)
        )
    assert checked, "no start reached dockerd"


async def test_the_log_file_exists_when_start_container_returns(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(name="exists", host_network=True)
    config = workspace.container_config("quiet", ["sleep", "300"])
    await workspace.run_container(pod_id, pod, config)
    assert log_of(pod, config).is_file()


# -- 4. no request stalls the others ------------------------------------------------------


async def test_seccomp_profiles_that_are_fifos_do_not_block_other_calls(
    workspace: Workspace, tmp_path: Path
) -> None:
    fifo = tmp_path / "profile.json"
    os.mkfifo(fifo)
    bad = []
    for index in range(12):
        config = workspace.pod_config(f"fifo{index}", host_network=True)
        config.linux.security_context.seccomp.profile_type = pb.SecurityProfile.Localhost
        config.linux.security_context.seccomp.localhost_ref = str(fifo)
        bad.append(rpc_error(workspace.run_pod(config)))
    errors = await asyncio.gather(*bad)
    assert {e.code() for e in errors} == {grpc.StatusCode.INVALID_ARGUMENT}
    assert all("not a regular file" in e.details() for e in errors)
    # Unrelated calls are still served.
    await workspace.run_pod(name="after", host_network=True)


@pytest.mark.parametrize(
    ("field", "apply"),
    [
        (
            "config.linux.cgroup_parent",
            lambda c: setattr(c.linux, "cgroup_parent", "x" * 1_000_000),
        ),
        ("config.hostname", lambda c: setattr(c, "hostname", "h" * 100_000)),
        ("config.labels", lambda c: c.labels.update({"k": "v" * 100_000})),
        ("config.annotations", lambda c: c.annotations.update({"a": "v" * 300_000})),
        ("config.metadata.name", lambda c: setattr(c.metadata, "name", "n" * 1000)),
        ("config.log_directory", lambda c: setattr(c, "log_directory", "/" + "d" * 5000)),
    ],
)
async def test_oversized_sandbox_values_are_refused_naming_the_field(
    workspace: Workspace, docker: aiodocker.Docker, field: str, apply: object
) -> None:
    config = workspace.pod_config("huge", host_network=True)
    apply(config)  # type: ignore[operator]
    error = await rpc_error(workspace.run_pod(config))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(field), error.details()[:200]
    left = await docker.containers.list(
        all=True, filters={"label": [f"test.cri-shim/run={workspace.tag}"]}
    )
    assert left == []


async def test_oversized_container_values_are_refused_naming_the_field(
    workspace: Workspace,
) -> None:
    pod_id, pod = await workspace.run_pod(name="hugec", host_network=True)
    cases = {
        "config.envs[0].value": lambda c: c.envs.add(key="K", value=b"v" * 200_000),
        "config.command[0]": lambda c: c.command.__setitem__(0, "x" * 200_000),
        "config.mounts[0].host_path": lambda c: c.mounts.add(
            host_path="/" + "p" * 5000, container_path="/m"
        ),
        "config.image.image": lambda c: setattr(c.image, "image", "i" * 5000),
    }
    for field, apply in cases.items():
        config = workspace.container_config("app", ["true"])
        apply(config)
        error = await rpc_error(workspace.create(pod_id, pod, config))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert error.details().startswith(field), error.details()[:200]


async def test_oversized_credentials_are_invalid(cri: CriClient) -> None:
    error = await rpc_error(
        cri.images.PullImage(
            pb.PullImageRequest(
                image=pb.ImageSpec(image=env.BUSYBOX),
                auth=pb.AuthConfig(username="u", password="p" * 1_000_000),
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("auth.password")


# -- 5. a cancelled RunPodSandbox ----------------------------------------------------------


async def test_a_retry_of_a_cancelled_run_pod_sandbox_succeeds(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    for timeout in (0.05, 0.2, 0.5):
        config = workspace.pod_config(f"cancel{int(timeout * 100)}", host_network=True)
        try:
            first = await workspace.cri.runtime.RunPodSandbox(
                pb.RunPodSandboxRequest(config=config), timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
        else:
            # The client did not give up: there is nothing to retry.
            workspace.sandboxes.append(first.pod_sandbox_id)
            continue
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        pod_id, _ = await workspace.run_pod(config)  # the kubelet's retry
        status = await workspace.cri.runtime.PodSandboxStatus(
            pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id)
        )
        assert status.status.state == pb.SANDBOX_READY
        uid = config.metadata.uid
        await eventually(lambda uid=uid: _single_running(docker, workspace.tag, uid))


async def _single_running(docker: aiodocker.Docker, tag: str, uid: str) -> bool:
    listed = await docker.containers.list(all=True, filters={"label": [f"test.cri-shim/run={tag}"]})
    mine = [c for c in listed if uid in c._container["Names"][0]]
    return len(mine) == 1 and mine[0]._container["State"] == "running"


# -- 6. client errors are never INTERNAL or UNKNOWN ---------------------------------------


async def test_an_ambiguous_id_prefix_is_invalid_not_internal(
    cri: CriClient, docker: aiodocker.Docker
) -> None:
    ids = [c.id for c in await docker.containers.list(all=True)]
    shared = next((p for p in "0123456789abcdef" if sum(i.startswith(p) for i in ids) > 1), None)
    if shared is None:
        pytest.skip("fewer than two containers share a first hex digit on this host")
    for call in (
        cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=shared)),
        cri.runtime.StopContainer(pb.StopContainerRequest(container_id=shared)),
        cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=shared)),
    ):
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()


async def test_a_body_that_is_no_protobuf_is_invalid_with_one_warning(
    shim_daemon: ShimProcess, cri: CriClient
) -> None:
    before = shim_daemon.log_text()
    call = cri.channel.unary_unary(
        "/runtime.v1.RuntimeService/ContainerStatus",
        request_serializer=lambda raw: raw,
        response_deserializer=lambda raw: raw,
    )
    error = await rpc_error(call(b"\xff\xff\xff\xff garbage " + uuid.uuid4().hex.encode()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    await eventually(
        lambda: _logged_after(shim_daemon, before, "ContainerStatus: INVALID_ARGUMENT")
    )
    new = shim_daemon.log_text()[len(before) :]
    assert "Traceback" not in new


async def _logged_after(shim: ShimProcess, before: str, text: str) -> bool:
    return text in shim.log_text()[len(before) :]


async def test_a_request_dockerd_refuses_with_500_is_invalid(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(name="d500", host_network=True)
    config = workspace.container_config("app", ["true"])
    config.mounts.add(host_path="/tmp", container_path="/")
    error = await rpc_error(workspace.create(pod_id, pod, config))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("config:")


# -- 7. ExecSync output above 16 MiB --------------------------------------------------------


async def test_exec_sync_output_over_16_mib_fits_the_kubelets_message_limit(
    shim_daemon: ShimProcess, workspace: Workspace
) -> None:
    pod_id, pod = await workspace.run_pod(name="bigexec", host_network=True)
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("app", ["sleep", "300"])
    )
    # The kubelet's CRI client refuses replies over 16 MiB.
    channel = grpc.aio.insecure_channel(
        shim_daemon.endpoint, options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    )
    try:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        reply = await runtime.ExecSync(
            pb.ExecSyncRequest(
                container_id=container_id,
                cmd=["sh", "-c", "head -c 12000000 /dev/zero; head -c 12000000 /dev/zero >&2"],
                timeout=60,
            )
        )
    finally:
        await channel.close()
    assert reply.ByteSize() <= 16 * 1024 * 1024
    assert len(reply.stdout) == 12_000_000
    assert b"output truncated" in reply.stderr[-200:]


# -- 8. RemoveImage is atomic ---------------------------------------------------------------


async def test_remove_image_of_an_image_in_use_changes_nothing(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    repository = f"127.0.0.1:5000/cri-shim-test-rmi-{workspace.tag}"
    await docker.images.tag(env.BUSYBOX, repository, tag="one")
    await docker.images.tag(env.BUSYBOX, repository, tag="two")
    try:
        pod_id, pod = await workspace.run_pod(name="rmi", host_network=True)
        config = workspace.container_config("app", ["sleep", "300"], image=f"{repository}:one")
        await workspace.run_container(pod_id, pod, config)
        image_id = (await docker.images.inspect(f"{repository}:one"))["Id"]

        error = await rpc_error(
            workspace.cri.images.RemoveImage(
                pb.RemoveImageRequest(image=pb.ImageSpec(image=image_id))
            )
        )

        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        tags = (await docker.images.inspect(image_id))["RepoTags"]
        assert f"{repository}:one" in tags
        assert f"{repository}:two" in tags
    finally:
        await workspace.cleanup()
        for tag in ("one", "two"):
            with contextlib.suppress(aiodocker.DockerError):
                await docker.images.delete(f"{repository}:{tag}")


# -- 9. unknown enums ------------------------------------------------------------------------


async def test_unknown_enum_values_are_invalid(workspace: Workspace) -> None:
    config = workspace.pod_config("enum")
    config.port_mappings.add(container_port=80, protocol=7)  # type: ignore[arg-type]
    error = await rpc_error(workspace.run_pod(config))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("config.port_mappings[0].protocol")

    config = workspace.pod_config("enum2", host_network=True)
    config.linux.security_context.seccomp.profile_type = 9  # type: ignore[assignment]
    error = await rpc_error(workspace.run_pod(config))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("config.linux.security_context.seccomp.profile_type")

    config = workspace.pod_config("enum3", host_network=True)
    config.linux.security_context.namespace_options.pid = 11  # type: ignore[assignment]
    error = await rpc_error(workspace.run_pod(config))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
