"""The shim's own records, kept in a Docker label of each sandbox and container.

Docker has no field for some of what the CRI asks back (a sandbox's
metadata and namespace options, a container's image spec and mounts as the
client gave them), so the shim writes them at create time, as JSON under
``labels.RECORD_KEY``, and reads them in every status and list answer.
These typed records are the only shape the rest of the shim sees.

Versions: ``version`` is written since version 1; records written before it
(no ``version`` key) have version 1's layout. Fields are only ever added, so
a reader takes the fields it knows from any version and defaults the rest,
and a record it cannot read at all (not the shim's, garbage) reads as
empty: the object then answers with blank metadata instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from cricommon import jsonfields
from shim.translate import labels

VERSION = 1
JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NamespaceRecord:
    network: int = cri.POD
    pid: int = cri.POD
    ipc: int = cri.POD
    target_id: str = ""

    def as_mapping(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "pid": self.pid,
            "ipc": self.ipc,
            "target_id": self.target_id,
        }


@dataclass(frozen=True, slots=True)
class SandboxRecord:
    name: str = ""
    uid: str = ""
    namespace: str = ""
    attempt: int = 0
    created_at: int = 0
    runtime_handler: str = ""
    log_directory: str = ""
    namespace_options: NamespaceRecord = field(default_factory=NamespaceRecord)

    @property
    def metadata(self) -> cri.PodSandboxMetadata:
        return cri.PodSandboxMetadata(
            name=self.name, uid=self.uid, namespace=self.namespace, attempt=self.attempt
        )

    def to_json(self) -> JSON:
        return {
            "version": VERSION,
            "metadata": {
                "name": self.name,
                "uid": self.uid,
                "namespace": self.namespace,
                "attempt": self.attempt,
            },
            "created_at": self.created_at,
            "runtime_handler": self.runtime_handler,
            "log_directory": self.log_directory,
            "namespace_options": self.namespace_options.as_mapping(),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> SandboxRecord:
        meta = jsonfields.mapping(document, "metadata")
        ns = jsonfields.mapping(document, "namespace_options")
        return cls(
            name=jsonfields.text(meta, "name"),
            uid=jsonfields.text(meta, "uid"),
            namespace=jsonfields.text(meta, "namespace"),
            attempt=jsonfields.integer(meta, "attempt"),
            created_at=jsonfields.integer(document, "created_at"),
            runtime_handler=jsonfields.text(document, "runtime_handler"),
            log_directory=jsonfields.text(document, "log_directory"),
            namespace_options=NamespaceRecord(
                network=jsonfields.integer(ns, "network", cri.POD),
                pid=jsonfields.integer(ns, "pid", cri.POD),
                ipc=jsonfields.integer(ns, "ipc", cri.POD),
                target_id=jsonfields.text(ns, "target_id"),
            ),
        )


@dataclass(frozen=True, slots=True)
class ImageRecord:
    image: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    user_specified_image: str = ""
    runtime_handler: str = ""


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    name: str = ""
    attempt: int = 0
    created_at: int = 0
    image: ImageRecord = field(default_factory=ImageRecord)
    mounts: tuple[cri.Mount, ...] = ()
    # The sandbox's log directory at creation: the trusted root of the log path.
    log_directory: str = ""

    @property
    def metadata(self) -> cri.ContainerMetadata:
        return cri.ContainerMetadata(name=self.name, attempt=self.attempt)

    def to_json(self) -> JSON:
        document = {
            "version": VERSION,
            "metadata": {"name": self.name, "attempt": self.attempt},
            "created_at": self.created_at,
            "image": {
                "image": self.image.image,
                "annotations": dict(self.image.annotations),
                "user_specified_image": self.image.user_specified_image,
                "runtime_handler": self.image.runtime_handler,
            },
            "mounts": [mount_to_json(m) for m in self.mounts],
        }
        if self.log_directory:
            document["log_directory"] = self.log_directory
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ContainerRecord:
        meta = jsonfields.mapping(document, "metadata")
        image = jsonfields.mapping(document, "image")
        annotations = jsonfields.mapping(image, "annotations")
        mounts = document.get("mounts")
        return cls(
            name=jsonfields.text(meta, "name"),
            attempt=jsonfields.integer(meta, "attempt"),
            created_at=jsonfields.integer(document, "created_at"),
            image=ImageRecord(
                image=jsonfields.text(image, "image"),
                annotations={str(k): str(v) for k, v in annotations.items()},
                user_specified_image=jsonfields.text(image, "user_specified_image"),
                runtime_handler=jsonfields.text(image, "runtime_handler"),
            ),
            mounts=tuple(
                mount_from_json(m)
                for m in (mounts if isinstance(mounts, list) else [])
                if isinstance(m, Mapping)
            ),
            log_directory=jsonfields.text(document, "log_directory"),
        )


def mount_to_json(mount: cri.Mount) -> JSON:
    return {
        "container_path": mount.container_path,
        "host_path": mount.host_path,
        "readonly": mount.readonly,
        "selinux_relabel": mount.selinux_relabel,
        "propagation": int(mount.propagation),
    }


def mount_from_json(mount: Mapping[str, Any]) -> cri.Mount:
    return cri.Mount(
        container_path=jsonfields.text(mount, "container_path"),
        host_path=jsonfields.text(mount, "host_path"),
        readonly=bool(mount.get("readonly", False)),
        selinux_relabel=bool(mount.get("selinux_relabel", False)),
        propagation=jsonfields.integer(mount, "propagation", cri.PROPAGATION_PRIVATE),  # type: ignore[arg-type]
    )


def encode(record: SandboxRecord | ContainerRecord) -> str:
    """The label value: compact, sorted JSON."""
    return labels.encode_record(record.to_json())


def sandbox(docker_labels: Mapping[str, str] | None) -> SandboxRecord:
    """A sandbox's record; an empty one for an object without a readable record."""
    return SandboxRecord.from_json(labels.decode_record(docker_labels))


def container(docker_labels: Mapping[str, str] | None) -> ContainerRecord:
    return ContainerRecord.from_json(labels.decode_record(docker_labels))
