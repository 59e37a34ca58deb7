"""Whether this host lets containers run with a negative oom_score_adj.

Lowering oom_score_adj below 0 needs CAP_SYS_RESOURCE. Where the runtime
lacks it (rootless engines, restricted hosts, this project's CI machine),
runc fails the *start* of such a container, long after the create was
accepted. Since a container's OOM score cannot be changed after creation,
the only safe moment to decide is before creating it, so the shim asks the
host once, with a throw-away container, and clamps negative requests to 0
(with a warning) where they would fail.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from shim.docker import DockerClient
from shim.errors import DockerAPIError, ShimError

log = logging.getLogger(__name__)

PROBE_SCORE = -1000


class OomScorePolicy:
    def __init__(self, docker: DockerClient) -> None:
        self._docker = docker
        self._lock = asyncio.Lock()
        self._negative_allowed: bool | None = None

    @property
    def negative_allowed(self) -> bool | None:
        """The probe's verdict; None until a negative score was first requested."""
        return self._negative_allowed

    async def effective(self, requested: int, image: str) -> int:
        """The score to give a container that asked for ``requested``.

        ``image`` is any image already present locally; the probe runs it.
        """
        if requested >= 0:
            return requested
        async with self._lock:
            if self._negative_allowed is None:
                self._negative_allowed = await self._probe(image)
        if self._negative_allowed:
            return requested
        log.debug("kernel refuses negative oom_score_adj here; using 0 instead of %d", requested)
        return 0

    async def _probe(self, image: str) -> bool:
        name = f"cri-shim-oom-probe-{secrets.token_hex(4)}"
        body = {
            "Image": image,
            "Labels": {"io.cri-shim.probe": "oom-score-adj"},
            "HostConfig": {"OomScoreAdj": PROBE_SCORE, "NetworkMode": "none"},
        }
        probe_id = await self._docker.create_container(name, body)
        try:
            await self._docker.start_container(probe_id)
        except DockerAPIError as exc:
            log.warning(
                "negative oom_score_adj is refused on this host (%s); "
                "sandboxes and containers asking for one get 0",
                exc.message,
            )
            return False
        finally:
            try:
                await self._docker.remove_container(probe_id)
            except ShimError as exc:
                log.warning("could not remove OOM probe container %s: %s", probe_id, exc)
        log.info("negative oom_score_adj is allowed on this host")
        return True
