"""What `get`, `describe` and `logs` show: the runtime's live view joined with
the supervisor's records (waiting reasons, events, hook timeline)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import criconfig
from kubeletlite.cri import RuntimeCallError, newest_sandboxes, recency
from kubeletlite.recorder import is_supervised
from kubeletlite.runtimeapi import RuntimeAPI
from kubeletlite.store import Event, Mark, PodRecord, StateStore


@dataclass
class ContainerInfo:
    name: str
    container_id: str = ""
    image: str = ""
    image_ref: str = ""
    state: str = "waiting"  # running | waiting | terminated
    reason: str = ""
    message: str = ""
    started: bool = False
    restart_count: int = 0
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    log_path: str = ""
    hook_error: str = ""
    termination_message: str = ""
    previous: ContainerInfo | None = None  # the container before the last restart


@dataclass
class PodInfo:
    namespace: str
    name: str
    uid: str
    phase: str = "Pending"
    ip: str = ""
    created_ns: int = 0
    source: str = ""
    sandbox_id: str = ""
    supervised: bool = False
    terminating: bool = False
    deleted_ns: int = 0
    containers: list[ContainerInfo] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)  # the document stored with the pod


async def list_pods(
    runtime: RuntimeAPI,
    store: StateStore,
    namespace: str | None = None,
    name: str | None = None,
) -> list[PodInfo]:
    """The pods kubelet-lite manages on this node (of ``namespace``, named ``name``, when
    given), newest sandbox per pod UID. A pod removed while it is read is left out."""
    labels = {criconfig.MANAGED: "true"}
    if namespace is not None:
        labels[criconfig.POD_NAMESPACE] = namespace
    if name is not None:
        labels[criconfig.POD_NAME] = name
    sandboxes = await runtime.list_pod_sandboxes(labels)
    containers = await runtime.list_containers(labels)
    pods = []
    for sandbox in newest_sandboxes(sandboxes).values():
        own = [c for c in containers if c.pod_sandbox_id == sandbox.id]
        try:
            pods.append(await _pod_info(runtime, store, sandbox, own))
        except RuntimeCallError as exc:
            if not exc.not_found:
                raise
    return sorted(pods, key=lambda p: (p.namespace, p.name))


async def find_pod(
    runtime: RuntimeAPI, store: StateStore, namespace: str, name: str
) -> PodInfo | None:
    """The live pod of that name, else the most recent record of a deleted one."""
    live = await list_pods(runtime, store, namespace, name)
    if live:
        return live[0]
    records = await asyncio.to_thread(store.find, namespace, name)
    if not records:
        return None
    return await asyncio.to_thread(_from_record_only, records[0])


async def _pod_info(
    runtime: RuntimeAPI, store: StateStore, sandbox: cri.PodSandbox, listed: list[cri.Container]
) -> PodInfo:
    meta = sandbox.metadata
    record = store.pod(meta.namespace, meta.name, meta.uid)
    info = PodInfo(
        namespace=meta.namespace,
        name=meta.name,
        uid=meta.uid,
        created_ns=sandbox.created_at,
        source=sandbox.annotations.get(criconfig.SOURCE, ""),
        sandbox_id=sandbox.id,
    )
    info.manifest = _manifest(sandbox)
    status = await runtime.pod_sandbox_status(sandbox.id)
    info.ip = status.network.ip
    saved = await asyncio.to_thread(_read_record, record, info)
    names = _container_names(sandbox, listed)
    for name in names:
        of_name = sorted(
            (c for c in listed if c.metadata.name == name),
            key=recency,
        )
        info.containers.append(await _container_info(runtime, name, of_name, saved.get(name, {})))
    info.phase = saved.get("__phase__") or _phase_from_runtime(info, sandbox)
    return info


def _read_record(record: PodRecord, info: PodInfo) -> dict[str, Any]:
    """Load events, marks and the saved status into ``info``; return per-container saved state."""
    info.events = record.events()
    info.marks = record.marks()
    info.supervised = is_supervised(record)
    info.terminating = record.deletion() is not None
    meta = record.meta()
    info.deleted_ns = int(meta.get("deleted_ns", 0))
    status = record.status()
    saved: dict[str, Any] = dict(status.get("containers", {}))
    if info.supervised and status.get("phase"):
        saved["__phase__"] = status["phase"]
    return saved


def _manifest(sandbox: cri.PodSandbox) -> dict[str, Any]:
    """The manifest stored with the sandbox; {} when absent or unreadable."""
    try:
        document = json.loads(sandbox.annotations.get(criconfig.MANIFEST, "{}"))
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _container_names(sandbox: cri.PodSandbox, listed: list[cri.Container]) -> list[str]:
    """Container names in manifest order (from the stored manifest), then any others."""
    order: list[str] = []
    try:
        document = _manifest(sandbox)
        order = [c["name"] for c in document.get("spec", {}).get("containers", []) if "name" in c]
    except (TypeError, AttributeError):
        order = []
    seen = set(order)
    order += sorted({c.metadata.name for c in listed} - seen)
    return order


async def _container_info(
    runtime: RuntimeAPI, name: str, attempts: list[cri.Container], saved: dict[str, Any]
) -> ContainerInfo:
    info = ContainerInfo(name=name)
    if attempts:
        current = await runtime.container_status(attempts[-1].id)
        _fill_from_status(info, current)
        if len(attempts) > 1:
            previous = ContainerInfo(name=name)
            try:
                _fill_from_status(previous, await runtime.container_status(attempts[-2].id))
                info.previous = previous
            except RuntimeCallError as exc:
                if not exc.not_found:
                    raise
    _overlay_saved(info, saved)
    return info


def _fill_from_status(info: ContainerInfo, status: cri.ContainerStatus) -> None:
    info.container_id = status.id
    info.image = status.image.user_specified_image or status.image.image
    info.image_ref = status.image_ref
    info.restart_count = status.metadata.attempt
    info.started_at, info.finished_at, info.exit_code = (
        status.started_at,
        status.finished_at,
        status.exit_code,
    )
    info.log_path = status.log_path
    match status.state:
        case cri.CONTAINER_RUNNING:
            info.state, info.started = "running", True
        case cri.CONTAINER_EXITED:
            info.state, info.reason, info.message = "terminated", status.reason, status.message
        case _:
            info.state, info.reason = "waiting", "ContainerCreating"


def _overlay_saved(info: ContainerInfo, saved: dict[str, Any]) -> None:
    """The supervisor knows what the runtime does not: hooks and pending restarts."""
    if not saved:
        return
    info.image = info.image or saved.get("image", "")
    info.hook_error = saved.get("hookError", "")
    info.termination_message = saved.get("terminationMessage", "")
    if saved.get("containerId") != info.container_id and info.container_id:
        return
    if saved.get("state") == "waiting":
        info.state, info.reason, info.message = (
            "waiting",
            saved.get("reason", ""),
            saved.get("message", ""),
        )
        info.started = False
    elif info.state == "running":
        info.started = bool(saved.get("started", True))
        if not info.started:
            info.state, info.reason, info.message = (
                "waiting",
                "ContainerCreating",
                "postStart hook running",
            )


def _phase_from_runtime(info: PodInfo, sandbox: cri.PodSandbox) -> str:
    states = [c.state for c in info.containers]
    if any(s == "running" for s in states):
        return "Running"
    if states and all(s == "terminated" for s in states):
        return "Succeeded" if all(c.exit_code == 0 for c in info.containers) else "Failed"
    return "Pending"


def _from_record_only(record: PodRecord) -> PodInfo:
    meta = record.meta()
    info = PodInfo(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        created_ns=int(meta.get("created_ns", 0)),
        source=meta.get("source", ""),
        deleted_ns=int(meta.get("deleted_ns", 0)),
    )
    info.events = record.events()
    info.marks = record.marks()
    status = record.status()
    info.phase = "Deleted" if info.deleted_ns else status.get("phase", "Unknown")
    saved_containers: dict[str, Any] = status.get("containers", {})
    for name in status.get("containerOrder", sorted(saved_containers)):
        saved = saved_containers.get(name, {})
        container = ContainerInfo(name=name, container_id=saved.get("containerId", ""))
        container.image = saved.get("image", "")
        container.image_ref = saved.get("imageRef", "")
        container.state = saved.get("state", "terminated")
        container.reason = saved.get("reason", saved.get("runtimeReason", ""))
        container.message = saved.get("message", "")
        container.exit_code = int(saved.get("exitCode", 0))
        container.started_at = int(saved.get("startedAt", 0))
        container.finished_at = int(saved.get("finishedAt", 0))
        container.restart_count = int(saved.get("restartCount", 0))
        container.hook_error = saved.get("hookError", "")
        container.termination_message = saved.get("terminationMessage", "")
        info.containers.append(container)
    return info
