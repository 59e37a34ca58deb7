"""Resolving a seccomp request into what dockerd takes: a profile's JSON text.

dockerd reads ``seccomp=<json>`` from the create body, not a path, so a
``localhost/<path>`` profile is read here, on the shim's host, as the
kubelet's runtimes do.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from criapi.runtime.v1 import api_pb2 as cri
from shim import hostfs
from shim.createspec import SeccompChoice, seccomp_choice, seccomp_request
from shim.errors import InvalidArgument

MAX_PROFILE_BYTES = 1024 * 1024
# A profile on a hung file system must not hold the call, nor the threads
# everything else uses: reads get a pool of their own and a time limit.
READ_TIMEOUT = 5.0
_readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="seccomp-read")


async def resolve(
    security: cri.LinuxContainerSecurityContext | cri.LinuxSandboxSecurityContext,
    field: str = "config.linux.security_context",
) -> SeccompChoice:
    """The profile a security context asks for; ``field`` names it in error messages."""
    kind, local_path = seccomp_request(
        _requested_profile(security), security.seccomp_profile_path, f"{field}.seccomp"
    )
    if kind != "localhost":
        return seccomp_choice(kind, None)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            text = await loop.run_in_executor(_readers, _read_profile, local_path, field)
    except TimeoutError as exc:
        raise InvalidArgument(
            f"{field}.seccomp: profile {local_path[:256]!r} could not be read "
            f"within {READ_TIMEOUT:g}s"
        ) from exc
    return seccomp_choice(kind, text)


def _read_profile(path: str, field: str) -> str:
    try:
        raw = hostfs.read_regular_file(path, MAX_PROFILE_BYTES)
    except OSError as exc:
        raise InvalidArgument(
            f"{field}.seccomp: cannot read profile {path!r}: {exc.strerror}"
        ) from exc
    except hostfs.UnsafePath as exc:
        raise InvalidArgument(f"{field}.seccomp: {exc}") from exc
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"{field}.seccomp: profile {path!r} is not valid JSON") from exc
    # Compact, so the security option stays one short line in dockerd's records.
    return json.dumps(parsed, separators=(",", ":"))


def _requested_profile(
    security: cri.LinuxContainerSecurityContext | cri.LinuxSandboxSecurityContext,
) -> cri.SecurityProfile | None:
    """The structured profile if the client set one (presence matters: unset ≠ RuntimeDefault)."""
    return security.seccomp if security.HasField("seccomp") else None
