"""The node agent: pod workers for `run` and `serve`, and deletion for `delete`.

One :class:`Agent` per process owns the runtime channel, the HTTP client the
httpGet hooks use, the state store and the node facts; its pod workers run in
a TaskGroup. `run` terminates its pods gracefully when asked to stop; `serve`
does what the kubelet does with static pods when it stops: it leaves them
running, and a restarted `serve` adopts them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

import aiohttp
import watchfiles

from kubeletlite.manifest import ManifestError, podfiles
from kubeletlite.manifest.podfiles import LoadedPod
from kubeletlite.pods.backoff import CrashLoopBackOff
from kubeletlite.pods.hooks import HookRunner
from kubeletlite.pods.node import Node, load_facts
from kubeletlite.pods.pleg import EventedPleg, EventSource, Pleg, stop_task
from kubeletlite.pods.podworker import PodWorker
from kubeletlite.runtime import podconfig
from kubeletlite.runtime.api import RuntimeAPI
from kubeletlite.runtime.client import RuntimeClient, newest_sandboxes
from kubeletlite.settings import AgentSettings
from kubeletlite.state.recorder import AlreadySupervised, is_supervised
from kubeletlite.state.store import PodRecord, StateStore

log = logging.getLogger(__name__)

# How long `delete` waits for a supervising process beyond the grace period.
DELETE_MARGIN_SECONDS = 60.0


class Agent:
    def __init__(self, settings: AgentSettings, runtime: RuntimeAPI | None = None) -> None:
        """``runtime``: any CRI runtime (tests pass a fake); by default a gRPC client of
        ``settings.runtime_endpoint``. The agent closes it."""
        self.settings = settings
        self.runtime: RuntimeAPI = runtime or RuntimeClient(settings.runtime_endpoint)
        self.store = StateStore(settings.state_dir)
        self._http: aiohttp.ClientSession | None = None
        self._node: Node | None = None
        self._pleg_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Agent:
        # Hooks get no client-wide timeout: like the kubelet's, they may take as long as needed.
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        facts = await load_facts(self.settings.state_dir, self.settings.pod_logs_dir)
        options = self.settings.options
        pleg: Pleg = Pleg()
        if options.container_events and isinstance(self.runtime, EventSource):
            pleg = EventedPleg(self.runtime)
        self._node = Node(
            runtime=self.runtime,
            hooks=HookRunner(self.runtime, self._http),
            store=self.store,
            facts=facts,
            options=options,
            backoff=CrashLoopBackOff(initial=options.backoff_initial, maximum=options.backoff_max),
            pleg=pleg,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pleg_task is not None:
            await stop_task(self._pleg_task)
        if self._http is not None:
            await self._http.close()
        await self.runtime.close()

    def _follow_events(self) -> None:
        """Start following the runtime's container events, once, for supervising pods."""
        pleg = self.node.pleg
        if isinstance(pleg, EventedPleg) and self._pleg_task is None:
            self._pleg_task = asyncio.create_task(pleg.run(), name="pleg")

    @property
    def node(self) -> Node:
        assert self._node is not None, "use the agent as an async context manager"
        return self._node

    # -- run ------------------------------------------------------------------------

    async def run_pods(self, pods: list[LoadedPod], stop: asyncio.Event) -> dict[str, str]:
        """Supervise ``pods`` until each completes; ``stop`` terminates them gracefully.

        Returns each pod's final phase by ``namespace/name``.
        """
        self._follow_events()
        workers = [PodWorker(p.pod, p.manifest_json, self.node) for p in pods]
        # Refuse before starting anything, rather than cancel pods half started.
        for worker in workers:
            if await asyncio.to_thread(is_supervised, worker.recorder.record):
                pod = f"{worker.pod.namespace}/{worker.pod.name}"
                raise AlreadySupervised(f"pod {pod} is supervised by another kubelet-lite process")
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(worker.run()) for worker in workers]
            relay = group.create_task(_terminate_on(stop, workers))
            await asyncio.wait(tasks)
            relay.cancel()
        return {
            f"{w.pod.namespace}/{w.pod.name}": task.result()
            for w, task in zip(workers, tasks, strict=True)
        }

    # -- serve ----------------------------------------------------------------------

    async def serve(self, directory: Path, stop: asyncio.Event) -> None:
        """Keep the pods of ``directory``'s manifests running, as static pods."""
        self._follow_events()
        supervisor = _StaticPods(self, await asyncio.to_thread(directory.resolve))
        async with asyncio.TaskGroup() as group:
            supervisor.group = group
            await supervisor.reconcile(initial=True)
            async for _changes in _directory_changes(directory, stop):
                await supervisor.reconcile(initial=False)
            supervisor.stop_supervising()

    # -- delete ---------------------------------------------------------------------

    async def delete(self, namespace: str, name: str, grace_seconds: int | None) -> list[str]:
        """Delete the pod(s) named so; returns their UIDs. Raises LookupError if there are none."""
        sandboxes = await self.runtime.list_pod_sandboxes(
            {
                podconfig.MANAGED: "true",
                podconfig.POD_NAMESPACE: namespace,
                podconfig.POD_NAME: name,
            }
        )
        newest = newest_sandboxes(sandboxes)
        if not newest:
            raise LookupError(f'pods "{name}" not found in namespace "{namespace}"')
        for uid, sandbox in sorted(newest.items()):
            await self._delete_one(sandbox.id, namespace, name, uid, grace_seconds)
        return sorted(newest)

    async def delete_sandbox_pod(self, sandbox_id: str, grace: int | None) -> None:
        """Delete the pod a sandbox belongs to."""
        status = await self.runtime.pod_sandbox_status(sandbox_id)
        meta = status.metadata
        await self._delete_one(sandbox_id, meta.namespace, meta.name, meta.uid, grace)

    async def _delete_one(
        self, sandbox_id: str, namespace: str, name: str, uid: str, grace: int | None
    ) -> None:
        record = self.store.pod(namespace, name, uid)
        if await asyncio.to_thread(is_supervised, record):
            # The supervising process terminates it (one actor per pod); wait for it.
            await asyncio.to_thread(record.request_deletion, grace)
            pod_grace = grace if grace is not None else 30
            await _wait_deleted(record, pod_grace + DELETE_MARGIN_SECONDS)
            return
        status = await self.runtime.pod_sandbox_status(sandbox_id)
        stored = status.annotations.get(podconfig.MANIFEST, "")
        source = status.annotations.get(podconfig.SOURCE, "<runtime>")
        loaded = podfiles.from_stored(stored, source)
        await PodWorker(loaded.pod, loaded.manifest_json, self.node).delete(grace)


async def _terminate_on(stop: asyncio.Event, workers: list[PodWorker]) -> None:
    await stop.wait()
    for worker in workers:
        worker.request_termination()


async def _wait_deleted(record: PodRecord, within: float) -> None:
    """Until the supervisor marks the pod deleted in its record."""
    async with asyncio.timeout(within):
        if await asyncio.to_thread(record.is_deleted):
            return
        async for _ in watchfiles.awatch(record.directory, debounce=50, step=20):
            if await asyncio.to_thread(record.is_deleted):
                return


async def _directory_changes(
    directory: Path, stop: asyncio.Event
) -> AsyncIterator[set[tuple[watchfiles.Change, str]]]:
    async for changes in watchfiles.awatch(directory, stop_event=stop, debounce=200):
        yield changes


class _StaticPods:
    """Reconciles running workers with the manifests in a directory."""

    def __init__(self, agent: Agent, directory: Path) -> None:
        self.agent = agent
        self.directory = directory
        self.group: asyncio.TaskGroup | None = None
        self.workers: dict[str, tuple[PodWorker, asyncio.Task[str]]] = {}

    async def reconcile(self, initial: bool) -> None:
        desired = await self._desired()
        for uid, (worker, task) in list(self.workers.items()):
            if uid not in desired and not task.done():
                log.info("manifest of %s removed or changed: terminating it", worker.pod.describe())
                worker.request_termination()
        if initial:
            await self._remove_orphans(desired)
        for uid, loaded in desired.items():
            if uid in self.workers:
                continue
            previous = [
                t for w, t in self.workers.values() if _same_pod(w, loaded) and not t.done()
            ]
            self._start(loaded, previous)

    def _start(self, loaded: LoadedPod, previous: list[asyncio.Task[str]]) -> None:
        assert self.group is not None
        worker = PodWorker(loaded.pod, loaded.manifest_json, self.agent.node)
        task = self.group.create_task(self._run_after(worker, previous))
        self.workers[loaded.pod.uid] = (worker, task)
        task.add_done_callback(functools.partial(self._forget, loaded.pod.uid))

    async def _run_after(self, worker: PodWorker, previous: list[asyncio.Task[str]]) -> str:
        """A replaced pod is terminated before its new version starts (ports, names)."""
        if previous:
            await asyncio.wait(previous)
        try:
            return await worker.run()
        except Exception:
            log.exception("supervising %s failed", worker.pod.describe())
            return "Unknown"

    def _forget(self, uid: str, _task: asyncio.Task[str]) -> None:
        entry = self.workers.get(uid)
        if entry is not None and entry[1].done():
            del self.workers[uid]

    def stop_supervising(self) -> None:
        """Leave the pods running (static pods outlive their kubelet); a restart adopts them."""
        for _worker, task in self.workers.values():
            task.cancel()

    async def _desired(self) -> dict[str, LoadedPod]:
        pods: dict[str, LoadedPod] = {}
        files = await asyncio.to_thread(podfiles.manifest_files, self.directory)
        for path in files:
            try:
                loaded, warnings = await asyncio.to_thread(podfiles.load_file, path)
            except (ManifestError, OSError) as exc:
                log.error("ignoring %s: %s", path, exc)
                continue
            for warning in warnings:
                log.warning("%s", warning)
            pods.update({p.pod.uid: p for p in loaded})
        return pods

    async def _remove_orphans(self, desired: dict[str, LoadedPod]) -> None:
        """Pods from this directory whose manifest is gone since the last run are deleted."""
        sandboxes = await self.agent.runtime.list_pod_sandboxes({podconfig.MANAGED: "true"})
        orphans = [
            sandbox
            for uid, sandbox in newest_sandboxes(sandboxes).items()
            if uid not in desired
            and sandbox.annotations.get(podconfig.SOURCE, "").startswith(f"{self.directory}/")
        ]
        for sandbox in orphans:
            meta = sandbox.metadata
            log.info("pod %s/%s has no manifest any more: deleting it", meta.namespace, meta.name)
            await self.agent.delete_sandbox_pod(sandbox.id, None)


def _same_pod(worker: PodWorker, loaded: LoadedPod) -> bool:
    return (worker.pod.namespace, worker.pod.name) == (loaded.pod.namespace, loaded.pod.name)
