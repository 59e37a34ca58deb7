"""One container's way through its life: start (image, create, start, postStart) and kill.

These are the kubelet's ``startContainer`` and ``killContainer``. postStart
begins as soon as StartContainer returns, so it runs alongside the
entrypoint; a failure kills the container (preStop included). A kill runs
preStop within the grace period and gives StopContainer what is left of it,
never less than 2 s. Failures are recorded as events, never raised to the
pod worker, except a runtime that cannot be reached. What happens to the container
is reported through ``podmachine.ContainerState``'s transitions, never by setting a field.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import manifest as m
from kubeletlite import metrics
from kubeletlite.pods import redact, volumes
from kubeletlite.pods.hooks import HookResult, HookTarget, default_host, describe_handler
from kubeletlite.pods.node import Node
from kubeletlite.pods.podmachine import ContainerState, SandboxState
from kubeletlite.runtime import podconfig
from kubeletlite.runtime.client import RuntimeCallError
from kubeletlite.state.recorder import Recorder

log = logging.getLogger(__name__)

MIN_GRACE_SECONDS = 2  # the kubelet's minimumGracePeriodInSeconds


class ContainerLifecycle:
    def __init__(self, pod: m.Pod, node: Node, recorder: Recorder, sandbox: SandboxState) -> None:
        self.pod = pod
        self.node = node
        self.recorder = recorder
        self.sandbox = sandbox

    # -- start --------------------------------------------------------------------------

    async def start(self, slot: ContainerState) -> bool:
        """Start ``slot``'s next container and run its postStart; True if it is started."""
        container_id = await self._create_and_start(slot)
        if not container_id:
            return False
        if slot.spec.lifecycle.post_start is None:
            slot.start_completed()
            return True
        return await self.post_start(slot, container_id)

    async def _create_and_start(self, slot: ContainerState) -> str:
        image_ref = await self._ensure_image(slot)
        if image_ref is None:
            return ""
        previous, attempt = slot.container_id, slot.next_attempt()
        if slot.created_only:
            # Created but never started (a crash came in between): replace it, same attempt.
            with contextlib.suppress(RuntimeCallError):
                await self.node.runtime.remove_container(slot.container_id)
            previous, attempt = "", max(slot.attempt, 0)
        try:
            config = await self._container_config(slot.spec, image_ref, attempt)
        except (OSError, ValueError) as exc:
            await self._failed(slot, "CreateContainerConfigError", str(exc))
            return ""
        assert self.sandbox.config is not None
        try:
            container_id = await self.node.runtime.create_container(
                self.sandbox.id, config, self.sandbox.config
            )
        except RuntimeCallError as exc:
            await self._failed(slot, "CreateContainerError", exc.details)
            return ""
        slot.created(container_id, attempt)
        await self._mark(slot, "created")
        await self.recorder.event(
            "Normal", "Created", f"Created container: {slot.spec.name}", slot.spec.name
        )
        try:
            await self.node.runtime.start_container(container_id)
        except RuntimeCallError as exc:
            await self._failed(slot, "RunContainerError", exc.details)
            return ""
        await self._mark(slot, "started")
        await self.recorder.event(
            "Normal", "Started", f"Started container {slot.spec.name}", slot.spec.name
        )
        slot.container_started()
        if previous:
            await self._remove_older_than(slot, previous)
        return container_id

    async def _failed(self, slot: ContainerState, reason: str, message: str) -> None:
        slot.start_failed(reason, message, self._retry_at())
        await self.recorder.event("Warning", "Failed", f"Error: {message}", slot.spec.name)

    async def _ensure_image(self, slot: ContainerState) -> str | None:
        """The image per pull policy; None (with events and a retry later) when unavailable."""
        image, policy, name = slot.spec.image, slot.spec.image_pull_policy, slot.spec.name
        present = await self.node.runtime.image_status(image)
        if present is not None and policy != "Always":
            await self.recorder.event(
                "Normal", "Pulled", f'Container image "{image}" already present on machine', name
            )
            return present.id
        if policy == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            await self._image_failed(slot, "ErrImageNeverPull", message)
            return None
        await self.recorder.event("Normal", "Pulling", f'Pulling image "{image}"', name)
        started = self.node.clock.monotonic()
        try:
            image_ref = await self.node.runtime.pull_image(image)
        except RuntimeCallError as exc:
            await self._image_failed(
                slot, "ErrImagePull", f'Failed to pull image "{image}": {exc.details}'
            )
            return None
        took = self.node.clock.monotonic() - started
        await self.recorder.event(
            "Normal", "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s', name
        )
        return image_ref

    def _retry_at(self) -> float:
        return self.node.clock.monotonic() + self.node.options.backoff_initial

    async def _image_failed(self, slot: ContainerState, reason: str, message: str) -> None:
        slot.start_failed(reason, message, self._retry_at())
        name = slot.spec.name
        await self.recorder.event("Warning", "Failed", message, name)
        await self.recorder.event("Warning", "Failed", f"Error: {reason}", name)
        await self.recorder.event(
            "Normal", "BackOff", f'Back-off pulling image "{slot.spec.image}"', name
        )

    async def _container_config(
        self, spec: m.Container, image_ref: str, attempt: int
    ) -> cri.ContainerConfig:
        if podconfig.run_as_non_root(self.pod, spec):
            await self._check_non_root(spec, image_ref)
        termination_log = None
        if spec.termination_message_path:
            termination_log = await asyncio.to_thread(
                volumes.termination_log, self.pod, spec, attempt, self.node.facts.pods_root
            )
        inputs = podconfig.ContainerInputs(
            image_ref=image_ref,
            restart_count=attempt,
            volume_paths=self.sandbox.volume_paths,
            termination_log=termination_log,
        )
        return podconfig.container_config(self.pod, spec, inputs, self.node.facts)

    async def _check_non_root(self, spec: m.Container, image_ref: str) -> None:
        user = podconfig.effective_user(self.pod, spec)
        if user is None:
            image = await self.node.runtime.image_status(image_ref)
            user = image.uid.value if image is not None and image.HasField("uid") else 0
        if user == 0:
            raise ValueError("container has runAsNonRoot and image will run as root")

    async def _remove_older_than(self, slot: ContainerState, previous: str) -> None:
        """Keep the current and the previous container of a name (for logs); remove older ones."""
        listed = await self.node.runtime.list_containers(
            {podconfig.POD_UID: self.pod.uid, podconfig.CONTAINER_NAME: slot.spec.name}
        )
        for container in listed:
            stale = container.id not in (slot.container_id, previous)
            if stale and container.state == cri.CONTAINER_EXITED:
                with contextlib.suppress(RuntimeCallError):
                    await self.node.runtime.remove_container(container.id)

    # -- hooks --------------------------------------------------------------------------

    async def post_start(self, slot: ContainerState, container_id: str) -> bool:
        handler = slot.spec.lifecycle.post_start
        assert handler is not None
        result = await self._run_hook("PostStart", handler, slot, container_id)
        if result.ok:
            slot.start_completed()
            return True
        slot.post_start_failed(result.message)
        await self.recorder.event(
            "Warning",
            "FailedPostStartHook",
            "PostStartHook failed",
            slot.spec.name,
            details={"message": result.message, **result.details},
        )
        await self.kill(slot, message="FailedPostStartHook", grace_override=None)
        return False

    async def _run_hook(
        self, kind: str, handler: m.Handler, slot: ContainerState, container_id: str
    ) -> HookResult:
        target = HookTarget(self.pod, slot.spec, container_id, self.sandbox.pod_ip, slot.terminated)
        redactor = redact.for_container(slot.spec)
        note = redactor.text(describe_handler(handler, default_host(target) or "<pod IP>"))
        await self._mark(slot, f"{_hook_key(kind)}.begin", note=note)
        timeout = self.node.options.hook_timeout
        async with asyncio.TaskGroup() as group:
            watchdog = group.create_task(self._report_slow(kind, slot))
            watcher = None
            if isinstance(handler, m.SleepAction):
                watcher = group.create_task(self._watch_exit(container_id, target.terminated))
            try:
                async with asyncio.timeout(timeout):
                    result = await self.node.hooks.run(handler, target)
            except TimeoutError:
                result = HookResult(False, f"{kind} hook timed out after {timeout:g}s")
            finally:
                watchdog.cancel()
                if watcher is not None:
                    watcher.cancel()
        result = dataclasses.replace(
            result, message=redactor.text(result.message), details=redactor.value(result.details)
        )
        handler_type = _handler_type(handler)
        outcome = "ok" if result.ok else "failed"
        metrics.HOOK_DURATION.labels(kind, handler_type, outcome).observe(result.seconds)
        if not result.ok:
            metrics.HOOK_FAILURES.labels(kind, handler_type).inc()
        await self._mark(slot, f"{_hook_key(kind)}.end", ok=result.ok, note=result.message)
        return result

    async def _watch_exit(self, container_id: str, terminated: asyncio.Event) -> None:
        """Tell a sleep hook that its container has exited, so that it ends early.

        The pod worker's relist does not look at a container while it is being
        started or killed, so the hook watches its own container.
        """
        while not terminated.is_set():
            await asyncio.sleep(self.node.options.relist_period)
            with contextlib.suppress(RuntimeCallError):
                if not await self._is_running(container_id):
                    terminated.set()

    async def _report_slow(self, kind: str, slot: ContainerState) -> None:
        """Make a hung hook visible (the kubelet says nothing: kubernetes/kubernetes#30042)."""
        after = self.node.options.hook_warn_after
        await asyncio.sleep(after)
        await self.recorder.event(
            "Warning",
            "HookStillRunning",
            f"{kind} hook of container {slot.spec.name} is still running after {after:g}s",
            slot.spec.name,
        )

    # -- kill ---------------------------------------------------------------------------

    async def kill(
        self, slot: ContainerState, message: str | None, grace_override: int | None
    ) -> None:
        """Killing event, preStop within the grace period, then StopContainer with the rest."""
        container_id = slot.container_id
        if not container_id:
            return
        spec_grace = self.pod.spec.termination_grace_period_seconds
        grace = spec_grace if grace_override is None else grace_override
        name = slot.spec.name
        await self.recorder.event(
            "Normal", "Killing", message or f"Stopping container {name}", name
        )
        handler = slot.spec.lifecycle.pre_stop
        # No preStop for a container that already exited (kubernetes/kubernetes#55807).
        if handler is not None and grace > 0 and await self._is_running(container_id):
            grace -= await self._pre_stop(slot, handler, container_id, grace)
        grace = max(grace, MIN_GRACE_SECONDS)
        await self._mark(slot, "stop.begin", note=f"StopContainer with {grace}s")
        try:
            await self.node.runtime.stop_container(container_id, grace)
        except RuntimeCallError as exc:
            if not exc.not_found:
                raise
        await self._mark(slot, "stop.end")

    async def _pre_stop(
        self, slot: ContainerState, handler: m.Handler, container_id: str, grace: int
    ) -> int:
        """Run preStop within ``grace``; return the whole seconds it used, as the kubelet counts."""
        started = self.node.clock.monotonic()
        try:
            async with asyncio.timeout(grace):
                result = await self._run_hook("PreStop", handler, slot, container_id)
        except TimeoutError:
            note = f"abandoned: still running after the {grace}s grace period"
            await self._mark(slot, "preStop.end", ok=False, note=note)
            log.info(
                "preStop of %s in %s not completed in grace period",
                slot.spec.name,
                self.pod.describe(),
            )
            return int(self.node.clock.monotonic() - started)
        if not result.ok:
            if await self._is_running(container_id):
                await self.recorder.event(
                    "Warning",
                    "FailedPreStopHook",
                    "PreStopHook failed",
                    slot.spec.name,
                    details={"message": result.message, **result.details},
                )
            else:
                # The container ended during its preStop: what preStop was for happened.
                log.info("preStop of %s ended with its container; not a failure", slot.spec.name)
        return int(self.node.clock.monotonic() - started)

    async def _is_running(self, container_id: str) -> bool:
        try:
            status = await self.node.runtime.container_status(container_id)
        except RuntimeCallError as exc:
            if exc.not_found:
                return False
            raise
        return status.state == cri.CONTAINER_RUNNING

    async def _mark(
        self, slot: ContainerState, what: str, ok: bool | None = None, note: str = ""
    ) -> None:
        await self.recorder.mark(slot.spec.name, slot.container_id, what, ok, note)


def _hook_key(kind: str) -> str:
    return "postStart" if kind == "PostStart" else "preStop"


def _handler_type(handler: m.Handler) -> str:
    match handler:
        case m.ExecAction():
            return "exec"
        case m.HTTPGetAction():
            return "httpGet"
        case m.SleepAction():
            return "sleep"
