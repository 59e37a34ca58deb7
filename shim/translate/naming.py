"""Docker container names for sandboxes and containers.

Names follow the kubelet/cri-dockerd convention

    k8s_POD_<pod>_<namespace>_<uid>_<attempt>            (sandbox)
    k8s_<container>_<pod>_<namespace>_<uid>_<attempt>    (container)

Why names matter: dockerd refuses a second container with the same name, so
a retried Create (the client timed out, but dockerd finished) cannot leave a
duplicate behind, and ``docker ps`` stays readable. The shim never parses
names back: the CRI metadata is kept in a label record (``shim.translate.labels``), so
an unusual name never corrupts state. A stale container holding a name is
removed, or when that fails the new name gets a random suffix, which keeps
the name unique while staying recognisable.
"""

from __future__ import annotations

import re
import secrets

PREFIX = "k8s"
SANDBOX_CONTAINER_NAME = "POD"

# What dockerd accepts in a container name (after the first character).
_COMPONENT = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def invalid_component(value: str) -> str | None:
    """Why ``value`` cannot be part of a Docker name, or None if it can."""
    if not value:
        return "must not be empty"
    if not _COMPONENT.fullmatch(value):
        return "must start with a letter or digit and contain only letters, digits, '_', '.', '-'"
    return None


def sandbox_name(name: str, namespace: str, uid: str, attempt: int) -> str:
    return "_".join((PREFIX, SANDBOX_CONTAINER_NAME, name, namespace, uid, str(attempt)))


def container_name(
    container: str, attempt: int, pod_name: str, namespace: str, pod_uid: str
) -> str:
    return "_".join((PREFIX, container, pod_name, namespace, pod_uid, str(attempt)))


def with_random_suffix(name: str) -> str:
    return f"{name}_{secrets.token_hex(4)}"
