"""The one owner of a supervised pod's changing state: its sandbox and its containers.

The pod worker (what to do next) and the container lifecycle (doing it)
both report what happened through the transitions below; neither assigns a
field. Each container's state is an immutable ``podstate.ContainerView``
replaced by every transition, so the pure rules of ``podstate`` (restart
policy, phase, reported status) always read one consistent snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import manifest as m
from kubeletlite.state import podstate, records
from kubeletlite.state.podstate import ContainerView


class SandboxState:
    """The pod's current sandbox; read by the lifecycle, changed by the pod worker."""

    def __init__(self) -> None:
        self._id = ""
        self._attempt = 0
        self._config: cri.PodSandboxConfig | None = None
        self._pod_ip = ""
        self._volume_paths: dict[str, str] = {}

    @property
    def id(self) -> str:
        return self._id

    @property
    def attempt(self) -> int:
        return self._attempt

    @property
    def config(self) -> cri.PodSandboxConfig | None:
        return self._config

    @property
    def pod_ip(self) -> str:
        return self._pod_ip

    @property
    def volume_paths(self) -> dict[str, str]:
        return dict(self._volume_paths)

    # -- transitions ----------------------------------------------------------------------

    def adopted(self, sandbox_id: str, attempt: int) -> None:
        """The runtime already has a sandbox of this pod: follow it."""
        self._id, self._attempt = sandbox_id, attempt

    def configured(self, config: cri.PodSandboxConfig, volume_paths: dict[str, str]) -> None:
        self._config, self._volume_paths = config, dict(volume_paths)

    def created(self, sandbox_id: str) -> None:
        self._id = sandbox_id

    def observed(self, pod_ip: str) -> None:
        """The runtime reported the sandbox (its network may have changed)."""
        self._pod_ip = pod_ip

    def removed(self) -> None:
        self._id = ""

    def replaced(self) -> None:
        """The next sandbox is a new attempt of the pod's sandbox."""
        self._attempt += 1


class ContainerState:
    """One container of the pod, across its restarts."""

    def __init__(self, spec: m.Container) -> None:
        self.spec = spec
        self._view = ContainerView(name=spec.name, image=spec.image)
        self._terminated = asyncio.Event()
        self._retry_at = 0.0  # monotonic time before which no new attempt is made
        self._exit_seen_for = ""
        self._backoff_reported_for = ""

    # -- reads ----------------------------------------------------------------------------

    @property
    def view(self) -> ContainerView:
        return self._view

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def container_id(self) -> str:
        return self._view.container_id

    @property
    def attempt(self) -> int:
        return self._view.attempt

    @property
    def status(self) -> cri.ContainerStatus | None:
        return self._view.status

    @property
    def started(self) -> bool:
        return self._view.started

    @property
    def starting(self) -> bool:
        return self._view.starting

    @property
    def running(self) -> bool:
        return self._view.running

    @property
    def exited(self) -> bool:
        return self._view.exited

    @property
    def created_only(self) -> bool:
        return self._view.created_only

    @property
    def retry_at(self) -> float:
        return self._retry_at

    @property
    def terminated(self) -> asyncio.Event:
        """Set once the current container is seen exited (a sleep hook ends early then)."""
        return self._terminated

    def next_attempt(self) -> int:
        return self._view.next_attempt()

    # -- transitions ----------------------------------------------------------------------

    def _set(self, **changes: object) -> None:
        self._view = dataclasses.replace(self._view, **changes)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def starting_attempt(self) -> Iterator[None]:
        """A start (or a resumed postStart) is in flight for the duration of the block."""
        self._set(starting=True)
        try:
            yield
        finally:
            self._set(starting=False)

    def adopt(self, container_id: str, attempt: int) -> None:
        """Follow a (new) container of this name; its status is not known yet."""
        self._set(container_id=container_id, attempt=attempt, status=None)
        self._terminated = asyncio.Event()

    def created(self, container_id: str, attempt: int) -> None:
        """CreateContainer returned: this is the current container, being created."""
        self.adopt(container_id, attempt)
        self._set(waiting_reason="ContainerCreating", waiting_message="", hook_error="")

    def container_started(self) -> None:
        """StartContainer returned (postStart, if any, still to come)."""
        self._set(waiting_reason="")

    def start_completed(self) -> None:
        """Running, and its postStart (if any) completed: the kubelet's ``started``."""
        self._set(started=True)

    def start_failed(self, reason: str, message: str, retry_at: float) -> None:
        """An image, create or start failure: say why, and try again no sooner than retry_at."""
        self._set(waiting_reason=reason, waiting_message=message)
        self._retry_at = retry_at

    def post_start_failed(self, message: str) -> None:
        self._set(hook_error=message, waiting_reason="PostStartHookError", waiting_message=message)

    def backing_off(self, message: str, retry_at: float) -> bool:
        """Crash-loop back-off holds the restart; True the first time for this container."""
        self._set(waiting_reason="CrashLoopBackOff", waiting_message=message)
        self._retry_at = retry_at
        first = self._backoff_reported_for != self.container_id
        self._backoff_reported_for = self.container_id
        return first

    def observed(self, status: cri.ContainerStatus) -> bool:
        """The runtime reported the current container; True when it shows a new exit."""
        self._set(status=status)
        if not self.exited:
            return False
        self._set(started=False)
        self._terminated.set()
        first = self._exit_seen_for != self.container_id
        self._exit_seen_for = self.container_id
        return first

    def exit_recorded(self, termination_message: str) -> None:
        self._set(termination_message=termination_message)

    def vanished(self) -> None:
        """The runtime no longer has the current container."""
        self._set(container_id="", status=None)

    def sandbox_gone(self) -> None:
        """Its sandbox was replaced: the attempt count stays, the next container is a restart."""
        self._set(container_id="", status=None, started=False)
        self._terminated.set()


class PodState:
    """A supervised pod's sandbox and containers, and the phase computed from them."""

    def __init__(self, pod: m.Pod) -> None:
        self.policy = pod.spec.restart_policy
        self.sandbox = SandboxState()
        self.containers = [ContainerState(spec) for spec in pod.spec.containers]
        self._phase = podstate.PENDING

    @property
    def phase(self) -> str:
        """The phase computed last (Deleted once deleted)."""
        return self._phase

    def views(self) -> list[ContainerView]:
        return [c.view for c in self.containers]

    def current_phase(self) -> str:
        """The phase the containers show now (not yet the reported one)."""
        return podstate.compute_phase(self.policy, self.views())

    def update_phase(self) -> str:
        self._phase = self.current_phase()
        return self._phase

    def deleted(self) -> None:
        self._phase = podstate.DELETED

    def all_started(self) -> bool:
        return all(c.started for c in self.containers)

    def sandbox_replaced(self) -> None:
        self.sandbox.replaced()
        for container in self.containers:
            container.sandbox_gone()

    def status(self, terminating: bool) -> records.PodStatus:
        """What `get` and `describe` read back: see ``records.PodStatus``."""
        return records.PodStatus(
            phase=self._phase,
            pod_ip=self.sandbox.pod_ip,
            sandbox_id=self.sandbox.id,
            containers=tuple(
                podstate.container_status(self.policy, view, terminating) for view in self.views()
            ),
        )
