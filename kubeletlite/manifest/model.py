"""The Pod model kubelet-lite runs (frozen dataclasses), and the pure helpers the
runtime uses on it: image tags, default pull policies, ports, hashes."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from kubeletlite.manifest.errors import _plain

# ---------------------------------------------------------------------------
# The model. Frozen and slotted; sequences are tuples. The only mutable parts are
# Pod.labels and Pod.annotations (plain dicts, for convenient lookups): treat them
# as read-only. They are left out of hash() so a Pod stays hashable.
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecAction:
    command: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HTTPHeader:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class HTTPGetAction:
    port: int | str  # as written: a number, or the name of one of the container's ports
    path: str = "/"
    host: str | None = None  # None: the pod's IP
    scheme: str = "HTTP"
    headers: tuple[HTTPHeader, ...] = ()


@dataclass(frozen=True, slots=True)
class SleepAction:
    seconds: int


Handler: TypeAlias = ExecAction | HTTPGetAction | SleepAction


@dataclass(frozen=True, slots=True)
class Lifecycle:
    post_start: Handler | None = None
    pre_stop: Handler | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerPort:
    container_port: int
    name: str | None = None
    host_port: int | None = None  # None: not published on the host
    protocol: str = "TCP"
    host_ip: str | None = None


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str = ""
    mount_propagation: str | None = None  # None (unset), "None", "HostToContainer", "Bidirectional"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """Requests default to the limit when only the limit is given, as Kubernetes defaults."""

    cpu_request_millis: int | None = None
    cpu_limit_millis: int | None = None
    memory_request_bytes: int | None = None
    memory_limit_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityContext:
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool = False
    privileged: bool = False
    allow_privilege_escalation: bool | None = None
    capabilities: Capabilities = Capabilities()


@dataclass(frozen=True, slots=True, kw_only=True)
class PodSecurityContext:
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: tuple[int, ...] = ()
    fs_group: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    name: str
    image: str
    image_pull_policy: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()  # names are unique: a later duplicate has replaced the value
    working_dir: str = ""
    ports: tuple[ContainerPort, ...] = ()
    volume_mounts: tuple[VolumeMount, ...] = ()
    resources: Resources = Resources()
    security_context: SecurityContext = SecurityContext()
    lifecycle: Lifecycle = Lifecycle()
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    termination_message_path: str = "/dev/termination-log"
    termination_message_policy: str = "File"


@dataclass(frozen=True, slots=True)
class HostPathVolume:
    path: str
    type: str = ""  # "", DirectoryOrCreate, Directory, FileOrCreate, File, Socket, ...


@dataclass(frozen=True, slots=True)
class EmptyDirVolume:
    medium: str = ""  # "" (node disk) or "Memory" (tmpfs)
    size_limit_bytes: int | None = None


VolumeSource: TypeAlias = HostPathVolume | EmptyDirVolume


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    source: VolumeSource


@dataclass(frozen=True, slots=True)
class DNSConfig:
    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PodSpec:
    containers: tuple[Container, ...]
    restart_policy: str = "Always"
    termination_grace_period_seconds: int = 30
    host_network: bool = False
    volumes: tuple[Volume, ...] = ()
    security_context: PodSecurityContext = PodSecurityContext()
    hostname: str | None = None
    dns_policy: str = "ClusterFirst"
    dns_config: DNSConfig | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pod:
    name: str
    namespace: str = "default"
    uid: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    annotations: dict[str, str] = field(default_factory=dict, hash=False)
    spec: PodSpec
    source: str = "<stdin>"  # where the manifest came from, e.g. its file path

    @property
    def full_name(self) -> str:
        """``name_namespace``, the kubelet's ``kubecontainer.GetPodFullName``."""
        return f"{self.name}_{self.namespace}"

    @property
    def spec_hash(self) -> str:
        """16 hex digits identifying the defaulted spec; changes whenever the spec does."""
        return _digest(self.spec)

    def describe(self) -> str:
        """``name_namespace(uid)``, the shape of the kubelet's ``format.Pod`` in logs."""
        return f"{self.full_name}({self.uid})"


@dataclass(frozen=True, slots=True)
class LoadResult:
    pods: tuple[Pod, ...]
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# Pure helpers the kubelet-lite runtime also uses.
# ---------------------------------------------------------------------------


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest). A colon before the last '/' is a registry port."""
    name, at, digest = image.partition("@")
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag or None, (digest if at else None) or None


def image_has_tag_or_digest(image: str) -> bool:
    """Whether ``image`` names a tag or a digest (``127.0.0.1:5000/busybox`` has neither)."""
    _, tag, digest = _split_image(image)
    return tag is not None or digest is not None


def default_pull_policy(image: str) -> str:
    """``Always`` for an untagged or ``:latest`` image without digest, else ``IfNotPresent``."""
    _, tag, digest = _split_image(image)
    return "Always" if digest is None and tag in (None, "latest") else "IfNotPresent"


def resolve_port(action: HTTPGetAction, container: Container) -> int:
    """The port number an httpGet handler targets, as the kubelet's ``ResolveContainerPort``.

    A string is looked up among the container's named ports first, then read as a
    decimal number. Raises ``ValueError`` when it resolves to nothing in 1..65535.
    """
    port = action.port
    if isinstance(port, str):
        named = [p.container_port for p in container.ports if p.name == port]
        if named:
            port = named[0]
        elif re.fullmatch("[0-9]{1,5}", port):
            port = int(port)
        else:
            raise ValueError(f"container {container.name!r} has no port named {port!r}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} of container {container.name!r} is not in 1..65535")
    return port


def container_hash(pod: Pod, container_name: str) -> str:
    """16 hex digits identifying one container's defaulted definition (the kubelet's
    ``HashContainer``): a change means the running container is out of date.

    Raises ``KeyError`` when the pod has no such container.
    """
    for container in pod.spec.containers:
        if container.name == container_name:
            return _digest(container)
    raise KeyError(container_name)


def _digest(value: object) -> str:
    return hashlib.sha256(_canonical_json(value)).hexdigest()[:16]


def _canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, ASCII: equal data always gives equal bytes."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":")).encode("ascii")


def _derive_uid(document: Mapping[Any, Any], source: str) -> str:
    """A UUID-shaped digest of the manifest and its source, like a static pod's config hash.

    ``status`` is left out: it describes a pod, it does not define one.
    """
    definition = {k: v for k, v in document.items() if k != "status"}
    digest = hashlib.sha256(
        source.encode("utf-8", "surrogatepass") + b"\0" + _canonical_json(definition)
    ).digest()
    return str(uuid.UUID(bytes=digest[:16]))
