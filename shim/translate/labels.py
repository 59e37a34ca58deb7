"""How CRI labels, annotations and the shim's own records live in Docker labels.

Docker labels are the shim's only durable store: a restarted shim rebuilds
every answer from them. The layout keeps cri-dockerd's keys where they
exist, so ``docker ps --filter label=io.kubernetes.docker.type=podsandbox``
works as users know it:

* CRI labels are stored under their own key, so list filters become Docker
  label filters evaluated by dockerd.
* CRI annotations are stored as ``annotation.<key>``.
* The shim's records use the internal keys below and are never shown as CRI
  labels.
* A CRI label whose key would be mistaken for one of the above (it starts
  with ``annotation.`` or ``label.``, or equals an internal key) is stored
  as ``label.<key>``. This escape makes the round trip exact for any key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

TYPE_KEY = "io.kubernetes.docker.type"
TYPE_SANDBOX = "podsandbox"
TYPE_CONTAINER = "container"
SANDBOX_ID_KEY = "io.kubernetes.sandbox.id"
LOG_PATH_KEY = "io.kubernetes.container.logpath"
# JSON records of CRI fields Docker has no place for (metadata, image spec...).
RECORD_KEY = "io.cri-shim.record"
# The --instance of the shim that created the object: a scoped shim sees only its own.
INSTANCE_KEY = "io.cri-shim.instance"

INTERNAL_KEYS = frozenset({TYPE_KEY, SANDBOX_ID_KEY, LOG_PATH_KEY, RECORD_KEY, INSTANCE_KEY})
ANNOTATION_PREFIX = "annotation."
ESCAPE_PREFIX = "label."


def label_key(cri_key: str) -> str:
    """The Docker label key under which a CRI label is stored."""
    if (
        cri_key in INTERNAL_KEYS
        or cri_key.startswith(ANNOTATION_PREFIX)
        or cri_key.startswith(ESCAPE_PREFIX)
    ):
        return ESCAPE_PREFIX + cri_key
    return cri_key


def encode(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    internal: Mapping[str, str],
) -> dict[str, str]:
    """Docker labels for an object with the given CRI labels and annotations."""
    encoded = {label_key(k): v for k, v in labels.items()}
    encoded.update({ANNOTATION_PREFIX + k: v for k, v in annotations.items()})
    encoded.update(internal)
    return encoded


def decode(docker_labels: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Split Docker labels back into (CRI labels, CRI annotations)."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for key, value in (docker_labels or {}).items():
        if key in INTERNAL_KEYS:
            continue
        if key.startswith(ESCAPE_PREFIX):
            labels[key.removeprefix(ESCAPE_PREFIX)] = value
        elif key.startswith(ANNOTATION_PREFIX):
            annotations[key.removeprefix(ANNOTATION_PREFIX)] = value
        else:
            labels[key] = value
    return labels, annotations


def scope_filters(instance: str) -> list[str]:
    """Docker ``label`` filter values selecting one shim instance's objects; none if unscoped."""
    return [f"{INSTANCE_KEY}={instance}"] if instance else []


def in_scope(docker_labels: Mapping[str, str] | None, instance: str) -> bool:
    """Whether an object belongs to the shim instance (every object does when unscoped)."""
    return not instance or (docker_labels or {}).get(INSTANCE_KEY) == instance


def selector_filters(selector: Mapping[str, str]) -> list[str]:
    """Docker ``label`` filter values matching a CRI label selector exactly."""
    return [f"{label_key(k)}={v}" for k, v in sorted(selector.items())]


def encode_record(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def decode_record(docker_labels: Mapping[str, str] | None) -> dict[str, Any]:
    """The shim's JSON record, or {} for an object the shim did not create."""
    raw = (docker_labels or {}).get(RECORD_KEY)
    if not raw:
        return {}
    try:
        record = json.loads(raw)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
