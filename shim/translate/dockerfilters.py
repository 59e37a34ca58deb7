"""CRI list filters as Docker list queries. Pure.

Labels and states become Docker filters that dockerd evaluates. Id prefixes
(of the object, or of a container's sandbox) are matched on the listed
entries instead: dockerd 20.10 resolves an ``id`` filter as one container
lookup, so a prefix shared by two containers would match nothing at all.

Each function returns None when the filter can match nothing, so the caller
can answer without asking dockerd; an impossible state is InvalidArgument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from shim import limits
from shim.errors import InvalidArgument
from shim.translate import labels

_HEX = re.compile(r"[0-9a-f]{1,64}")
FULL_ID_LENGTH = 64

_CONTAINER_STATUSES = {
    cri.CONTAINER_CREATED: ("created",),
    cri.CONTAINER_RUNNING: ("running", "paused", "restarting"),
    cri.CONTAINER_EXITED: ("exited",),
    cri.CONTAINER_UNKNOWN: ("dead", "removing"),
}
# Not ready is every status but "running", as convert.pod_sandbox() reads them.
_NOT_READY_STATUSES = ("created", "restarting", "removing", "paused", "exited", "dead")

Filters = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What to ask dockerd for, and what to keep of its answer."""

    filters: Filters
    id_prefix: str = ""
    sandbox_prefix: str = ""
    # Selector entries dockerd cannot express (docker label keys, values), matched here.
    exact_labels: tuple[tuple[str, str], ...] = ()

    def keep(self, entry: Mapping[str, Any]) -> bool:
        if not str(entry.get("Id", "")).startswith(self.id_prefix):
            return False
        found = entry.get("Labels") or {}
        if any(found.get(key) != value for key, value in self.exact_labels):
            return False
        return str(found.get(labels.SANDBOX_ID_KEY, "")).startswith(self.sandbox_prefix)


def sandboxes(wanted: cri.PodSandboxFilter) -> ListQuery | None:
    if not _possible_id(wanted.id):
        return None
    filters, exact = _label_filters(labels.TYPE_SANDBOX, wanted.label_selector)
    if wanted.HasField("state"):
        if wanted.state.state not in cri.PodSandboxState.values():
            raise InvalidArgument(f"filter.state.state: unknown sandbox state {wanted.state.state}")
        ready = wanted.state.state == cri.SANDBOX_READY
        filters["status"] = ["running"] if ready else list(_NOT_READY_STATUSES)
    return ListQuery(filters, id_prefix=wanted.id, exact_labels=exact)


def containers(wanted: cri.ContainerFilter) -> ListQuery | None:
    if not _possible_id(wanted.id) or not _possible_id(wanted.pod_sandbox_id):
        return None
    filters, exact = _label_filters(labels.TYPE_CONTAINER, wanted.label_selector)
    sandbox_prefix = wanted.pod_sandbox_id
    if len(sandbox_prefix) == FULL_ID_LENGTH:
        # A full sandbox id is an exact label match: let dockerd do it.
        filters["label"].append(f"{labels.SANDBOX_ID_KEY}={sandbox_prefix}")
        sandbox_prefix = ""
    if wanted.HasField("state"):
        statuses = _CONTAINER_STATUSES.get(wanted.state.state)
        if statuses is None:
            raise InvalidArgument(
                f"filter.state.state: unknown container state {wanted.state.state}"
            )
        filters["status"] = list(statuses)
    return ListQuery(
        filters, id_prefix=wanted.id, sandbox_prefix=sandbox_prefix, exact_labels=exact
    )


def _possible_id(value: str) -> bool:
    """Empty (no filter) or a prefix of some Docker id."""
    return not value or _HEX.fullmatch(value) is not None


def _label_filters(
    kind: str, selector: Mapping[str, str]
) -> tuple[Filters, tuple[tuple[str, str], ...]]:
    """dockerd's label filters, and the selector entries to match on the listed entries.

    dockerd splits ``label=KEY=VALUE`` at the first '=': a key with '=' in it
    would select other objects, so such entries are matched after listing.
    """
    limits.mapping(
        selector,
        "filter.label_selector",
        limits.LABEL_KEY_BYTES,
        limits.LABEL_VALUE_BYTES,
        limits.METADATA_TOTAL_BYTES,
    )
    plain = {k: v for k, v in selector.items() if "=" not in k}
    exact = tuple(sorted((labels.label_key(k), v) for k, v in selector.items() if "=" in k))
    return {"label": [f"{labels.TYPE_KEY}={kind}", *labels.selector_filters(plain)]}, exact


def matches(entry: Mapping[str, Any], filters: Mapping[str, list[str]]) -> bool:
    """Whether a container list entry passes ``filters`` as dockerd would evaluate them.

    Only the filters this module builds: ``label`` (``key`` or ``key=value``, all
    must hold) and ``status`` (any may).
    """
    docker_labels = entry.get("Labels") or {}
    for wanted in filters.get("label", ()):
        key, has_value, value = wanted.partition("=")
        if key not in docker_labels or (has_value and docker_labels[key] != value):
            return False
    statuses = filters.get("status")
    return not statuses or entry.get("State") in statuses
