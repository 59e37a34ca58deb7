"""Pure conversions from Docker's JSON (inspect and list documents) to CRI messages.

No I/O here: every function takes the documents the Docker adapter returned
and builds protobuf messages, so all of it is table-testable.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from cricommon.criolog import rfc3339_ns
from shim.translate import imageref, labelrecord, labels

JSON = dict[str, Any]


def docker_time_ns(value: str | None) -> int:
    """Nanoseconds since the epoch for a Docker timestamp; 0 for Go's zero time."""
    return rfc3339_ns(value)


def now_ns() -> int:
    moment = datetime.now(UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


# -- sandboxes ----------------------------------------------------------------


def sandbox_state(running: bool) -> cri.PodSandboxState.ValueType:
    return cri.SANDBOX_READY if running else cri.SANDBOX_NOTREADY


def pod_sandbox(entry: JSON) -> cri.PodSandbox:
    """A ListPodSandbox item from a ``GET /containers/json`` entry."""
    record = labelrecord.sandbox(entry.get("Labels"))
    cri_labels, annotations = labels.decode(entry.get("Labels"))
    return cri.PodSandbox(
        id=entry["Id"],
        metadata=record.metadata,
        state=sandbox_state(entry.get("State") == "running"),
        created_at=record.created_at,
        labels=cri_labels,
        annotations=annotations,
        runtime_handler=record.runtime_handler,
    )


def pod_sandbox_status(inspect: JSON) -> cri.PodSandboxStatus:
    docker_labels = inspect["Config"].get("Labels")
    record = labelrecord.sandbox(docker_labels)
    cri_labels, annotations = labels.decode(docker_labels)
    ns = record.namespace_options
    ip, extra_ips = sandbox_ips(inspect)
    return cri.PodSandboxStatus(
        id=inspect["Id"],
        metadata=record.metadata,
        state=sandbox_state(bool(inspect["State"].get("Running"))),
        created_at=record.created_at,
        network=cri.PodSandboxNetworkStatus(
            ip=ip, additional_ips=[cri.PodIP(ip=extra) for extra in extra_ips]
        ),
        linux=cri.LinuxPodSandboxStatus(
            namespaces=cri.Namespace(
                options=cri.NamespaceOption(
                    network=ns.network,  # type: ignore[arg-type]
                    pid=ns.pid,  # type: ignore[arg-type]
                    ipc=ns.ipc,  # type: ignore[arg-type]
                    target_id=ns.target_id,
                )
            )
        ),
        labels=cri_labels,
        annotations=annotations,
        runtime_handler=record.runtime_handler,
    )


def sandbox_ips(inspect: JSON) -> tuple[str, list[str]]:
    """(primary IP, additional IPs) of a running sandbox; host-network sandboxes have none."""
    if not inspect["State"].get("Running"):
        return "", []
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    ipv4 = [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]
    ipv6 = [n["GlobalIPv6Address"] for n in networks.values() if n.get("GlobalIPv6Address")]
    addresses = ipv4 + ipv6
    if not addresses:
        return "", []
    return addresses[0], addresses[1:]


# -- containers ---------------------------------------------------------------


def image_spec(record: labelrecord.ImageRecord, fallback: str) -> cri.ImageSpec:
    return cri.ImageSpec(
        image=record.image or fallback,
        annotations=record.annotations,
        user_specified_image=record.user_specified_image,
        runtime_handler=record.runtime_handler,
    )


def list_state(docker_state: str) -> cri.ContainerState.ValueType:
    """CRI state from the ``State`` word of a container list entry."""
    match docker_state:
        case "running" | "paused" | "restarting":
            return cri.CONTAINER_RUNNING
        case "created":
            return cri.CONTAINER_CREATED
        case "exited":
            return cri.CONTAINER_EXITED
        case _:
            return cri.CONTAINER_UNKNOWN


def container(entry: JSON, image_refs: Mapping[str, str]) -> cri.Container:
    """A ListContainers item from a ``GET /containers/json`` entry."""
    docker_labels = entry.get("Labels") or {}
    record = labelrecord.container(docker_labels)
    cri_labels, annotations = labels.decode(docker_labels)
    image_id = entry.get("ImageID", "")
    return cri.Container(
        id=entry["Id"],
        pod_sandbox_id=docker_labels.get(labels.SANDBOX_ID_KEY, ""),
        metadata=record.metadata,
        image=image_spec(record.image, entry.get("Image", "")),
        image_ref=image_refs.get(image_id, image_id),
        image_id=image_id,
        state=list_state(entry.get("State", "")),
        created_at=record.created_at,
        labels=cri_labels,
        annotations=annotations,
    )


def container_status(inspect: JSON, image_ref: str) -> cri.ContainerStatus:
    """ContainerStatus from a container's inspect document and its image's reference."""
    config = inspect["Config"]
    docker_labels = config.get("Labels") or {}
    record = labelrecord.container(docker_labels)
    cri_labels, annotations = labels.decode(docker_labels)
    state, reason, started, finished = _lifecycle(inspect)
    image_id = inspect.get("Image", "")
    return cri.ContainerStatus(
        id=inspect["Id"],
        metadata=record.metadata,
        state=state,
        created_at=record.created_at or docker_time_ns(inspect.get("Created")),
        started_at=started,
        finished_at=finished,
        exit_code=int(inspect["State"].get("ExitCode", 0)),
        image=image_spec(record.image, config.get("Image", "")),
        image_ref=image_ref,
        image_id=image_id,
        reason=reason,
        message=inspect["State"].get("Error", ""),
        labels=cri_labels,
        annotations=annotations,
        mounts=list(record.mounts),
        log_path=docker_labels.get(labels.LOG_PATH_KEY, ""),
        resources=cri.ContainerResources(linux=linux_resources(inspect["HostConfig"])),
        stop_signal=stop_signal(config.get("StopSignal")),
    )


def _lifecycle(
    inspect: JSON,
) -> tuple[cri.ContainerState.ValueType, str, int, int]:
    """(state, reason, started_at, finished_at), with cri-dockerd's reading of Docker's state."""
    docker_state = inspect["State"]
    created = docker_time_ns(inspect.get("Created"))
    started = docker_time_ns(docker_state.get("StartedAt"))
    finished = docker_time_ns(docker_state.get("FinishedAt"))
    exit_code = int(docker_state.get("ExitCode", 0))
    if docker_state.get("Running"):
        return cri.CONTAINER_RUNNING, "", started, 0
    if finished:
        # dockerd stamps StartedAt after runc returns but FinishedAt with the exit's own
        # time, so a short-lived process seems to finish before it started.
        started = min(started, finished)
        if docker_state.get("OOMKilled"):
            reason = "OOMKilled"
        elif exit_code == 0:
            reason = "Completed"
        else:
            reason = "Error"
        return cri.CONTAINER_EXITED, reason, started, finished
    if exit_code != 0:
        # Start failed before the process ran: report it as having run and died at creation.
        return cri.CONTAINER_EXITED, "ContainerCannotRun", created, created
    if docker_state.get("Status") in ("dead", "removing"):
        return cri.CONTAINER_UNKNOWN, "", started, finished
    return cri.CONTAINER_CREATED, "", 0, 0


def linux_resources(host_config: JSON) -> cri.LinuxContainerResources:
    return cri.LinuxContainerResources(
        cpu_period=int(host_config.get("CpuPeriod") or 0),
        cpu_quota=int(host_config.get("CpuQuota") or 0),
        cpu_shares=int(host_config.get("CpuShares") or 0),
        memory_limit_in_bytes=int(host_config.get("Memory") or 0),
        memory_swap_limit_in_bytes=int(host_config.get("MemorySwap") or 0),
        oom_score_adj=int(host_config.get("OomScoreAdj") or 0),
        cpuset_cpus=host_config.get("CpusetCpus") or "",
        cpuset_mems=host_config.get("CpusetMems") or "",
    )


def stop_signal(docker_signal: str | None) -> cri.Signal.ValueType:
    """The CRI Signal for Docker's StopSignal: a name ("TERM", "SIGTERM") or a number."""
    if not docker_signal:
        return cri.RUNTIME_DEFAULT
    name = docker_signal.upper()
    if name.isascii() and name.isdigit():
        try:
            name = signal.Signals(int(name)).name
        except ValueError:
            return cri.RUNTIME_DEFAULT
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return cri.Signal.Value(name)
    except ValueError:
        return cri.RUNTIME_DEFAULT


# -- images -------------------------------------------------------------------


def image_ref(image: JSON) -> str:
    """The digested reference the kubelet records for an image, else its ID."""
    digests = [imageref.qualify(d) for d in image.get("RepoDigests") or []]
    return digests[0] if digests else str(image.get("Id", ""))


def image(image_doc: JSON) -> cri.Image:
    """A CRI Image from an image inspect document or an image list entry."""
    tags = [imageref.qualify(t) for t in image_doc.get("RepoTags") or [] if t != "<none>:<none>"]
    digests = [
        imageref.qualify(d)
        for d in image_doc.get("RepoDigests") or []
        if not d.startswith("<none>")
    ]
    uid, username = image_user((image_doc.get("Config") or {}).get("User", ""))
    return cri.Image(
        id=str(image_doc.get("Id", "")),
        repo_tags=tags,
        repo_digests=digests,
        size=int(image_doc.get("Size") or 0),
        uid=cri.Int64Value(value=uid) if uid is not None else None,
        username=username,
        spec=cri.ImageSpec(image=str(image_doc.get("Id", ""))),
    )


def image_user(user: str) -> tuple[int | None, str]:
    """Split an image's USER into (numeric uid, user name); either may be absent."""
    name = user.split(":", 1)[0]
    if not name:
        return None, ""
    # As cri-dockerd's ParseInt: only an ASCII decimal that fits an int64 is a uid.
    if name.isascii() and name.isdigit() and int(name) < 2**63:
        return int(name), ""
    return None, name
