"""ExecSync: run a command in a running container and return its output.

On timeout the exec'd process is killed, not left running as cri-dockerd
leaves it (cri-tools' critest checks for this). dockerd has no API to kill
an exec, so the shim signals the process, and everything it started, by
host PID; this needs the shim to share dockerd's PID namespace, as it does
when it runs on the host (or with ``pid: host`` under Compose).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from criapi.runtime.v1 import api_pb2 as cri
from shim import limits
from shim.cri.backend import Backend
from shim.deadline import deadline_for, finish_even_if_abandoned, rpc_time_remaining
from shim.errors import (
    DeadlineExceeded,
    DockerAPIError,
    FailedPrecondition,
    InvalidArgument,
    ShimError,
)

log = logging.getLogger(__name__)

# Appended to stderr when output went past the reply's limit (it fits the room
# the Docker adapter leaves below 16 MiB).
TRUNCATION_NOTE = "\n[cri-shim: output truncated: {} more bytes did not fit the 16 MiB reply]\n"

# After its output closes, dockerd may take a moment to record the exit code:
# it is asked again after 2, 4, 8 ... ms (at most 50 ms apart, about 1 s in all).
EXIT_CODE_POLLS = 25
EXIT_CODE_FIRST_POLL_INTERVAL = 0.002
EXIT_CODE_POLL_INTERVAL = 0.05
# While an exec runs, how often its container is checked, and how long a stream
# is then given to end by itself before the output so far is returned.
CONTAINER_CHECK_INTERVAL = 1.0
EXIT_STREAM_GRACE = 0.5
# The exit code of an exec whose container exited under it: SIGKILL's.
KILLED_WITH_CONTAINER = 137
# An exec whose client gave up is watched this long for a process to kill.
EXEC_START_GRACE = 2.0
EXEC_START_POLL_INTERVAL = 0.05


async def exec_sync(backend: Backend, request: cri.ExecSyncRequest) -> cri.ExecSyncResponse:
    if not request.cmd:
        raise InvalidArgument("cmd: required")
    limits.strings(request.cmd, "cmd", limits.ARG_BYTES, limits.EXEC_TOTAL_BYTES)
    if request.timeout < 0:
        raise InvalidArgument("timeout: must not be negative")
    inspect = await backend.container(request.container_id)
    container_id = inspect["Id"]
    if not inspect["State"].get("Running"):
        raise FailedPrecondition(f"container {container_id} is not running")
    exec_id = await backend.docker.exec_create(container_id, list(request.cmd))
    # timeout 0 means "no timeout"; the client's own deadline still applies.
    deadline = deadline_for(float(request.timeout) if request.timeout else None)
    try:
        output = await backend.docker.exec_run(
            exec_id, deadline, until=_container_stopped(backend, container_id)
        )
    except TimeoutError as exc:
        client_waits = rpc_time_remaining() != 0
        await _kill_exec(backend, exec_id)
        if request.timeout and client_waits:
            raise DeadlineExceeded(
                f"command {list(request.cmd)} timed out after {request.timeout}s"
            ) from exc
        raise DeadlineExceeded(f"command {list(request.cmd)}: client deadline exceeded") from exc
    except asyncio.CancelledError:
        # The client went away: do not leave its command running.
        await asyncio.shield(_kill_exec(backend, exec_id))
        raise
    exit_code = await _exit_code(backend, exec_id)
    if exit_code is None:
        # Its container exited under it: the process was killed with it (as containerd says).
        exit_code = KILLED_WITH_CONTAINER
    stderr = output.stderr
    if output.dropped:
        stderr += TRUNCATION_NOTE.format(output.dropped).encode()
    return cri.ExecSyncResponse(stdout=output.stdout, stderr=stderr, exit_code=exit_code)


async def _container_stopped(backend: Backend, container_id: str) -> None:
    """Return once the container no longer runs (checked every CONTAINER_CHECK_INTERVAL).

    dockerd may never end an exec's stream when its container exits (seen on
    20.10 with the pod's shared PID namespace); without this, ExecSync with no
    timeout would wait forever for a process that is gone.
    """
    while True:
        await asyncio.sleep(CONTAINER_CHECK_INTERVAL)
        try:
            inspect = await backend.docker.inspect_container(container_id)
        except DockerAPIError as exc:
            if exc.is_not_found:
                return
            raise
        if not inspect["State"].get("Running"):
            await asyncio.sleep(EXIT_STREAM_GRACE)  # a stream that does end, ends now
            return


async def _exit_code(backend: Backend, exec_id: str) -> int | None:
    """The exec's exit code; None when dockerd has forgotten it (its container exited)."""
    for attempt in range(EXIT_CODE_POLLS):
        try:
            info = await backend.docker.exec_inspect(exec_id)
        except DockerAPIError as exc:
            if exc.is_not_found:
                return None
            raise
        if not info.get("Running"):
            return int(info.get("ExitCode") or 0)
        await asyncio.sleep(
            min(EXIT_CODE_FIRST_POLL_INTERVAL * 2**attempt, EXIT_CODE_POLL_INTERVAL)
        )
    raise DeadlineExceeded(f"exec {exec_id}: output closed but the process did not exit")


async def _kill_exec(backend: Backend, exec_id: str) -> None:
    """Kill what the exec runs, without the RPC's deadline (it has often passed)."""
    await finish_even_if_abandoned(_kill_once_started(backend, exec_id), f"killing exec {exec_id}")


async def _kill_once_started(backend: Backend, exec_id: str) -> None:
    # A start request cut short may still reach dockerd: until the exec has a
    # process or an exit code (or EXEC_START_GRACE passes), it may yet run.
    loop = asyncio.get_running_loop()
    give_up = loop.time() + EXEC_START_GRACE
    while True:
        try:
            info = await backend.docker.exec_inspect(exec_id)
        except ShimError as exc:
            log.warning("cannot inspect timed-out exec %s: %s", exec_id, exc.message)
            return
        pid = int(info.get("Pid") or 0)
        if info.get("Running") and pid > 0:
            killed = await asyncio.to_thread(kill_process_tree, pid)
            log.info("killed timed-out exec %s (host pids %s)", exec_id[:12], killed)
            return
        if info.get("ExitCode") is not None or loop.time() >= give_up:
            return
        await asyncio.sleep(EXEC_START_POLL_INTERVAL)


def kill_process_tree(root: int) -> list[int]:
    """SIGKILL ``root`` and all its descendants (found through /proc); return the pids hit."""
    victims = [root, *_descendants(root)]
    killed = []
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            continue
        except PermissionError:
            log.warning("not permitted to kill pid %d", pid)
    return killed


def _descendants(root: int) -> list[int]:
    found: list[int] = []
    pending = [root]
    while pending:
        pid = pending.pop()
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                kids = [int(k) for k in children.read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            pending.extend(kids)
    return found
