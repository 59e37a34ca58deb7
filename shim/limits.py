"""Bounds on every client-supplied value the shim passes on to dockerd or the host. Pure.

A value past these bounds is refused with InvalidArgument naming its field,
before anything is created: an unbounded string reaches runc (a 1 MB cgroup
parent hangs it), dockerd's URLs and headers, and the shim's own logs. Where
Kubernetes has a limit of its own, that one is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shim.errors import InvalidArgument

# Names, namespaces, uids: a DNS-1123 subdomain (the API server's limit).
NAME_BYTES = 253
# A Linux host name (HOST_NAME_MAX); the kubelet sends a DNS label of 63.
HOSTNAME_BYTES = 64
# PATH_MAX, for every host or container path.
PATH_BYTES = 4096
# A label key: a 253-byte DNS prefix, '/', a 63-byte name (the API server's limit).
LABEL_KEY_BYTES = 317
# Label values: the API server allows 63, the kubelet adds longer ones of its own
# (pod names); this is the bound on each value and on all of them together.
LABEL_VALUE_BYTES = 4096
# Annotations, all keys and values together (the API server's TotalAnnotationSizeLimitB);
# also the bound on all labels together.
METADATA_TOTAL_BYTES = 256 * 1024
# One argument or environment entry (the kernel's MAX_ARG_STRLEN), and all of a
# command's arguments and environment together (well within ARG_MAX).
ARG_BYTES = 128 * 1024
EXEC_TOTAL_BYTES = 1024 * 1024
# Lists whose length the kernel or the API server bounds, and the rest.
DNS_SERVERS = 3
DNS_SEARCHES = 32
DNS_SEARCH_TOTAL_BYTES = 2048
LIST_ITEMS = 1024
# A capability name, a sysctl name, a cpuset, a runtime handler...
SHORT_BYTES = 253
# Registry credentials: each field, and the whole X-Registry-Auth document.
CREDENTIAL_BYTES = 64 * 1024
CREDENTIALS_TOTAL_BYTES = 256 * 1024
# An image reference (distribution allows a 255-byte name, a tag and a digest).
IMAGE_REF_BYTES = 1024
# A Docker id, full length: no CRI id is longer.
ID_BYTES = 64


def size(value: str | bytes) -> int:
    return len(value) if isinstance(value, bytes) else len(value.encode("utf-8", "surrogatepass"))


def text(value: str | bytes, field: str, limit: int) -> None:
    """Refuse a value longer than ``limit`` bytes, or one with a NUL byte (C strings end there)."""
    if size(value) > limit:
        raise InvalidArgument(f"{field}: longer than {limit} bytes ({size(value)})")
    nul = b"\x00" if isinstance(value, bytes) else "\x00"
    if nul in value:  # type: ignore[operator]
        raise InvalidArgument(f"{field}: must not contain a NUL byte")


def items(values: Iterable[object], field: str, limit: int = LIST_ITEMS) -> None:
    count = sum(1 for _ in values)
    if count > limit:
        raise InvalidArgument(f"{field}: more than {limit} entries ({count})")


def strings(
    values: Iterable[str | bytes], field: str, each: int, total: int, count: int = LIST_ITEMS
) -> None:
    """Bound a list of strings: each one, how many, and all together."""
    listed = list(values)
    items(listed, field, count)
    for index, value in enumerate(listed):
        text(value, f"{field}[{index}]", each)
    combined = sum(size(v) for v in listed)
    if combined > total:
        raise InvalidArgument(f"{field}: longer than {total} bytes in total ({combined})")


def mapping(
    values: Mapping[str, str], field: str, key_bytes: int, value_bytes: int, total: int
) -> None:
    """Bound a string map (labels, annotations, sysctls): keys, values, and all together."""
    combined = 0
    for key, value in values.items():
        text(key, f"{field}: key {key[:64]!r}", key_bytes)
        text(value, f"{field}[{key[:64]!r}]", value_bytes)
        combined += size(key) + size(value)
    if combined > total:
        raise InvalidArgument(f"{field}: longer than {total} bytes in total ({combined})")
