"""Resolving a seccomp request into what dockerd takes: a profile's JSON text.

dockerd reads ``seccomp=<json>`` from the create body, not a path, so a
``localhost/<path>`` profile is read here, on the shim's host, as the
kubelet's runtimes do. A leaf: the create-body translation imports the
:class:`SeccompChoice` made here, never the other way round.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from criapi.runtime.v1 import api_pb2 as cri
from shim import hostfs
from shim.errors import InvalidArgument

MAX_PROFILE_BYTES = 1024 * 1024
# A profile on a hung file system must not hold the call, nor the threads
# everything else uses: reads get a pool of their own and a time limit.
READ_TIMEOUT = 5.0
_readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="seccomp-read")


@dataclass(frozen=True, slots=True)
class SeccompChoice:
    """A resolved seccomp request: None = Docker's default profile."""

    security_opt: str | None


def seccomp_request(
    profile: cri.SecurityProfile | None, legacy_path: str, field: str
) -> tuple[str, str]:
    """Which seccomp profile is asked for: ("default"|"unconfined"|"localhost", local path).

    The structured ``seccomp`` field wins over the deprecated path string. With
    neither set, the CRI says the container runs unconfined.
    """
    if profile is not None:
        match profile.profile_type:
            case cri.SecurityProfile.RuntimeDefault:
                return "default", ""
            case cri.SecurityProfile.Unconfined:
                return "unconfined", ""
            case cri.SecurityProfile.Localhost:
                if not profile.localhost_ref.startswith("/"):
                    raise InvalidArgument(f"{field}.localhost_ref: must be an absolute path")
                return "localhost", profile.localhost_ref
            case _:
                raise InvalidArgument(f"{field}.profile_type: unknown value {profile.profile_type}")
    if legacy_path in ("runtime/default", "docker/default"):
        return "default", ""
    if legacy_path.startswith("localhost/"):
        local = legacy_path.removeprefix("localhost")
        return "localhost", local
    return "unconfined", ""


def seccomp_choice(kind: str, profile_json: str | None) -> SeccompChoice:
    if kind == "default":
        return SeccompChoice(None)
    if kind == "unconfined":
        return SeccompChoice("seccomp=unconfined")
    return SeccompChoice(f"seccomp={profile_json}")


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
