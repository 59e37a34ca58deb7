"""The typed records kubelet-lite persists in its state directory, and their JSON.

Each record carries a schema ``version``. Files written before records were
versioned (no ``version`` key) have the same fields and read as version 0;
a field that is absent or of the wrong type reads as its default, so a torn
or hand-edited file never stops `get` or `describe`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cricommon import jsonfields

SCHEMA_VERSION = 1

RUNNING_STATE, WAITING_STATE, TERMINATED_STATE = "running", "waiting", "terminated"


@dataclass(frozen=True, slots=True)
class PodMeta:
    """pod.json: which pod the directory is of, and when it was created and deleted."""

    namespace: str
    name: str
    uid: str
    source: str = ""
    created_ns: int = 0
    deleted_ns: int = 0  # 0: not deleted (yet)
    version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "source": self.source,
            "created_ns": self.created_ns,
            "deleted_ns": self.deleted_ns,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PodMeta:
        return cls(
            namespace=jsonfields.text(data, "namespace"),
            name=jsonfields.text(data, "name"),
            uid=jsonfields.text(data, "uid"),
            source=jsonfields.text(data, "source"),
            created_ns=jsonfields.integer(data, "created_ns"),
            deleted_ns=jsonfields.integer(data, "deleted_ns"),
            version=jsonfields.integer(data, "version"),
        )


@dataclass(frozen=True, slots=True)
class ServeRegistration:
    """serve/<pid>.json: the manifest folder of a running `serve` (found by `apply`)."""

    manifest_dir: str  # absolute
    pid: int
    version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "manifestDir": self.manifest_dir, "pid": self.pid}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServeRegistration:
        return cls(
            manifest_dir=jsonfields.text(data, "manifestDir"),
            pid=jsonfields.integer(data, "pid"),
            version=jsonfields.integer(data, "version"),
        )


@dataclass(frozen=True, slots=True)
class DeletionRequest:
    """deletion.json: `kubeletlite delete` asks the pod's supervisor to terminate it."""

    grace_seconds: int | None  # None: the pod's own terminationGracePeriodSeconds
    time_ns: int
    version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "grace_seconds": self.grace_seconds,
            "time_ns": self.time_ns,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeletionRequest:
        grace = data.get("grace_seconds")
        valid = isinstance(grace, int) and not isinstance(grace, bool) and grace >= 0
        return cls(
            grace_seconds=grace if valid else None,
            time_ns=jsonfields.integer(data, "time_ns"),
            version=jsonfields.integer(data, "version"),
        )


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    """One container as the supervisor last reported it (the kubelet's ContainerStatus).

    ``state`` is running, waiting (``reason``/``message`` say why) or
    terminated. The runtime's own fields (times, exit code, runtime reason,
    image ref) are zero until the runtime has reported the container.
    """

    name: str
    container_id: str = ""
    restart_count: int = 0
    started: bool = False
    image: str = ""
    state: str = WAITING_STATE
    reason: str = ""
    message: str = ""
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    runtime_reason: str = ""
    image_ref: str = ""
    hook_error: str = ""  # the last PostStartHookError message
    termination_message: str = ""

    def to_json(self) -> dict[str, Any]:
        """The per-container map of status.json (its key is the name)."""
        return {
            "containerId": self.container_id,
            "restartCount": self.restart_count,
            "started": self.started,
            "image": self.image,
            "state": self.state,
            "reason": self.reason,
            "message": self.message,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "exitCode": self.exit_code,
            "runtimeReason": self.runtime_reason,
            "imageRef": self.image_ref,
            "hookError": self.hook_error,
            "terminationMessage": self.termination_message,
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ContainerStatus:
        state = jsonfields.text(data, "state", TERMINATED_STATE)
        if state not in (RUNNING_STATE, WAITING_STATE, TERMINATED_STATE):
            state = TERMINATED_STATE
        return cls(
            name=name,
            container_id=jsonfields.text(data, "containerId"),
            restart_count=jsonfields.integer(data, "restartCount"),
            started=jsonfields.flag(data, "started"),
            image=jsonfields.text(data, "image"),
            state=state,
            reason=jsonfields.text(data, "reason"),
            message=jsonfields.text(data, "message"),
            started_at=jsonfields.integer(data, "startedAt"),
            finished_at=jsonfields.integer(data, "finishedAt"),
            exit_code=jsonfields.integer(data, "exitCode"),
            runtime_reason=jsonfields.text(data, "runtimeReason"),
            image_ref=jsonfields.text(data, "imageRef"),
            hook_error=jsonfields.text(data, "hookError"),
            termination_message=jsonfields.text(data, "terminationMessage"),
        )


@dataclass(frozen=True, slots=True)
class PodStatus:
    """status.json: the phase and containers the supervisor computed, in spec order."""

    phase: str
    pod_ip: str = ""
    sandbox_id: str = ""
    containers: tuple[ContainerStatus, ...] = ()
    version: int = SCHEMA_VERSION

    def container(self, name: str) -> ContainerStatus | None:
        return next((c for c in self.containers if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "phase": self.phase,
            "podIP": self.pod_ip,
            "sandboxId": self.sandbox_id,
            "containers": {c.name: c.to_json() for c in self.containers},
            "containerOrder": [c.name for c in self.containers],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PodStatus:
        saved = jsonfields.as_mapping(data.get("containers"))
        order = data.get("containerOrder")
        names = [n for n in order if isinstance(n, str)] if isinstance(order, list) else []
        names += sorted(n for n in saved if n not in names)
        return cls(
            phase=jsonfields.text(data, "phase"),
            pod_ip=jsonfields.text(data, "podIP"),
            sandbox_id=jsonfields.text(data, "sandboxId"),
            containers=tuple(
                ContainerStatus.from_json(n, jsonfields.as_mapping(saved.get(n))) for n in names
            ),
            version=jsonfields.integer(data, "version"),
        )
