"""Inputs of the third attack pass (issue #8) that the fault suite did not contain."""

from __future__ import annotations

import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as cri
from tests.fast.shim.test_rpc_edge import fake_docker, rpc_error, running_container
from tests.support.fakeshim import backend_for, serving


@pytest.mark.parametrize(
    ("cmd", "field"),
    [
        (["a" * (200 * 1024)], "cmd[0]: longer than"),
        (["a"] * 5000, "cmd: more than 1024 entries"),
        (["sh", "a\x00b"], "cmd[1]: must not contain a NUL byte"),
        (["b" * 100_000] * 11, "cmd: longer than 1048576 bytes in total"),
    ],
)
async def test_exec_bounds_its_command_as_exec_sync_does(cmd: list[str], field: str) -> None:
    async with serving(backend_for(fake_docker())) as (runtime, _images):
        container_id = await running_container(runtime)
        failure = await rpc_error(
            runtime.Exec(cri.ExecRequest(container_id=container_id, cmd=cmd, stdout=True))
        )
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.details().startswith(field), failure.details()
