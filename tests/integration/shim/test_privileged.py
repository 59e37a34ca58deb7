"""Privileged pods on a host whose capability bounding set may be reduced (this one lacks
CAP_SYS_RESOURCE, so dockerd's own privileged mode fails there)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from criapi.runtime.v1 import api_pb2 as pb
from shim.engine import capabilities
from tests.support.cri import Workspace

SLEEPER = ("sleep", "3600")
# Device nodes every Docker container gets, privileged or not.
_DEFAULT_DEVICES = {"null", "zero", "full", "random", "urandom", "tty", "console", "ptmx"}


def runtime_bounding_set() -> int:
    mask = capabilities.bounding_set(Path("/proc/self/status").read_text())
    assert mask is not None
    return mask


async def cap_eff(workspace: Workspace, container_id: str) -> int:
    response = await workspace.exec(container_id, "cat", "/proc/self/status")
    assert response.exit_code == 0, response.stderr
    mask = [line for line in response.stdout.decode().splitlines() if line.startswith("CapEff:")]
    return int(mask[0].split(":")[1].strip(), 16)


async def run_privileged(workspace: Workspace) -> str:
    pod = workspace.pod_config("priv")
    pod.linux.security_context.privileged = True
    pod_id, pod = await workspace.run_pod(pod)
    config = workspace.container_config("app", SLEEPER)
    config.linux.security_context.privileged = True
    return await workspace.run_container(pod_id, pod, config)


async def test_privileged_pod_runs_with_every_held_capability(workspace: Workspace) -> None:
    container_id = await run_privileged(workspace)
    assert (await workspace.status(container_id)).state == pb.CONTAINER_RUNNING
    held = runtime_bounding_set()
    # Docker 20.10 does not know the three newest capabilities by name.
    known = (1 << 38) - 1
    assert await cap_eff(workspace, container_id) & known == held & known
    added = await workspace.exec(container_id, "ip", "addr", "add", "10.99.0.1/32", "dev", "lo")
    assert added.exit_code == 0, added.stderr


async def test_privileged_means_devices_no_masks_and_writable_sys(workspace: Workspace) -> None:
    container_id = await run_privileged(workspace)
    mounts = (await workspace.exec(container_id, "cat", "/proc/self/mountinfo")).stdout.decode()
    targets = {line.split()[4]: line.split()[5] for line in mounts.splitlines()}
    assert "/proc/kcore" not in targets
    assert "/proc/sys" not in targets
    assert targets["/sys"].startswith("rw")
    extra = sorted(
        name for name in os.listdir("/dev") if name not in _DEFAULT_DEVICES and _is_device(name)
    )
    assert extra, "the host has no device beyond Docker's defaults"
    listed = await workspace.exec(container_id, "ls", f"/dev/{extra[0]}")
    assert listed.exit_code == 0, listed.stderr
    seccomp = await workspace.exec(container_id, "grep", "Seccomp:", "/proc/self/status")
    assert seccomp.stdout.split()[-1] == b"0"


async def test_adding_all_grants_every_held_capability(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(name="addall")
    config = workspace.container_config("app", SLEEPER)
    config.linux.security_context.capabilities.add_capabilities.append("ALL")
    config.linux.security_context.capabilities.drop_capabilities.append("CHOWN")
    container_id = await workspace.run_container(pod_id, pod, config)
    known = (1 << 38) - 1
    assert await cap_eff(workspace, container_id) & known == runtime_bounding_set() & known & ~1


def _is_device(name: str) -> bool:

    try:
        mode = os.lstat(f"/dev/{name}").st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
