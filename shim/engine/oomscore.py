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

from shim.deadline import rpc_deadline
from shim.engine.dockerapi import DockerAPI
from shim.errors import DockerAPIError, ShimError

log = logging.getLogger(__name__)

PROBE_SCORE = -1000


class OomScorePolicy:
    def __init__(self, docker: DockerAPI) -> None:
        self._docker = docker
        self._probe_task: asyncio.Task[bool | None] | None = None
        self._negative_allowed: bool | None = None

    @property
    def negative_allowed(self) -> bool | None:
        """The probe's verdict; None until a negative score was first requested."""
        return self._negative_allowed

    async def effective(self, requested: int, image: str) -> int:
        """The score to give a container that asked for ``requested``.

        ``image`` is any image already present locally; the probe runs it.
        """
        if requested >= 0 or self._negative_allowed:
            return requested
        if self._negative_allowed is None:
            if self._probe_task is None or self._probe_task.done():
                self._probe_task = asyncio.create_task(self._probe(image))
            # Shielded: a caller that gives up must not leave a half-done probe container.
            self._negative_allowed = await asyncio.shield(self._probe_task)
        if self._negative_allowed is False:
            log.debug("kernel refuses negative oom_score_adj; using 0 instead of %d", requested)
            return 0
        return requested

    async def _probe(self, image: str) -> bool | None:
        """True/False: the verdict; None: the probe itself failed (ask again next time)."""
        name = f"cri-shim-oom-probe-{secrets.token_hex(4)}"
        body = {
            "Image": image,
            "Labels": {"io.cri-shim.probe": "oom-score-adj"},
            "HostConfig": {"OomScoreAdj": PROBE_SCORE, "NetworkMode": "none"},
        }
        # The shim's own deadline applies, not the caller's: the verdict serves every caller.
        with rpc_deadline(None):
            try:
                probe_id = await self._docker.create_container(name, body)
            except ShimError as exc:
                log.warning(
                    "cannot probe negative oom_score_adj (%s); passing it through", exc.message
                )
                return None
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
