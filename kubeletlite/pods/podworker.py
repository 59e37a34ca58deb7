"""One pod's supervision: the kubelet's pod worker and SyncPod, for one process.

1. Adopt what the runtime already has for the pod's UID (a restarted
   kubelet-lite re-creates nothing), or run a new sandbox.
2. Every relist period, or sooner when a start finishes, re-read the
   runtime's view (the kubelet's PLEG) and act on it: start containers that
   have not run, restart exited ones as the restart policy says (with
   crash-loop back-off), re-create a sandbox that died.
3. Start containers in spec order, each with its postStart before the next
   (``ContainerLifecycle``), unless ``parallel_start``.
4. On deletion: stop starting things, cancel hooks in flight, kill running
   containers in parallel (preStop first), then stop and remove the sandbox.

Concurrency is structured: a worker's tasks (starts, hooks, kills, events)
live in its TaskGroup and end with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import manifest as m
from kubeletlite import metrics
from kubeletlite.pods import volumes
from kubeletlite.pods.lifecycle import ContainerLifecycle
from kubeletlite.pods.node import Node
from kubeletlite.pods.podmachine import ContainerState, PodState
from kubeletlite.runtime import podconfig
from kubeletlite.runtime.client import RuntimeCallError, recency
from kubeletlite.state import podstate, records
from kubeletlite.state.podstate import DELETED, TERMINAL
from kubeletlite.state.recorder import Recorder

log = logging.getLogger(__name__)

SANDBOX_RETRY_SECONDS = 5.0


class PodWorker:
    def __init__(self, pod: m.Pod, manifest_json: str, node: Node) -> None:
        self.pod = pod
        self.manifest_json = manifest_json
        self.node = node
        self.recorder = Recorder(pod, node.store.pod(pod.namespace, pod.name, pod.uid))
        self.state = PodState(pod)
        self.sandbox = self.state.sandbox
        self.lifecycle = ContainerLifecycle(pod, node, self.recorder, self.sandbox)
        self.containers = self.state.containers  # owned by self.state: changed by transitions
        self._policy = pod.spec.restart_policy
        self._wake = asyncio.Event()
        self._terminate = asyncio.Event()
        self._grace_override: int | None = None
        self._group: asyncio.TaskGroup | None = None
        self._start_tasks: set[asyncio.Task[None]] = set()
        self._published: records.PodStatus | None = None
        self._sandbox_retry_at = 0.0
        self._began = self.node.clock.monotonic()
        self._ready = False

    @property
    def phase(self) -> str:
        return self.state.phase

    # -- entry points -------------------------------------------------------------------

    def request_termination(self, grace_seconds: int | None = None) -> None:
        """Ask for the pod's graceful termination (deletion)."""
        self._grace_override = grace_seconds
        self._terminate.set()
        self._wake.set()

    async def run(self) -> str:
        """Supervise until the pod completes (returns its phase) or is deleted ("Deleted")."""
        await self.recorder.claim()
        unwatch = self.node.pleg.watch(self.pod.uid, self._wake.set)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                return await self._supervise()
        finally:
            unwatch()
            self.recorder.release()

    async def delete(self, grace_seconds: int | None) -> None:
        """Terminate a pod no process supervises: take over its state, then kill it."""
        await self.recorder.claim()
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                if await self._adopt_sandbox():
                    await self._relist()
                self._grace_override = grace_seconds
                await self._terminate_pod()
        finally:
            self.recorder.release()

    # -- the loop -----------------------------------------------------------------------

    async def _supervise(self) -> str:
        await self.recorder.init()
        if not await self._adopt_sandbox():
            await self._new_sandbox()
        await self._relist()
        await self._resume_interrupted_post_starts()
        while not self._terminate.is_set():
            try:
                if await self._deletion_requested():
                    break
                await self._sync()
            except RuntimeCallError as exc:
                # The runtime may be restarting: keep the pod, try again next period.
                log.warning("syncing %s: %s", self.pod.describe(), exc)
            if self.phase in TERMINAL and not self._start_tasks:
                await self._finish()
                return self.phase
            await self._idle()
            await self._relist_tolerant()
        await self._terminate_pod()
        return DELETED

    async def _sync(self) -> None:
        """One round of the kubelet's SyncPod; the pod phase is computed after it."""
        if self.sandbox.id and await self._sandbox_ready():
            self._launch_starts()
        elif not (self.sandbox.id and self.state.current_phase() in TERMINAL):
            # No usable sandbox, and the pod is not simply finished: (re)create it.
            await self._replace_sandbox()
        self.state.update_phase()
        await self._publish()

    async def _idle(self) -> None:
        """Wait for the next relist, a finished task, a runtime event about this pod, a
        retry time or a termination request."""
        options = self.node.options
        now = self.node.clock.monotonic()
        retries = [self._sandbox_retry_at, *(s.retry_at for s in self.containers)]
        # While a start and its hooks are in flight, the pod's status changes without
        # runtime events (a postStart failing, a preStop holding): keep relisting often.
        period = (
            options.relist_period
            if self._start_tasks
            else self.node.pleg.period(options.relist_period, options.evented_relist_period)
        )
        deadline = now + min([period, *(at - now for at in retries if at > now)])
        while not self._wake.is_set() and (remaining := deadline - self.node.clock.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, options.relist_period)):
                    await self._wake.wait()
            # Between relists driven by events, a `delete` from another process is still
            # noticed within one relist period: it leaves a file, not a runtime event.
            if remaining > options.relist_period and await self.recorder.deletion() is not None:
                break
        self._wake.clear()

    async def _deletion_requested(self) -> bool:
        """`kubeletlite delete` asked this supervisor to terminate the pod."""
        request = await self.recorder.deletion()
        if request is None:
            return False
        self._grace_override = request.grace_seconds
        self._terminate.set()
        return True

    # -- sandbox ------------------------------------------------------------------------

    async def _adopt_sandbox(self) -> bool:
        """Take over the newest sandbox of this pod, if the runtime has one."""
        sandboxes = await self.node.runtime.list_pod_sandboxes({podconfig.POD_UID: self.pod.uid})
        if not sandboxes:
            return False
        newest = max(sandboxes, key=recency)
        self.sandbox.adopted(newest.id, newest.metadata.attempt)
        await self._prepare_sandbox_config()
        if newest.state == cri.SANDBOX_READY:
            status = await self.node.runtime.pod_sandbox_status(newest.id)
            self.sandbox.observed(status.network.ip)
        log.info("adopted sandbox %s of pod %s", newest.id[:12], self.pod.describe())
        return True

    async def _prepare_sandbox_config(self) -> cri.PodSandboxConfig:
        volume_paths = await asyncio.to_thread(volumes.prepare, self.pod, self.node.facts.pods_root)
        config = podconfig.sandbox_config(
            self.pod, self.sandbox.attempt, self.node.facts, self.manifest_json
        )
        self.sandbox.configured(config, volume_paths)
        return config

    async def _new_sandbox(self) -> None:
        try:
            config = await self._prepare_sandbox_config()
            await asyncio.to_thread(os.makedirs, config.log_directory, 0o755, True)
            self.sandbox.created(await self.node.runtime.run_pod_sandbox(config))
            status = await self.node.runtime.pod_sandbox_status(self.sandbox.id)
        except (RuntimeCallError, volumes.VolumeError, OSError) as exc:
            reason = (
                "FailedMount" if isinstance(exc, volumes.VolumeError) else "FailedCreatePodSandBox"
            )
            await self.recorder.event("Warning", reason, f"Failed to create pod sandbox: {exc}")
            self._sandbox_retry_at = self.node.clock.monotonic() + SANDBOX_RETRY_SECONDS
            return
        self.sandbox.observed(status.network.ip)

    async def _sandbox_ready(self) -> bool:
        try:
            status = await self.node.runtime.pod_sandbox_status(self.sandbox.id)
        except RuntimeCallError as exc:
            if exc.not_found:
                return False
            raise
        self.sandbox.observed(status.network.ip)
        return status.state == cri.SANDBOX_READY

    async def _replace_sandbox(self) -> None:
        """The sandbox died (or never came up): kill what is left, start over in a new one."""
        if self.sandbox.id:
            await self.recorder.event(
                "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created."
            )
            await self._cancel_starts()
            await self._kill_running()
            await self._remove_sandbox()
            self.state.sandbox_replaced()
        if self.node.clock.monotonic() >= self._sandbox_retry_at:
            await self._new_sandbox()

    async def _remove_sandbox(self) -> None:
        for step in (self.node.runtime.stop_pod_sandbox, self.node.runtime.remove_pod_sandbox):
            try:
                await step(self.sandbox.id)
            except RuntimeCallError as exc:
                if not exc.not_found:
                    raise
        self.sandbox.removed()

    # -- relist (the kubelet's PLEG) ----------------------------------------------------

    async def _relist_tolerant(self) -> None:
        try:
            await self._relist()
        except RuntimeCallError as exc:
            log.warning("relisting %s: %s", self.pod.describe(), exc)

    async def _relist(self) -> None:
        if not self.sandbox.id:
            return
        listed = await self.node.runtime.list_containers({podconfig.POD_UID: self.pod.uid})
        mine = [c for c in listed if c.pod_sandbox_id == self.sandbox.id]
        for slot in self.containers:
            if slot.starting:
                continue
            candidates = [c for c in mine if c.metadata.name == slot.spec.name]
            if candidates:
                newest = max(candidates, key=recency)
                if newest.id != slot.container_id:
                    slot.adopt(newest.id, newest.metadata.attempt)
            await self._refresh(slot)

    async def _refresh(self, slot: ContainerState) -> None:
        if not slot.container_id:
            return
        try:
            status = await self.node.runtime.container_status(slot.container_id)
        except RuntimeCallError as exc:
            if not exc.not_found:
                raise
            slot.vanished()
            return
        if slot.observed(status):
            await self._on_exit(slot)

    async def _on_exit(self, slot: ContainerState) -> None:
        status = slot.status
        assert status is not None
        path = volumes.termination_log_path(
            self.pod.uid, slot.spec.name, slot.attempt, self.node.facts.pods_root
        )
        slot.exit_recorded(await asyncio.to_thread(volumes.read_termination_message, path))
        note = f"exit code {status.exit_code} ({status.reason})"
        await self.recorder.mark(
            slot.spec.name, slot.container_id, "exited", status.exit_code == 0, note
        )
        metrics.CONTAINER_EXITS.labels(status.reason or "Unknown").inc()

    # -- starts and restarts ------------------------------------------------------------

    def _launch_starts(self) -> None:
        if self._terminate.is_set():
            return
        parallel = self.node.options.parallel_start
        if self._start_tasks and not parallel:
            # Like SyncPod, the next round begins when this one's starts are done. Deciding
            # now would use up a crash-looping container's immediate restart for nothing.
            return
        due = [slot for slot in self.containers if self._due_for_start(slot)]
        if not due:
            return
        if parallel:
            for slot in due:
                self._spawn(self._start(slot))
        else:
            self._spawn(self._start_in_order(due))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._group is not None
        task = self._group.create_task(coro)
        self._start_tasks.add(task)
        task.add_done_callback(self._start_finished)

    def _start_finished(self, task: asyncio.Task[None]) -> None:
        self._start_tasks.discard(task)
        self._wake.set()

    async def _start_in_order(self, due: list[ContainerState]) -> None:
        """Like SyncPod: one after the other, each postStart done before the next start."""
        for slot in due:
            if self._terminate.is_set():
                return
            await self._start(slot)

    async def _start(self, slot: ContainerState) -> None:
        with slot.starting_attempt():
            try:
                await self.lifecycle.start(slot)
                self._note_ready()
            except RuntimeCallError as exc:
                retry_at = self.node.clock.monotonic() + self.node.options.backoff_initial
                slot.start_failed("RunContainerError", str(exc), retry_at)

    def _due_for_start(self, slot: ContainerState) -> bool:
        if slot.starting or self.node.clock.monotonic() < slot.retry_at:
            return False
        if slot.status is None:
            return not slot.container_id
        if slot.created_only:
            return True
        if not slot.exited or not podstate.restart_allowed(self._policy, slot.view):
            return False
        return self._backoff_allows(slot)

    def _backoff_allows(self, slot: ContainerState) -> bool:
        """The kubelet's doBackOff: restart now, or note the wait (and say so once)."""
        assert slot.status is not None
        key = self._backoff_key(slot)
        finished, now = slot.status.finished_at / 1e9, self.node.clock.time()
        wait = self.node.backoff.remaining(key, finished, now)
        if wait <= 0:
            self.node.backoff.record_restart(key, finished, now)
            metrics.RESTARTS.inc()
            return True
        message = (
            f"back-off {wait:.0f}s restarting failed container={slot.spec.name} "
            f"pod={self.pod.describe()}"
        )
        if slot.backing_off(message, self.node.clock.monotonic() + wait):
            name, pod = slot.spec.name, self.pod.describe()
            message = f"Back-off restarting failed container {name} in pod {pod}"
            self._background(self.recorder.event("Warning", "BackOff", message, slot.spec.name))
        return False

    def _backoff_key(self, slot: ContainerState) -> str:
        return f"{self.pod.uid}_{slot.spec.name}_{m.container_hash(self.pod, slot.spec.name)}"

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._group is not None
        self._group.create_task(coro)

    async def _resume_interrupted_post_starts(self) -> None:
        """Run, once, a postStart that a crash of kubelet-lite interrupted.

        The timeline records "created" before StartContainer and
        "postStart.end" after the hook. A running container with the first
        and not the second never had its hook complete (the kubelet loses
        such hooks: kubernetes/kubernetes#60053).
        """
        marks = await self.recorder.marks()
        created = {mark.container_id for mark in marks if mark.what == "created"}
        finished = {mark.container_id for mark in marks if mark.what == "postStart.end"}
        for slot in self.containers:
            if not slot.running:
                continue
            hook = slot.spec.lifecycle.post_start
            if hook is not None and slot.container_id in created - finished:
                log.info(
                    "resuming the interrupted postStart of %s in %s",
                    slot.spec.name,
                    self.pod.describe(),
                )
                self._spawn(self._resume_post_start(slot))
            else:
                slot.start_completed()
        self._note_ready()

    async def _resume_post_start(self, slot: ContainerState) -> None:
        with slot.starting_attempt():
            await self.lifecycle.post_start(slot, slot.container_id)
            self._note_ready()

    def _note_ready(self) -> None:
        if not self._ready and self.state.all_started():
            self._ready = True
            metrics.POD_START_SECONDS.observe(self.node.clock.monotonic() - self._began)

    # -- termination --------------------------------------------------------------------

    async def _cancel_starts(self) -> None:
        """Stop starting containers; a postStart in flight is cancelled, as the kubelet does."""
        tasks = list(self._start_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _kill_running(self) -> None:
        """Kill every running container of the pod, in parallel."""
        for slot in self.containers:
            await self._refresh(slot)
        async with asyncio.TaskGroup() as group:
            for slot in self.containers:
                if slot.running:
                    group.create_task(self.lifecycle.kill(slot, None, self._grace_override))

    async def _terminate_pod(self) -> None:
        self._terminate.set()
        await self._cancel_starts()
        if self.sandbox.id:
            await self._kill_running()
            for slot in self.containers:
                # The last word on each container, kept in the record after removal.
                await self._refresh(slot)
            await self._remove_sandbox()
        log_dir = podconfig.pod_log_directory(self.pod, self.node.facts)
        await asyncio.to_thread(
            volumes.remove_pod_directories, self.pod.uid, self.node.facts.pods_root, log_dir
        )
        self._forget_backoff()
        self.state.deleted()
        await self._publish()
        await self.recorder.deleted()

    def _forget_backoff(self) -> None:
        """The pod's containers never restart again: their back-off entries are history."""
        for slot in self.containers:
            self.node.backoff.forget(self._backoff_key(slot))

    async def _finish(self) -> None:
        """Every container is done for good: stop the sandbox, keep containers for their logs."""
        self._forget_backoff()
        if not self.sandbox.id:
            return
        try:
            await self.node.runtime.stop_pod_sandbox(self.sandbox.id)
        except RuntimeCallError as exc:
            if not exc.not_found:
                raise

    # -- status -------------------------------------------------------------------------

    def status(self) -> records.PodStatus:
        return self.state.status(terminating=self._terminate.is_set())

    async def _publish(self) -> None:
        status = self.status()
        if status != self._published:
            self._published = status
            await self.recorder.publish(status)
