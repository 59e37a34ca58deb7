"""Whether dockerd's privileged mode works on this host, and what replaces it where not.

The runtime's bounding set is read once from /proc/self/status (the shim
runs beside dockerd with the same privileges). Where it lacks a capability,
privileged containers and ones adding ``ALL`` are rewritten by
:mod:`shim.engine.capabilities` to the capabilities held, restricted to the names
this dockerd knows (learnt once with a throw-away create, as the OOM-score
probe does), with a warning in the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import stat
from collections.abc import Sequence

from shim.deadline import rpc_deadline
from shim.engine import capabilities
from shim.engine.dockerapi import DockerAPI
from shim.errors import DockerAPIError, ShimError

log = logging.getLogger(__name__)

STATUS_PATH = "/proc/self/status"
LAST_CAP_PATH = "/proc/sys/kernel/cap_last_cap"
# Bound on the device nodes passed through (a host has a few hundred at most).
MAX_DEVICES = 4096
_UNKNOWN_CAP = re.compile(r'unknown capability: "(?:CAP_)?([A-Z_]+)"')


class PrivilegePolicy:
    def __init__(
        self,
        docker: DockerAPI,
        status_path: str = STATUS_PATH,
        last_cap_path: str = LAST_CAP_PATH,
    ) -> None:
        self._docker = docker
        self._status_path = status_path
        self._last_cap_path = last_cap_path
        self._task: asyncio.Task[list[str] | None] | None = None
        self._held: list[str] | None = None
        self._decided = False

    @property
    def reduced(self) -> bool | None:
        """True where privileged is emulated; None until first needed."""
        return None if not self._decided else self._held is not None

    async def replacement(
        self, privileged: bool, cap_add: Sequence[str], image: str
    ) -> capabilities.Replacement | None:
        """What stands in for dockerd's privileged mode (or add-ALL); None: nothing needed.

        ``image`` is any image already present locally; the first call may probe with it.
        """
        if not capabilities.wants_every(privileged, cap_add):
            return None
        held = await self._capabilities(image)
        if held is None:
            return None
        devices = await asyncio.to_thread(host_devices) if privileged else []
        return capabilities.Replacement(tuple(held), tuple(devices))

    async def _capabilities(self, image: str) -> list[str] | None:
        """None: dockerd's own privileged mode works; else the names to grant."""
        if self._decided:
            return self._held
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._detect(image))
        # Shielded: the verdict serves every caller; one that gives up must not cancel it.
        self._held = await asyncio.shield(self._task)
        self._decided = True
        return self._held

    async def _detect(self, image: str) -> list[str] | None:
        mask, last_cap = await asyncio.to_thread(self._read_host)
        if mask is None:
            return None
        missing = capabilities.missing_from(mask, last_cap)
        if not missing:
            return None
        held = await self._known_to_docker(capabilities.held(mask, last_cap), image)
        log.warning(
            "the runtime's capability bounding set lacks %s: privileged containers and "
            "ones adding ALL get the %d capabilities it holds instead of dockerd's privileged mode",
            ", ".join(f"CAP_{name}" for name in missing),
            len(held),
        )
        return held

    def _read_host(self) -> tuple[int | None, int]:
        try:
            with open(self._status_path, encoding="ascii", errors="replace") as handle:
                mask = capabilities.bounding_set(handle.read(64 * 1024))
            with open(self._last_cap_path, encoding="ascii") as handle:
                last_cap = int(handle.read(16).strip())
        except (OSError, ValueError) as exc:
            log.warning("cannot read the capability bounding set (%s); using dockerd's", exc)
            return None, 0
        return mask, last_cap

    async def _known_to_docker(self, names: list[str], image: str) -> list[str]:
        """``names`` without those this dockerd refuses as unknown (older engines)."""
        names = list(names)
        with rpc_deadline(None):
            for _ in range(len(capabilities.CAPABILITY_NAMES)):
                body = {
                    "Image": image,
                    "Labels": {"io.cri-shim.probe": "capabilities"},
                    "HostConfig": {"CapAdd": names, "NetworkMode": "none"},
                }
                name = f"cri-shim-cap-probe-{secrets.token_hex(4)}"
                try:
                    probe_id = await self._docker.create_container(name, body)
                except DockerAPIError as exc:
                    unknown = _UNKNOWN_CAP.search(exc.message)
                    if unknown is None or unknown.group(1) not in names:
                        log.warning("capability probe failed (%s); granting all held", exc)
                        return names
                    names.remove(unknown.group(1))
                    continue
                try:
                    await self._docker.remove_container(probe_id)
                except ShimError as exc:
                    log.warning("could not remove capability probe %s: %s", probe_id, exc)
                return names
        return names


def host_devices() -> list[str]:
    """Character and block device nodes under /dev, as dockerd's privileged mode passes."""
    found: list[str] = []
    for root, dirs, files in os.walk("/dev", followlinks=False):
        dirs[:] = [d for d in dirs if capabilities.is_device_candidate(os.path.join(root, d))]
        for file in files:
            path = os.path.join(root, file)
            if not capabilities.is_device_candidate(path):
                continue
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                found.append(path)
                if len(found) >= MAX_DEVICES:
                    return found
    return sorted(found)
