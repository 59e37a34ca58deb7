"""A recording in-memory CRI runtime behind ``kubeletlite.runtime.api.RuntimeAPI``.

State is kept as a CRI runtime keeps it: sandboxes (ready or not ready),
containers (created, running, exited) with their labels, annotations,
attempts and timestamps, images, and the container events in order. What
containers and exec'd commands *do* is scripted per container name
(:class:`Behaviour`, :class:`ExecScript`); time is the running loop's, so on
a virtual-time loop (``tests.support.virtualtime``) a 30 s preStop takes no
real time. Every call is recorded with the loop time it was made at.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite.runtime.client import RuntimeCallError
from tests.support.scripts import ExecScript
from tests.support.virtualtime import EPOCH

# The exit code of a container stopped by SIGTERM / SIGKILL.
SIGTERM_EXIT, SIGKILL_EXIT = 143, 137


@dataclass
class Behaviour:
    """What a container of one name does once started."""

    exit_after: float | None = None  # seconds until it exits by itself; None: runs until stopped
    exit_code: int = 0
    term_takes: float = 0.0  # seconds between SIGTERM and its exit (SIGKILL at the grace period)
    start_error: str = ""  # StartContainer fails with this message (FAILED_PRECONDITION)


@dataclass
class Call:
    at: float  # loop time
    method: str
    args: tuple[Any, ...]


@dataclass
class FakeSandbox:
    id: str
    config: cri.PodSandboxConfig
    created_at: int
    state: cri.PodSandboxState.ValueType = cri.SANDBOX_READY
    ip: str = "10.88.0.2"


@dataclass
class FakeContainer:
    id: str
    sandbox_id: str
    config: cri.ContainerConfig
    created_at: int
    state: cri.ContainerState.ValueType = cri.CONTAINER_CREATED
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    _timer: asyncio.TimerHandle | None = None

    @property
    def name(self) -> str:
        return self.config.metadata.name


class FakeRuntime:
    """The whole runtime; set ``behaviours`` and ``execs`` before the pod starts."""

    endpoint = "fake://runtime"

    def __init__(self, images: set[str] | None = None) -> None:
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.images: set[str] = set(images or ())
        self.behaviours: dict[str, Behaviour] = {}
        # (container name, command) -> script; a callable may decide per call.
        self.execs: dict[tuple[str, tuple[str, ...]], ExecScript | Callable[[], ExecScript]] = {}
        self.calls: list[Call] = []
        self.events: list[tuple[float, str, str]] = []  # (loop time, what, container name)
        self.fail: dict[str, RuntimeCallError] = {}  # method -> error raised on the next call
        self._ids = itertools.count(1)

    # -- inspection helpers for tests -------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def by_name(self, name: str) -> list[FakeContainer]:
        """Containers of one name, oldest first."""
        return [c for c in self.containers.values() if c.name == name]

    def when(self, what: str, name: str) -> list[float]:
        return [at for at, event, who in self.events if event == what and who == name]

    # -- plumbing ---------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _now_ns(self) -> int:
        return int((EPOCH + self._now()) * 1e9)

    def _record(self, method: str, *args: Any) -> None:
        self.calls.append(Call(self._now(), method, args))
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def _container(self, method: str, container_id: str) -> FakeContainer:
        found = self.containers.get(container_id)
        if found is None:
            raise RuntimeCallError(
                method, grpc.StatusCode.NOT_FOUND, f"container {container_id!r} not found"
            )
        return found

    def _sandbox(self, method: str, sandbox_id: str) -> FakeSandbox:
        found = self.sandboxes.get(sandbox_id)
        if found is None:
            raise RuntimeCallError(
                method, grpc.StatusCode.NOT_FOUND, f"pod sandbox {sandbox_id!r} not found"
            )
        return found

    def _exit(self, container: FakeContainer, code: int, reason: str) -> None:
        if container.state != cri.CONTAINER_RUNNING:
            return
        if container._timer is not None:
            container._timer.cancel()
        container.state = cri.CONTAINER_EXITED
        container.exit_code = code
        container.reason = reason
        container.finished_at = self._now_ns()
        container.exited.set()
        self.events.append((self._now(), "exited", container.name))

    # -- runtime ----------------------------------------------------------------------

    async def close(self) -> None:
        self._record("close")

    async def version(self) -> cri.VersionResponse:
        self._record("version")
        return cri.VersionResponse(
            version="0.1.0", runtime_name="fake", runtime_version="1", runtime_api_version="v1"
        )

    async def run_pod_sandbox(self, config: cri.PodSandboxConfig) -> str:
        self._record("run_pod_sandbox", config)
        sandbox_id = f"sandbox{next(self._ids):04d}"
        self.sandboxes[sandbox_id] = FakeSandbox(sandbox_id, config, self._now_ns())
        self.events.append((self._now(), "sandbox-ready", config.metadata.name))
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self._record("stop_pod_sandbox", sandbox_id)
        sandbox = self._sandbox("StopPodSandbox", sandbox_id)
        for container in self.containers.values():
            if container.sandbox_id == sandbox_id:
                self._exit(container, SIGKILL_EXIT, "Error")
        sandbox.state = cri.SANDBOX_NOTREADY

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._record("remove_pod_sandbox", sandbox_id)
        if self.sandboxes.pop(sandbox_id, None) is None:
            return
        for container_id in [c.id for c in self.containers.values() if c.sandbox_id == sandbox_id]:
            self._exit(self.containers[container_id], SIGKILL_EXIT, "Error")
            del self.containers[container_id]

    async def pod_sandbox_status(self, sandbox_id: str) -> cri.PodSandboxStatus:
        self._record("pod_sandbox_status", sandbox_id)
        sandbox = self._sandbox("PodSandboxStatus", sandbox_id)
        return cri.PodSandboxStatus(
            id=sandbox.id,
            metadata=sandbox.config.metadata,
            state=sandbox.state,
            created_at=sandbox.created_at,
            network=cri.PodSandboxNetworkStatus(ip=sandbox.ip),
            labels=sandbox.config.labels,
            annotations=sandbox.config.annotations,
        )

    async def list_pod_sandboxes(self, labels: Mapping[str, str]) -> list[cri.PodSandbox]:
        self._record("list_pod_sandboxes", dict(labels))
        return [
            cri.PodSandbox(
                id=s.id,
                metadata=s.config.metadata,
                state=s.state,
                created_at=s.created_at,
                labels=s.config.labels,
                annotations=s.config.annotations,
            )
            for s in self.sandboxes.values()
            if _matches(s.config.labels, labels)
        ]

    async def create_container(
        self, sandbox_id: str, config: cri.ContainerConfig, sandbox_config: cri.PodSandboxConfig
    ) -> str:
        self._record("create_container", sandbox_id, config)
        sandbox = self._sandbox("CreateContainer", sandbox_id)
        if sandbox.state != cri.SANDBOX_READY:
            raise RuntimeCallError(
                "CreateContainer", grpc.StatusCode.FAILED_PRECONDITION, "sandbox not ready"
            )
        container_id = f"container{next(self._ids):04d}"
        self.containers[container_id] = FakeContainer(
            container_id, sandbox_id, config, self._now_ns()
        )
        self.events.append((self._now(), "created", config.metadata.name))
        return container_id

    async def start_container(self, container_id: str) -> None:
        self._record("start_container", container_id)
        container = self._container("StartContainer", container_id)
        behaviour = self.behaviours.get(container.name, Behaviour())
        if behaviour.start_error:
            container.state = cri.CONTAINER_EXITED
            container.exit_code, container.reason = 128, "ContainerCannotRun"
            container.finished_at = self._now_ns()
            raise RuntimeCallError(
                "StartContainer", grpc.StatusCode.FAILED_PRECONDITION, behaviour.start_error
            )
        if container.state != cri.CONTAINER_CREATED:
            raise RuntimeCallError(
                "StartContainer", grpc.StatusCode.FAILED_PRECONDITION, "already started"
            )
        container.state = cri.CONTAINER_RUNNING
        container.started_at = self._now_ns()
        self.events.append((self._now(), "started", container.name))
        if behaviour.exit_after is not None:
            reason = "Completed" if behaviour.exit_code == 0 else "Error"
            container._timer = asyncio.get_running_loop().call_later(
                behaviour.exit_after, self._exit, container, behaviour.exit_code, reason
            )

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        self._record("stop_container", container_id, grace_seconds)
        container = self._container("StopContainer", container_id)
        if container.state != cri.CONTAINER_RUNNING:
            return
        self.events.append((self._now(), "sigterm", container.name))
        takes = self.behaviours.get(container.name, Behaviour()).term_takes
        try:
            async with asyncio.timeout(min(takes, grace_seconds)):
                await container.exited.wait()
        except TimeoutError:
            pass
        if takes <= grace_seconds:
            self._exit(container, SIGTERM_EXIT, "Error")
        else:
            self._exit(container, SIGKILL_EXIT, "Error")

    async def remove_container(self, container_id: str) -> None:
        self._record("remove_container", container_id)
        container = self.containers.pop(container_id, None)
        if container is not None:
            self._exit(container, SIGKILL_EXIT, "Error")
            self.events.append((self._now(), "removed", container.name))

    async def container_status(self, container_id: str) -> cri.ContainerStatus:
        self._record("container_status", container_id)
        c = self._container("ContainerStatus", container_id)
        return cri.ContainerStatus(
            id=c.id,
            metadata=c.config.metadata,
            state=c.state,
            created_at=c.created_at,
            started_at=c.started_at,
            finished_at=c.finished_at,
            exit_code=c.exit_code,
            reason=c.reason,
            image=c.config.image,
            image_ref=c.config.image.image,
            labels=c.config.labels,
            annotations=c.config.annotations,
        )

    async def list_containers(self, labels: Mapping[str, str]) -> list[cri.Container]:
        self._record("list_containers", dict(labels))
        return [
            cri.Container(
                id=c.id,
                pod_sandbox_id=c.sandbox_id,
                metadata=c.config.metadata,
                image=c.config.image,
                image_ref=c.config.image.image,
                state=c.state,
                created_at=c.created_at,
                labels=c.config.labels,
                annotations=c.config.annotations,
            )
            for c in self.containers.values()
            if _matches(c.config.labels, labels)
        ]

    async def exec_sync(
        self, container_id: str, command: list[str], limit_seconds: int = 0
    ) -> cri.ExecSyncResponse:
        self._record("exec_sync", container_id, tuple(command), limit_seconds)
        container = self._container("ExecSync", container_id)
        if container.state != cri.CONTAINER_RUNNING:
            raise RuntimeCallError(
                "ExecSync", grpc.StatusCode.FAILED_PRECONDITION, "container is not running"
            )
        self.events.append((self._now(), "exec:" + " ".join(command), container.name))
        scripted = self.execs.get((container.name, tuple(command)), ExecScript())
        script = scripted() if callable(scripted) else scripted
        # The exec'd process dies with its container.
        done = asyncio.ensure_future(container.exited.wait())
        try:
            finished, _ = await asyncio.wait({done}, timeout=script.takes)
        finally:
            done.cancel()
        if finished:
            return cri.ExecSyncResponse(exit_code=SIGKILL_EXIT)
        self.events.append((self._now(), "exec-done:" + " ".join(command), container.name))
        return cri.ExecSyncResponse(
            stdout=script.stdout, stderr=script.stderr, exit_code=script.exit_code
        )

    # -- images -----------------------------------------------------------------------

    async def image_status(self, image: str) -> cri.Image | None:
        self._record("image_status", image)
        if image not in self.images:
            return None
        return cri.Image(id=f"sha256:{abs(hash(image)):064x}"[:71], repo_tags=[image])

    async def pull_image(self, image: str) -> str:
        self._record("pull_image", image)
        self.images.add(image)
        return f"sha256:{abs(hash(image)):064x}"[:71]


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())
