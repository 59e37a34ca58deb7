"""What `get`, `describe` and `logs` show: the runtime's live view joined with
the supervisor's records (waiting reasons, events, hook timeline)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite.runtime import podconfig
from kubeletlite.runtime.api import RuntimeAPI
from kubeletlite.runtime.client import RuntimeCallError, newest_sandboxes, recency
from kubeletlite.state import podstate, records
from kubeletlite.state.recorder import is_supervised
from kubeletlite.state.records import PodMeta, PodStatus
from kubeletlite.state.store import Event, Mark, PodRecord, StateStore


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
    labels = {podconfig.MANAGED: "true"}
    if namespace is not None:
        labels[podconfig.POD_NAMESPACE] = namespace
    if name is not None:
        labels[podconfig.POD_NAME] = name
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
        source=sandbox.annotations.get(podconfig.SOURCE, ""),
        sandbox_id=sandbox.id,
    )
    info.manifest = _manifest(sandbox)
    status = await runtime.pod_sandbox_status(sandbox.id)
    info.ip = status.network.ip
    saved = await asyncio.to_thread(_read_record, record, info)
    views = []
    for name in _container_names(sandbox, listed):
        of_name = sorted(
            (c for c in listed if c.metadata.name == name),
            key=recency,
        )
        saved_container = saved.container(name) if saved is not None else None
        container, view = await _container_info(runtime, name, of_name, saved_container)
        info.containers.append(container)
        views.append(view)
    if info.supervised and saved is not None and saved.phase:
        info.phase = saved.phase
    elif views:
        info.phase = podstate.compute_phase(_restart_policy(info), views)
    else:
        info.phase = podstate.PENDING  # a sandbox with nothing known to run in it yet
    return info


def _restart_policy(info: PodInfo) -> str:
    """The policy the phase is computed with: no process restarts the containers of a pod
    that nobody supervises, so for such a pod an exited container stays terminated."""
    if not info.supervised:
        return "Never"
    spec = info.manifest.get("spec")
    policy = spec.get("restartPolicy") if isinstance(spec, dict) else None
    return policy if isinstance(policy, str) else "Always"


def _read_record(record: PodRecord, info: PodInfo) -> PodStatus | None:
    """Load events, marks and supervision into ``info``; return the saved status."""
    info.events = record.events()
    info.marks = record.marks()
    info.supervised = is_supervised(record)
    info.terminating = record.deletion() is not None
    meta = record.meta()
    info.deleted_ns = meta.deleted_ns if meta is not None else 0
    return record.status()


def _manifest(sandbox: cri.PodSandbox) -> dict[str, Any]:
    """The manifest stored with the sandbox; {} when absent or unreadable."""
    try:
        document = json.loads(sandbox.annotations.get(podconfig.MANIFEST, "{}"))
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
    runtime: RuntimeAPI,
    name: str,
    attempts: list[cri.Container],
    saved: records.ContainerStatus | None,
) -> tuple[ContainerInfo, podstate.ContainerView]:
    """What to show of one container, and the view its pod's phase is computed from."""
    info = ContainerInfo(name=name)
    current: cri.ContainerStatus | None = None
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
    view = podstate.ContainerView(
        name=name,
        image=info.image,
        container_id=info.container_id,
        attempt=current.metadata.attempt if current is not None else -1,
        status=current,
        started=info.started,
    )
    return info, view


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


def _overlay_saved(info: ContainerInfo, saved: records.ContainerStatus | None) -> None:
    """The supervisor knows what the runtime does not: hooks and pending restarts."""
    if saved is None:
        return
    info.image = info.image or saved.image
    info.hook_error = saved.hook_error
    info.termination_message = saved.termination_message
    if saved.container_id != info.container_id and info.container_id:
        return
    if saved.state == records.WAITING_STATE:
        info.state, info.reason, info.message = "waiting", saved.reason, saved.message
        info.started = False
    elif info.state == "running":
        info.started = saved.started
        if not info.started:
            info.state, info.reason, info.message = (
                "waiting",
                "ContainerCreating",
                "postStart hook running",
            )


def _from_record_only(record: PodRecord) -> PodInfo:
    meta = record.meta() or PodMeta(namespace="", name="", uid="")
    info = PodInfo(
        namespace=meta.namespace,
        name=meta.name,
        uid=meta.uid,
        created_ns=meta.created_ns,
        source=meta.source,
        deleted_ns=meta.deleted_ns,
    )
    info.events = record.events()
    info.marks = record.marks()
    status = record.status()
    if info.deleted_ns:
        info.phase = podstate.DELETED
    else:
        info.phase = status.phase if status is not None and status.phase else "Unknown"
    for saved in status.containers if status is not None else ():
        container = ContainerInfo(name=saved.name, container_id=saved.container_id)
        container.image = saved.image
        container.image_ref = saved.image_ref
        container.state = saved.state
        container.reason = saved.reason or saved.runtime_reason
        container.message = saved.message
        container.exit_code = saved.exit_code
        container.started_at = saved.started_at
        container.finished_at = saved.finished_at
        container.restart_count = saved.restart_count
        container.hook_error = saved.hook_error
        container.termination_message = saved.termination_message
        info.containers.append(container)
    return info
