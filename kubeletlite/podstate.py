"""A pod's containers as kubelet-lite tracks them, and the rules read off them. Pure.

The restart policy, the pod phase and the container states reported to
users are decided here from plain data, so they can be table-tested.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import manifest as m

SUCCEEDED, FAILED, RUNNING, PENDING, DELETED = (
    "Succeeded",
    "Failed",
    "Running",
    "Pending",
    "Deleted",
)
TERMINAL = frozenset({SUCCEEDED, FAILED})


@dataclass
class Slot:
    """One container of the pod, across its restarts."""

    spec: m.Container
    container_id: str = ""
    attempt: int = -1  # restart count of the current container; -1: none yet
    status: cri.ContainerStatus | None = None
    started: bool = False  # running, and postStart (if any) completed
    starting: bool = False
    terminated: asyncio.Event = field(default_factory=asyncio.Event)
    waiting_reason: str = ""
    waiting_message: str = ""
    hook_error: str = ""  # the last PostStartHookError message
    retry_at: float = 0.0  # monotonic time before which no new attempt is made
    exit_seen_for: str = ""
    backoff_reported_for: str = ""
    termination_message: str = ""

    @property
    def running(self) -> bool:
        return self.status is not None and self.status.state == cri.CONTAINER_RUNNING

    @property
    def exited(self) -> bool:
        return self.status is not None and self.status.state == cri.CONTAINER_EXITED

    @property
    def created_only(self) -> bool:
        return self.status is not None and self.status.state == cri.CONTAINER_CREATED

    def next_attempt(self) -> int:
        """The kubelet's restartCount: the previous container's plus one, else 0."""
        return self.attempt + 1 if self.attempt >= 0 else 0

    def adopt(self, container_id: str, attempt: int) -> None:
        """Follow a (new) container of this name."""
        self.container_id, self.attempt, self.status = container_id, attempt, None
        self.terminated = asyncio.Event()


def restart_allowed(policy: str, slot: Slot) -> bool:
    """The kubelet's ShouldContainerBeRestarted, for an exited container."""
    match policy:
        case "Always":
            return True
        case "OnFailure":
            return slot.status is not None and slot.status.exit_code != 0
        case _:
            return False


def will_restart(policy: str, slot: Slot) -> bool:
    return slot.starting or (slot.exited and restart_allowed(policy, slot))


def awaiting_first_start(slot: Slot) -> bool:
    """Never started yet (postStart included) and never exited: the kubelet's "waiting"
    container with no last termination state."""
    return slot.attempt <= 0 and not slot.exited and not (slot.running and slot.started)


def compute_phase(policy: str, slots: list[Slot]) -> str:
    """Pending, Running, Succeeded or Failed, as the kubelet's getPhase."""
    if any(awaiting_first_start(s) for s in slots):
        # Running means every container has started; until then the pod is Pending.
        return PENDING
    if any(s.running for s in slots):
        return RUNNING
    if all(s.exited and not will_restart(policy, s) for s in slots):
        succeeded = all(s.status is not None and s.status.exit_code == 0 for s in slots)
        return SUCCEEDED if succeeded else FAILED
    # The rest are exited or being restarted (a later attempt, not running yet).
    return RUNNING


def container_document(policy: str, slot: Slot, terminating: bool = False) -> dict[str, Any]:
    """A container's state as the kubelet would report it to the API server.

    Once the pod is terminating nothing restarts, so an exited container is terminated
    whatever the restart policy says.
    """
    document: dict[str, Any] = {
        "containerId": slot.container_id,
        "restartCount": max(slot.attempt, 0),
        "started": slot.started,
        "image": slot.spec.image,
    }
    if slot.running and slot.started:
        document["state"] = "running"
    elif slot.running:
        # Until postStart completes, the container does not count as started.
        document.update(
            state="waiting", reason="ContainerCreating", message="postStart hook running"
        )
    elif slot.exited and (terminating or (not slot.starting and not will_restart(policy, slot))):
        document["state"] = "terminated"
    else:
        reason = slot.waiting_reason or ("CrashLoopBackOff" if slot.exited else "ContainerCreating")
        document.update(state="waiting", reason=reason, message=slot.waiting_message)
    status = slot.status
    if status is not None:
        document.update(
            startedAt=status.started_at,
            finishedAt=status.finished_at,
            exitCode=status.exit_code,
            runtimeReason=status.reason,
            imageRef=status.image_ref,
        )
    if slot.hook_error:
        document["hookError"] = slot.hook_error
    if slot.termination_message:
        document["terminationMessage"] = slot.termination_message
    return document
