"""Pure translation of validated CRI configs into Docker create bodies, in one pass.

A CreateContainer or RunPodSandbox goes through three steps: validation
(:mod:`shim.translate.validate`, pure), resolution of everything that needs I/O, once
(:mod:`shim.cri.resolve`: the sandbox, a seccomp profile's text, what the host
allows), then this module: CRI config + resolved inputs -> the complete
``POST /containers/create`` body. Nothing patches a body afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from shim.engine import capabilities
from shim.translate import labelrecord, labels
from shim.translate.seccomp import SeccompChoice

JSON = dict[str, Any]

_PROTOCOLS = {cri.TCP: "tcp", cri.UDP: "udp", cri.SCTP: "sctp"}
_PROPAGATION = {
    cri.PROPAGATION_PRIVATE: "rprivate",
    cri.PROPAGATION_HOST_TO_CONTAINER: "rslave",
    cri.PROPAGATION_BIDIRECTIONAL: "rshared",
}
_HEALTHCHECK_OFF = {"Test": ["NONE"]}
# The kubelet owns restarts; dockerd must never restart a container on its own.
_NO_RESTART = {"Name": "no"}
# Logs are copied out of dockerd into CRI files; json-file is the driver that
# can be read back with timestamps.
_LOG_CONFIG = {"Type": "json-file", "Config": {}}


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedSandbox:
    """Everything a sandbox body needs beyond its CRI config, resolved once."""

    infra_image: str
    pod_network: str
    oom_score_adj: int  # the effective score: what the host allows of the configured one
    seccomp: SeccompChoice
    runtime_handler: str  # the CRI name, recorded
    docker_runtime: str  # dockerd's runtime for it; "" = dockerd's default
    created_at: int
    instance: str  # the shim's --instance label value; "" when unscoped
    privileges: capabilities.Replacement | None  # where dockerd's privileged mode is emulated


@dataclass(frozen=True, slots=True)
class SandboxView:
    """What a container needs to know about its sandbox."""

    id: str
    metadata: cri.PodSandboxMetadata
    namespace_options: Mapping[str, Any]
    cgroup_parent: str
    log_directory: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedContainer:
    """Everything a container body needs beyond its CRI config, resolved once."""

    sandbox: SandboxView
    seccomp: SeccompChoice
    oom_score_adj: int  # the effective score: what the host allows of the requested one
    created_at: int
    instance: str
    privileges: capabilities.Replacement | None


# -- sandbox body ------------------------------------------------------------------


def sandbox_record(
    config: cri.PodSandboxConfig, runtime_handler: str, created_at: int
) -> labelrecord.SandboxRecord:
    ns = config.linux.security_context.namespace_options
    return labelrecord.SandboxRecord(
        name=config.metadata.name,
        uid=config.metadata.uid,
        namespace=config.metadata.namespace,
        attempt=config.metadata.attempt,
        created_at=created_at,
        runtime_handler=runtime_handler,
        log_directory=config.log_directory,
        namespace_options=labelrecord.NamespaceRecord(
            network=int(ns.network), pid=int(ns.pid), ipc=int(ns.ipc), target_id=ns.target_id
        ),
    )


def sandbox_body(config: cri.PodSandboxConfig, resolved: ResolvedSandbox) -> JSON:
    """The ``POST /containers/create`` body of a sandbox's infra container."""
    record = sandbox_record(config, resolved.runtime_handler, resolved.created_at)
    linux = config.linux
    security = linux.security_context
    ns = security.namespace_options
    host_network = ns.network == cri.NODE
    exposed, bindings = ({}, {}) if host_network else _port_bindings(config.port_mappings)
    host_config: JSON = {
        "NetworkMode": "host" if host_network else resolved.pod_network,
        "PidMode": "host" if ns.pid == cri.NODE else "",
        # Containers join the sandbox's IPC namespace, so it must be shareable.
        "IpcMode": "host" if ns.ipc == cri.NODE else "shareable",
        "PortBindings": bindings,
        "Dns": list(config.dns_config.servers),
        "DnsSearch": list(config.dns_config.searches),
        "DnsOptions": list(config.dns_config.options),
        "CgroupParent": linux.cgroup_parent,
        "Sysctls": dict(linux.sysctls),
        "OomScoreAdj": resolved.oom_score_adj,
        "ReadonlyRootfs": security.readonly_rootfs,
        "Privileged": security.privileged,
        "SecurityOpt": _security_opts(resolved.seccomp, no_new_privs=False),
        "GroupAdd": [str(g) for g in security.supplemental_groups],
        "RestartPolicy": _NO_RESTART,
        "LogConfig": _LOG_CONFIG,
    }
    if resolved.docker_runtime:
        host_config["Runtime"] = resolved.docker_runtime
    _emulate_privileges(host_config, resolved.privileges)
    internal = {labels.TYPE_KEY: labels.TYPE_SANDBOX, labels.RECORD_KEY: labelrecord.encode(record)}
    body: JSON = {
        "Image": resolved.infra_image,
        "Hostname": config.hostname,
        "ExposedPorts": exposed,
        "Labels": labels.encode(
            config.labels, config.annotations, _stamped(internal, resolved.instance)
        ),
        "Healthcheck": _HEALTHCHECK_OFF,
        "HostConfig": host_config,
    }
    user = _user(_optional(security, "run_as_user"), _optional(security, "run_as_group"), "")
    if user:
        body["User"] = user
    return body


def _port_bindings(ports: Sequence[cri.PortMapping]) -> tuple[JSON, JSON]:
    exposed: JSON = {}
    bindings: dict[str, list[JSON]] = {}
    for port in ports:
        key = f"{port.container_port}/{_PROTOCOLS[port.protocol]}"
        exposed[key] = {}
        if port.host_port:
            bindings.setdefault(key, []).append(
                {"HostIp": port.host_ip, "HostPort": str(port.host_port)}
            )
    return exposed, bindings


# -- container body ----------------------------------------------------------------


def container_record(
    config: cri.ContainerConfig, created_at: int, log_directory: str = ""
) -> labelrecord.ContainerRecord:
    """``log_directory``: where the trusted part of the log path ends (nothing below it
    is followed); empty when the container has no log file."""
    return labelrecord.ContainerRecord(
        name=config.metadata.name,
        attempt=config.metadata.attempt,
        created_at=created_at,
        image=labelrecord.ImageRecord(
            image=config.image.image,
            annotations=dict(config.image.annotations),
            user_specified_image=config.image.user_specified_image,
            runtime_handler=config.image.runtime_handler,
        ),
        mounts=tuple(config.mounts),
        log_directory=log_directory,
    )


def container_body(config: cri.ContainerConfig, resolved: ResolvedContainer) -> JSON:
    """The ``POST /containers/create`` body of an application container."""
    sandbox = resolved.sandbox
    log_path = log_file(sandbox.log_directory, config.log_path)
    record = container_record(
        config, resolved.created_at, sandbox.log_directory if log_path else ""
    )
    security = config.linux.security_context
    internal = {
        labels.TYPE_KEY: labels.TYPE_CONTAINER,
        labels.SANDBOX_ID_KEY: sandbox.id,
        labels.LOG_PATH_KEY: log_path,
        labels.RECORD_KEY: labelrecord.encode(record),
    }
    host_config: JSON = {
        **_namespace_modes(sandbox, security.namespace_options),
        "Binds": [_bind(m) for m in config.mounts],
        "Devices": [
            {
                "PathOnHost": d.host_path,
                "PathInContainer": d.container_path,
                "CgroupPermissions": d.permissions or "rwm",
            }
            for d in config.devices
        ],
        **_resources(config.linux.resources, resolved.oom_score_adj),
        "CgroupParent": sandbox.cgroup_parent,
        "Privileged": security.privileged,
        "ReadonlyRootfs": security.readonly_rootfs,
        "CapAdd": list(security.capabilities.add_capabilities),
        "CapDrop": list(security.capabilities.drop_capabilities),
        "GroupAdd": [str(g) for g in security.supplemental_groups],
        "SecurityOpt": _security_opts(resolved.seccomp, no_new_privs=security.no_new_privs),
        "RestartPolicy": _NO_RESTART,
        "LogConfig": _LOG_CONFIG,
    }
    # An empty list means "no paths" to dockerd but "runtime default" to the CRI.
    if security.masked_paths:
        host_config["MaskedPaths"] = list(security.masked_paths)
    if security.readonly_paths:
        host_config["ReadonlyPaths"] = list(security.readonly_paths)
    _emulate_privileges(host_config, resolved.privileges)
    body: JSON = {
        "Image": config.image.image,
        "Entrypoint": list(config.command) or None,
        "Cmd": list(config.args) or None,
        "Env": [f"{e.key}={e.value.decode('utf-8')}" for e in config.envs],
        "WorkingDir": config.working_dir,
        "Labels": labels.encode(
            config.labels, config.annotations, _stamped(internal, resolved.instance)
        ),
        "Tty": config.tty,
        "OpenStdin": config.stdin,
        "StdinOnce": config.stdin_once,
        "AttachStdin": config.stdin,
        "Healthcheck": _HEALTHCHECK_OFF,
        "HostConfig": host_config,
    }
    user = _user(
        _optional(security, "run_as_user"),
        _optional(security, "run_as_group"),
        security.run_as_username,
    )
    if user:
        body["User"] = user
    if config.stop_signal != cri.RUNTIME_DEFAULT:
        body["StopSignal"] = cri.Signal.Name(config.stop_signal)
    return body


def log_file(directory: str, relative: str) -> str:
    """Where the CRI log goes; empty (no file) unless both parts are given."""
    if not directory or not relative:
        return ""
    return os.path.join(directory, relative)


def _stamped(internal: Mapping[str, str], instance: str) -> dict[str, str]:
    """The shim's own labels, with its --instance where it is scoped."""
    return {**internal, labels.INSTANCE_KEY: instance} if instance else dict(internal)


def _emulate_privileges(host_config: JSON, replacement: capabilities.Replacement | None) -> None:
    """Where the host cannot run dockerd's privileged mode, what stands in for it."""
    if replacement is not None and capabilities.wants_every_capability(host_config):
        capabilities.rewrite(host_config, replacement.capabilities, replacement.devices)


def _namespace_modes(sandbox: SandboxView, options: cri.NamespaceOption) -> JSON:
    """Join the sandbox's namespaces as the kubelet expects of a Docker runtime."""
    joined = f"container:{sandbox.id}"
    sandbox_ns = sandbox.namespace_options
    host_network = sandbox_ns.get("network") == cri.NODE
    match options.pid:
        case cri.NODE:
            pid_mode = "host"
        case cri.TARGET:
            pid_mode = f"container:{options.target_id}"
        case cri.CONTAINER:
            pid_mode = ""
        case _:
            pid_mode = "host" if sandbox_ns.get("pid") == cri.NODE else joined
    return {
        "NetworkMode": joined,
        "IpcMode": "host" if sandbox_ns.get("ipc") == cri.NODE else joined,
        "PidMode": pid_mode,
        "UTSMode": "host" if host_network else "",
    }


def _bind(mount: cri.Mount) -> str:
    options = ["ro" if mount.readonly else "rw", _PROPAGATION[mount.propagation]]
    if mount.selinux_relabel:
        options.append("Z")
    return f"{mount.host_path}:{mount.container_path}:{','.join(options)}"


def _resources(resources: cri.LinuxContainerResources, oom_score_adj: int) -> JSON:
    memory = resources.memory_limit_in_bytes
    swap = resources.memory_swap_limit_in_bytes
    if memory and not swap:
        # Like the kubelet's default: no swap beyond the memory limit.
        swap = memory
    return {
        "CpuShares": resources.cpu_shares,
        "CpuPeriod": resources.cpu_period,
        "CpuQuota": resources.cpu_quota,
        "Memory": memory,
        "MemorySwap": swap,
        "CpusetCpus": resources.cpuset_cpus,
        "CpusetMems": resources.cpuset_mems,
        "OomScoreAdj": oom_score_adj,
    }


def update_body(resources: cri.LinuxContainerResources) -> JSON:
    """``POST /containers/{id}/update`` body; Docker cannot change the OOM score afterwards."""
    body = _resources(resources, 0)
    del body["OomScoreAdj"]
    return body


def _security_opts(seccomp: SeccompChoice, no_new_privs: bool) -> list[str]:
    opts = []
    if seccomp.security_opt:
        opts.append(seccomp.security_opt)
    if no_new_privs:
        opts.append("no-new-privileges")
    return opts


def _optional(
    security: cri.LinuxContainerSecurityContext | cri.LinuxSandboxSecurityContext,
    field: str,
) -> int | None:
    """The value of an Int64Value field, or None when unset (0 is a real uid)."""
    if not security.HasField(field):  # type: ignore[arg-type]
        return None
    value: cri.Int64Value = getattr(security, field)
    return value.value


def _user(uid: int | None, gid: int | None, username: str) -> str:
    """Docker's ``User``: "uid[:gid]" or "name[:gid]"; empty keeps the image's user."""
    who = username or ("" if uid is None else str(uid))
    if not who:
        return ""
    return who if gid is None else f"{who}:{gid}"
