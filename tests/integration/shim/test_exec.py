"""ExecSync in real containers."""

from __future__ import annotations

import uuid

import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support.cri import Workspace, rpc_error


@pytest.fixture
async def running(workspace: Workspace) -> str:
    """A running container to exec into."""
    pod_id, pod = await workspace.run_pod()
    config = workspace.container_config("sleeper", ["sleep", "3600"])
    return await workspace.run_container(pod_id, pod, config)


async def test_stdout_and_exit_code_zero(workspace: Workspace, running: str) -> None:
    response = await workspace.exec(running, "echo", "hello", "exec")

    assert response.stdout == b"hello exec\n"
    assert response.stderr == b""
    assert response.exit_code == 0


async def test_stderr_and_a_non_zero_exit_code_are_a_normal_reply(
    workspace: Workspace, running: str
) -> None:
    response = await workspace.exec(running, "sh", "-c", "echo out; echo err >&2; exit 7")

    assert response.stdout == b"out\n"
    assert response.stderr == b"err\n"
    assert response.exit_code == 7


async def test_a_command_that_does_not_exist_is_an_exit_code(
    workspace: Workspace, running: str
) -> None:
    response = await workspace.exec(running, "no-such-command-in-busybox")

    assert response.exit_code in (126, 127)


async def test_a_timeout_kills_the_command(workspace: Workspace, running: str) -> None:
    # A distinctive duration, and a shell in between: the whole process tree must go.
    error = await rpc_error(workspace.exec(running, "sh", "-c", "sleep 4321; true", timeout=1))

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "timed out" in error.details()
    processes = await workspace.exec(running, "ps", "-o", "pid,args")
    assert processes.exit_code == 0
    assert b"sleep 3600" in processes.stdout
    assert b"4321" not in processes.stdout


async def test_a_finished_command_within_its_timeout_succeeds(
    workspace: Workspace, running: str
) -> None:
    response = await workspace.exec(running, "sh", "-c", "echo quick", timeout=5)

    assert response.stdout == b"quick\n"


async def test_exec_into_a_stopped_container_fails(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod()
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("done", ["true"])
    )
    await workspace.wait_exit(container_id)

    error = await rpc_error(workspace.exec(container_id, "echo", "hi"))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not running" in error.details()


async def test_an_empty_command_is_invalid(workspace: Workspace, running: str) -> None:
    error = await rpc_error(workspace.exec(running))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cmd" in error.details()


async def test_a_negative_timeout_is_invalid(workspace: Workspace, running: str) -> None:
    error = await rpc_error(workspace.exec(running, "true", timeout=-1))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "timeout" in error.details()


async def test_an_unknown_container_is_not_found(workspace: Workspace) -> None:
    unknown = uuid.uuid4().hex * 2

    error = await rpc_error(workspace.exec(unknown, "true"))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert unknown in error.details()


async def test_large_output_comes_back_intact(workspace: Workspace, running: str) -> None:
    # Just over 1 MiB on stdout, plus some stderr interleaved with it.
    expected = "".join(f"{n}\n" for n in range(1, 160001)).encode()
    assert len(expected) > 1024 * 1024 - 64 * 1024

    response = await workspace.exec(running, "sh", "-c", "seq 1 160000; seq 1 1000 >&2", timeout=30)

    assert response.exit_code == 0
    assert response.stdout == expected
    assert response.stderr == "".join(f"{n}\n" for n in range(1, 1001)).encode()


async def test_exec_sync_reply_via_a_sandbox_id_is_not_found(workspace: Workspace) -> None:
    pod_id, _ = await workspace.run_pod()

    error = await rpc_error(workspace.exec(pod_id, "true"))

    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_exit_codes_are_reported_per_call(workspace: Workspace, running: str) -> None:
    codes = [
        (await workspace.exec(running, "sh", "-c", f"exit {n}")).exit_code for n in (0, 1, 255)
    ]

    assert codes == [0, 1, 255]


async def test_exec_sees_the_container_environment(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod()
    config = workspace.container_config(
        "env", ["sleep", "3600"], envs=[pb.KeyValue(key="GREETING", value=b"from-cri")]
    )
    container_id = await workspace.run_container(pod_id, pod, config)

    response = await workspace.exec(container_id, "sh", "-c", 'echo "$GREETING"')

    assert response.stdout == b"from-cri\n"


async def test_an_exec_whose_container_exits_under_it_ends_killed_with_its_output(
    workspace: Workspace,
) -> None:
    # In a pod sharing one PID namespace (the CRI's default, POD), dockerd 20.10 never
    # ends the stream of an exec whose container exits: ExecSync with no timeout hung.
    config = workspace.pod_config("shared-pid")
    config.linux.security_context.namespace_options.pid = pb.POD
    pod_id, pod = await workspace.run_pod(config)
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("brief", ["sleep", "2"])
    )

    # The client's deadline turns the old hang into a failure; it decides nothing else.
    response = await workspace.cri.runtime.ExecSync(
        pb.ExecSyncRequest(container_id=container_id, cmd=["sh", "-c", "echo before; sleep 3600"]),
        timeout=120,
    )

    assert (response.stdout, response.exit_code) == (b"before\n", 137)
