"""A pod's containers as kubelet-lite sees them at one moment, and the rules read off them. Pure.

The restart policy, the pod phase and the container states reported to
users are decided here from immutable views, so they can be table-tested.
The pod worker's views come from ``podmachine`` (the one owner of the state
that changes); `get` and `describe` build theirs from the runtime's answers
(``podinfo``), so both derive the phase with the same ``compute_phase``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite.state import records

SUCCEEDED, FAILED, RUNNING, PENDING, DELETED = (
    "Succeeded",
    "Failed",
    "Running",
    "Pending",
    "Deleted",
)
TERMINAL = frozenset({SUCCEEDED, FAILED})


@dataclass(frozen=True, slots=True)
class ContainerView:
    """One container of the pod, across its restarts, at one moment."""

    name: str
    image: str = ""
    container_id: str = ""
    attempt: int = -1  # restart count of the current container; -1: none yet
    status: cri.ContainerStatus | None = None
    started: bool = False  # running, and postStart (if any) completed
    starting: bool = False
    waiting_reason: str = ""
    waiting_message: str = ""
    hook_error: str = ""  # the last PostStartHookError message
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


def restart_allowed(policy: str, view: ContainerView) -> bool:
    """The kubelet's ShouldContainerBeRestarted, for an exited container."""
    match policy:
        case "Always":
            return True
        case "OnFailure":
            return view.status is not None and view.status.exit_code != 0
        case _:
            return False


def will_restart(policy: str, view: ContainerView) -> bool:
    return view.starting or (view.exited and restart_allowed(policy, view))


def awaiting_first_start(view: ContainerView) -> bool:
    """Never started yet (postStart included) and never exited: the kubelet's "waiting"
    container with no last termination state."""
    return view.attempt <= 0 and not view.exited and not (view.running and view.started)


def compute_phase(policy: str, views: Sequence[ContainerView]) -> str:
    """Pending, Running, Succeeded or Failed, as the kubelet's getPhase."""
    if any(awaiting_first_start(v) for v in views):
        # Running means every container has started; until then the pod is Pending.
        return PENDING
    if any(v.running for v in views):
        return RUNNING
    if all(v.exited and not will_restart(policy, v) for v in views):
        succeeded = all(v.status is not None and v.status.exit_code == 0 for v in views)
        return SUCCEEDED if succeeded else FAILED
    # The rest are exited or being restarted (a later attempt, not running yet).
    return RUNNING


def container_status(
    policy: str, view: ContainerView, terminating: bool = False
) -> records.ContainerStatus:
    """A container's state as the kubelet would report it to the API server.

    Once the pod is terminating nothing restarts, so an exited container is terminated
    whatever the restart policy says.
    """
    state, reason, message = records.WAITING_STATE, "", ""
    if view.running and view.started:
        state = records.RUNNING_STATE
    elif view.running:
        # Until postStart completes, the container does not count as started.
        reason, message = "ContainerCreating", "postStart hook running"
    elif view.exited and (terminating or (not view.starting and not will_restart(policy, view))):
        state = records.TERMINATED_STATE
    else:
        reason = view.waiting_reason or ("CrashLoopBackOff" if view.exited else "ContainerCreating")
        message = view.waiting_message
    status = view.status or cri.ContainerStatus()
    return records.ContainerStatus(
        name=view.name,
        container_id=view.container_id,
        restart_count=max(view.attempt, 0),
        started=view.started,
        image=view.image,
        state=state,
        reason=reason,
        message=message,
        started_at=status.started_at,
        finished_at=status.finished_at,
        exit_code=status.exit_code,
        runtime_reason=status.reason,
        image_ref=status.image_ref,
        hook_error=view.hook_error,
        termination_message=view.termination_message,
    )
