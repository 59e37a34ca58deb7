"""Pods as the Kubernetes API writes them (v1.Pod, and kubectl's List), for -o json|yaml. Pure.

The document carries what kubelet-lite knows: the manifest's metadata and spec,
and the status the kubelet would report (phase, conditions, container
statuses with state, lastState, restartCount, started, ready), so that
scripts written against ``kubectl get pods -o json`` read it unchanged.
"""

from __future__ import annotations

from typing import Any

from kubeletlite.kubetime import rfc3339
from kubeletlite.state.podinfo import ContainerInfo, PodInfo


def pod_list(pods: list[PodInfo], node: str) -> dict[str, Any]:
    """What ``kubectl get pods -o json`` prints: a v1 List of Pods."""
    return {
        "apiVersion": "v1",
        "items": [pod_object(pod, node) for pod in pods],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def pod_object(pod: PodInfo, node: str) -> dict[str, Any]:
    manifest_meta = pod.manifest.get("metadata") or {}
    metadata: dict[str, Any] = {
        "name": pod.name,
        "namespace": pod.namespace,
        "uid": pod.uid,
        "creationTimestamp": _time(pod.created_ns),
    }
    for key in ("labels", "annotations"):
        if manifest_meta.get(key):
            metadata[key] = dict(manifest_meta[key])
    spec = dict(pod.manifest.get("spec") or {})
    spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": pod_status(pod),
    }


def pod_status(pod: PodInfo) -> dict[str, Any]:
    statuses = [container_status(c) for c in pod.containers]
    all_ready = bool(statuses) and all(s["ready"] for s in statuses)
    since = _time(pod.created_ns)
    conditions = [
        _condition("PodReadyToStartContainers", bool(pod.sandbox_id), since),
        _condition("Initialized", True, since),
        _condition("Ready", all_ready, since, "" if all_ready else "ContainersNotReady"),
        _condition("ContainersReady", all_ready, since, "" if all_ready else "ContainersNotReady"),
        _condition("PodScheduled", True, since),
    ]
    status: dict[str, Any] = {
        "phase": pod.phase,
        "conditions": conditions,
        "startTime": since,
        "containerStatuses": statuses,
    }
    if pod.ip:
        status["podIP"] = pod.ip
        status["podIPs"] = [{"ip": pod.ip}]
    return status


def container_status(container: ContainerInfo) -> dict[str, Any]:
    ready = container.state == "running" and container.started
    status: dict[str, Any] = {
        "name": container.name,
        "state": _state(container),
        "lastState": _state(container.previous) if container.previous is not None else {},
        "ready": ready,
        "restartCount": container.restart_count,
        "started": container.started,
        "image": container.image,
        "imageID": container.image_ref,
    }
    if container.container_id:
        status["containerID"] = _container_id(container.container_id)
    return status


def _state(container: ContainerInfo) -> dict[str, Any]:
    match container.state:
        case "running":
            return {"running": {"startedAt": _time(container.started_at)}}
        case "terminated":
            terminated: dict[str, Any] = {
                "exitCode": container.exit_code,
                "reason": container.reason
                or ("Completed" if container.exit_code == 0 else "Error"),
                "startedAt": _time(container.started_at),
                "finishedAt": _time(container.finished_at),
            }
            if container.message:
                terminated["message"] = container.message
            if container.container_id:
                terminated["containerID"] = _container_id(container.container_id)
            return {"terminated": terminated}
        case _:
            waiting = {"reason": container.reason or "ContainerCreating"}
            if container.message:
                waiting["message"] = container.message
            return {"waiting": waiting}


def _condition(kind: str, true: bool, since: str | None, reason: str = "") -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True" if true else "False",
        "lastProbeTime": None,
        "lastTransitionTime": since,
    }
    if reason:
        condition["reason"] = reason
    return condition


def _container_id(container_id: str) -> str:
    return f"docker://{container_id}"


def _time(ns: int) -> str | None:
    return rfc3339(ns) if ns else None


def labels(pod: PodInfo) -> dict[str, str]:
    found = (pod.manifest.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in found.items()}
