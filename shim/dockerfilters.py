"""CRI list filters as Docker list filters, evaluated by dockerd. Pure.

Each function returns None when the filter can match nothing, so the
caller can answer without asking dockerd.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from criapi.runtime.v1 import api_pb2 as cri
from shim import labels

_HEX = re.compile(r"[0-9a-f]+")

_CONTAINER_STATUSES = {
    cri.CONTAINER_CREATED: ["created"],
    cri.CONTAINER_RUNNING: ["running", "paused", "restarting"],
    cri.CONTAINER_EXITED: ["exited"],
    cri.CONTAINER_UNKNOWN: ["dead", "removing"],
}

Filters = dict[str, list[str]]


def sandboxes(wanted: cri.PodSandboxFilter) -> Filters | None:
    filters = _base(labels.TYPE_SANDBOX, wanted.id, wanted.label_selector)
    if filters is not None and wanted.HasField("state"):
        ready = wanted.state.state == cri.SANDBOX_READY
        # Not ready is every status but "running", as pod_sandbox() lists them.
        filters["status"] = (
            ["running"]
            if ready
            else ["created", "restarting", "removing", "paused", "exited", "dead"]
        )
    return filters


def containers(wanted: cri.ContainerFilter) -> Filters | None:
    filters = _base(labels.TYPE_CONTAINER, wanted.id, wanted.label_selector)
    if filters is None:
        return None
    if wanted.pod_sandbox_id:
        if len(wanted.pod_sandbox_id) > 64 or not _HEX.fullmatch(wanted.pod_sandbox_id):
            return None
        if len(wanted.pod_sandbox_id) == 64:
            filters["label"].append(f"{labels.SANDBOX_ID_KEY}={wanted.pod_sandbox_id}")
    if wanted.HasField("state"):
        filters["status"] = list(_CONTAINER_STATUSES[wanted.state.state])
    return filters


def sandbox_prefix(wanted: cri.ContainerFilter) -> str:
    """A pod_sandbox_id shorter than a full id is a prefix, matched after listing."""
    return wanted.pod_sandbox_id if len(wanted.pod_sandbox_id) < 64 else ""


def _base(kind: str, object_id: str, selector: Mapping[str, str]) -> Filters | None:
    filters: Filters = {"label": [f"{labels.TYPE_KEY}={kind}", *labels.selector_filters(selector)]}
    if object_id:
        if not _HEX.fullmatch(object_id):
            return None
        # dockerd treats the id filter as a regular expression; anchor it to mean "starts with".
        filters["id"] = ["^" + object_id]
    return filters
