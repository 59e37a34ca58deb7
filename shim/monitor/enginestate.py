"""What Version and Status report about dockerd, kept current in the background.

The kubelet asks for Status every few seconds and crictl asks for Version on
every command; neither may cost a Docker round trip each time. One refresh
(a ``_ping``, whose ``Server`` header carries the engine version, and a look
at the pod network) runs on the health loop's period, and the RPCs read its
latest verdict. Before the first refresh, a caller runs one itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from shim.deadline import rpc_deadline
from shim.errors import ShimError

# Networks that need no Docker network object to exist.
BUILTIN_NETWORKS = frozenset({"host", "none"})


class EngineProbe(Protocol):
    """What the monitor asks dockerd (``shim.engine.docker.DockerClient`` in the daemon)."""

    async def ping(self) -> str: ...

    async def version(self) -> dict[str, Any]: ...

    async def network_exists(self, name: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Condition:
    ready: bool
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class EngineState:
    version: str
    runtime: Condition
    network: Condition


class EngineMonitor:
    """The latest :class:`EngineState`; :meth:`refresh` asks dockerd again."""

    def __init__(self, docker: EngineProbe, pod_network: str) -> None:
        self._docker = docker
        self._pod_network = pod_network
        self._state: EngineState | None = None
        self._refreshing: asyncio.Task[EngineState] | None = None

    async def current(self) -> EngineState:
        """The latest verdict, asking dockerd only if there is none yet."""
        if self._state is not None:
            return self._state
        return await self.refresh()

    async def refresh(self) -> EngineState:
        """Ask dockerd now; concurrent callers share one round of questions."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._ask())
        # Shielded: one caller giving up must not cancel the answer others await.
        self._state = await asyncio.shield(self._refreshing)
        return self._state

    async def _ask(self) -> EngineState:
        # The shim's own deadline applies, not the first caller's: the answer serves all.
        with rpc_deadline(None):
            return await self._ask_dockerd()

    async def _ask_dockerd(self) -> EngineState:
        version = self._state.version if self._state is not None else ""
        try:
            version = await self._docker.ping() or version or await self._engine_version()
        except ShimError as exc:
            down = Condition(False, "DockerDaemonNotReady", exc.message)
            return EngineState(version=version, runtime=down, network=down)
        return EngineState(version=version, runtime=Condition(True), network=await self._network())

    async def _engine_version(self) -> str:
        """Fallback for an engine whose ``_ping`` has no ``Server`` header."""
        return str((await self._docker.version()).get("Version", ""))

    async def _network(self) -> Condition:
        network = self._pod_network
        if network in BUILTIN_NETWORKS:
            return Condition(True)
        try:
            exists = await self._docker.network_exists(network)
        except ShimError as exc:
            return Condition(False, "NetworkCheckFailed", exc.message)
        if not exists:
            return Condition(False, "NetworkMissing", f"docker network {network!r} does not exist")
        return Condition(True)
