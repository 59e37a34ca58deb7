"""Exec, Attach and PortForward: validate, then hand out a streaming URL.

The session itself runs on the streaming server (``shim.streaming``) when
the client opens the URL; these handlers only check that what it will
reach exists and is running, with the kubelet's rules on the request
(``tty`` excludes ``stderr``; at least one stream), and mint the token.
"""

from __future__ import annotations

from criapi.runtime.v1 import api_pb2 as cri
from shim import limits
from shim.cri.backend import Backend
from shim.errors import FailedPrecondition, InvalidArgument


def _check_streams(stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
    if tty and stderr:
        raise InvalidArgument("tty and stderr cannot both be true")
    if not (stdin or stdout or stderr):
        raise InvalidArgument("one of stdin, stdout, or stderr must be set")


async def _running_container(backend: Backend, container_id: str) -> str:
    inspect = await backend.container(container_id)
    if not inspect["State"].get("Running"):
        raise FailedPrecondition(f"container {inspect['Id']} is not running")
    return str(inspect["Id"])


async def exec_url(backend: Backend, request: cri.ExecRequest) -> cri.ExecResponse:
    if not request.cmd:
        raise InvalidArgument("cmd: required")
    # ExecSync's bounds: the request waits in the token cache until the client
    # connects (up to 1000 of them), then reaches dockerd.
    limits.strings(request.cmd, "cmd", limits.ARG_BYTES, limits.EXEC_TOTAL_BYTES)
    _check_streams(request.stdin, request.stdout, request.stderr, request.tty)
    full = cri.ExecRequest()
    full.CopyFrom(request)
    full.container_id = await _running_container(backend, request.container_id)
    return cri.ExecResponse(url=backend.streams.issue("exec", full))


async def attach_url(backend: Backend, request: cri.AttachRequest) -> cri.AttachResponse:
    _check_streams(request.stdin, request.stdout, request.stderr, request.tty)
    full = cri.AttachRequest()
    full.CopyFrom(request)
    full.container_id = await _running_container(backend, request.container_id)
    return cri.AttachResponse(url=backend.streams.issue("attach", full))


async def port_forward_url(
    backend: Backend, request: cri.PortForwardRequest
) -> cri.PortForwardResponse:
    for index, port in enumerate(request.port):
        if not 0 < port <= 0xFFFF:
            raise InvalidArgument(f"port[{index}]: {port} is not a TCP port")
    inspect = await backend.sandbox(request.pod_sandbox_id)
    if not inspect["State"].get("Running"):
        raise FailedPrecondition(f"pod sandbox {inspect['Id']} is not running")
    full = cri.PortForwardRequest()
    full.CopyFrom(request)
    full.pod_sandbox_id = str(inspect["Id"])
    return cri.PortForwardResponse(url=backend.streams.issue("portforward", full))
