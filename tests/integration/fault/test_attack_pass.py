"""Inputs of the third attack pass (issue #8) that need the real dockerd."""

from __future__ import annotations

import aiodocker
import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support.cri import Workspace, eventually

pytestmark = pytest.mark.fault

# Files in the writable layer make dockerd's removal take a while (it deletes them).
SLOW_TO_REMOVE = "mkdir /d && cd /d && seq 1 3000 | xargs touch && sleep 3600"


async def test_a_removal_retried_while_dockerd_still_removes_succeeds(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await workspace.run_pod(workspace.pod_config("rmretry", host_network=True))
    outcomes = []
    for index, timeout in enumerate((0.01, 0.03, 0.06, 0.1)):
        config = workspace.container_config(f"c{index}", ["sh", "-c", SLOW_TO_REMOVE])
        container_id = await workspace.run_container(pod_id, pod, config)
        await workspace.exec(container_id, "sh", "-c", "until [ -e /d/3000 ]; do sleep 0.1; done")
        request = pb.RemoveContainerRequest(container_id=container_id)
        try:
            await workspace.cri.runtime.RemoveContainer(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            outcomes.append(exc.code())
        # The kubelet's retry, at once: it must not meet "removal already in progress".
        await workspace.cri.runtime.RemoveContainer(request, timeout=60)
        with pytest.raises(aiodocker.DockerError) as gone:
            await docker.containers.container(container_id).show()
        assert gone.value.status == 404
    assert grpc.StatusCode.DEADLINE_EXCEEDED in outcomes  # some client did give up


async def test_an_exec_sync_whose_client_gave_up_leaves_no_process(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(workspace.pod_config("execgone", host_network=True))
    config = workspace.container_config("c", ["sleep", "3600"])
    container_id = await workspace.run_container(pod_id, pod, config)
    commands = []
    for index, timeout in enumerate((0.02, 0.05, 0.1, 0.2, 0.4)):
        command = f"sleep 43{index}9"
        commands.append(command)
        request = pb.ExecSyncRequest(container_id=container_id, cmd=command.split())
        with pytest.raises(grpc.aio.AioRpcError) as gave_up:
            await workspace.cri.runtime.ExecSync(request, timeout=timeout)
        assert gave_up.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    async def none_left() -> bool:
        listed = await workspace.exec(container_id, "ps")
        return not any(c in listed.stdout.decode() for c in commands)

    await eventually(none_left)
