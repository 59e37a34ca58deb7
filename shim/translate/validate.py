"""Validation of CRI sandbox and container configs: pure, no I/O.

Everything a client can get wrong is checked here, before anything is
resolved or sent to Docker, and reported as InvalidArgument naming the
field, so a bad request changes nothing. The translation into Docker
create bodies (:mod:`shim.translate.createspec`) takes what passed as given.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from criapi.runtime.v1 import api_pb2 as cri
from shim import hostfs, limits
from shim.errors import InvalidArgument
from shim.translate import naming

OOM_SCORE_MIN, OOM_SCORE_MAX = -1000, 1000
# Lower bounds dockerd enforces; checked here so the error names the CRI field.
MIN_MEMORY_BYTES = 6 * 1024 * 1024
CPU_PERIOD_RANGE = (1000, 1_000_000)
MIN_CPU_QUOTA = 1000

# The enum values the translation has a Docker spelling for; anything else is refused.
PROTOCOLS = frozenset({cri.TCP, cri.UDP, cri.SCTP})
PROPAGATIONS = frozenset(
    {cri.PROPAGATION_PRIVATE, cri.PROPAGATION_HOST_TO_CONTAINER, cri.PROPAGATION_BIDIRECTIONAL}
)
# Kubernetes' sysctl name rule (validation.IsValidSysctlName): segments of lowercase
# letters, digits, '-' and '_', separated by '.' or '/'; so never '..' or a leading '/'.
_SYSCTL_NAME = re.compile(r"([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?")


def sandbox_metadata(meta: cri.PodSandboxMetadata, field: str) -> None:
    for part in ("name", "namespace", "uid"):
        _check_name(getattr(meta, part), f"{field}.{part}")


def container_metadata(meta: cri.ContainerMetadata, field: str) -> None:
    _check_name(meta.name, f"{field}.name")


def _check_name(value: str, field: str) -> None:
    limits.text(value, field, limits.NAME_BYTES)
    problem = naming.invalid_component(value)
    if problem:
        raise InvalidArgument(f"{field}: {problem}")


def _check_metadata_maps(
    cri_labels: Mapping[str, str], annotations: Mapping[str, str], field: str
) -> None:
    total = limits.METADATA_TOTAL_BYTES
    limits.mapping(
        cri_labels, f"{field}.labels", limits.LABEL_KEY_BYTES, limits.LABEL_VALUE_BYTES, total
    )
    limits.mapping(annotations, f"{field}.annotations", total, total, total)


def sandbox_config(config: cri.PodSandboxConfig) -> None:
    if not config.HasField("metadata"):
        raise InvalidArgument("config.metadata: required")
    sandbox_metadata(config.metadata, "config.metadata")
    limits.text(config.hostname, "config.hostname", limits.HOSTNAME_BYTES)
    if config.log_directory:
        problem = hostfs.absolute_path_problem(config.log_directory)
        if problem:
            raise InvalidArgument(f"config.log_directory: {problem}")
    _check_metadata_maps(config.labels, config.annotations, "config")
    dns = config.dns_config
    limits.items(dns.servers, "config.dns_config.servers", limits.DNS_SERVERS)
    limits.strings(
        dns.searches,
        "config.dns_config.searches",
        limits.NAME_BYTES,
        limits.DNS_SEARCH_TOTAL_BYTES,
        limits.DNS_SEARCHES,
    )
    limits.strings(dns.options, "config.dns_config.options", limits.SHORT_BYTES, limits.PATH_BYTES)
    limits.items(config.port_mappings, "config.port_mappings")
    for index, port in enumerate(config.port_mappings):
        field = f"config.port_mappings[{index}]"
        if port.protocol not in PROTOCOLS:
            raise InvalidArgument(f"{field}.protocol: unknown value {port.protocol}")
        if not 1 <= port.container_port <= 65535:
            raise InvalidArgument(f"{field}.container_port: must be between 1 and 65535")
        if not 0 <= port.host_port <= 65535:
            raise InvalidArgument(f"{field}.host_port: must be between 0 and 65535")
        if port.host_ip:
            _check_ip(port.host_ip, f"{field}.host_ip")
    for index, server in enumerate(config.dns_config.servers):
        _check_ip(server, f"config.dns_config.servers[{index}]")
    linux = config.linux
    _check_cgroup_parent(linux.cgroup_parent, "config.linux.cgroup_parent")
    limits.items(linux.sysctls, "config.linux.sysctls")
    limits.mapping(
        linux.sysctls,
        "config.linux.sysctls",
        limits.SHORT_BYTES,
        limits.PATH_BYTES,
        limits.METADATA_TOTAL_BYTES,
    )
    for name in linux.sysctls:
        if not _SYSCTL_NAME.fullmatch(name):
            raise InvalidArgument(
                f"config.linux.sysctls[{name!r}]: not a sysctl name "
                "(dot- or slash-separated lowercase words, as Kubernetes validates them)"
            )
    _check_security(linux.security_context, "config.linux.security_context")


def container_config(config: cri.ContainerConfig) -> None:
    if not config.HasField("metadata"):
        raise InvalidArgument("config.metadata: required")
    container_metadata(config.metadata, "config.metadata")
    if not config.image.image:
        raise InvalidArgument("config.image.image: required")
    limits.text(config.image.image, "config.image.image", limits.IMAGE_REF_BYTES)
    limits.text(
        config.image.user_specified_image,
        "config.image.user_specified_image",
        limits.IMAGE_REF_BYTES,
    )
    limits.text(config.image.runtime_handler, "config.image.runtime_handler", limits.SHORT_BYTES)
    limits.mapping(
        config.image.annotations,
        "config.image.annotations",
        limits.METADATA_TOTAL_BYTES,
        limits.METADATA_TOTAL_BYTES,
        limits.METADATA_TOTAL_BYTES,
    )
    _check_metadata_maps(config.labels, config.annotations, "config")
    _check_process(config)
    for index, env in enumerate(config.envs):
        if not env.key or "=" in env.key:
            raise InvalidArgument(f"config.envs[{index}].key: must be non-empty without '='")
        try:
            env.value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"config.envs[{index}].value: not valid UTF-8") from exc
    limits.items(config.mounts, "config.mounts")
    limits.items(config.devices, "config.devices")
    for index, mount in enumerate(config.mounts):
        field = f"config.mounts[{index}]"
        _check_bind_path(mount.host_path, f"{field}.host_path")
        _check_bind_path(mount.container_path, f"{field}.container_path")
        if mount.image.image:
            raise InvalidArgument(f"{field}.image: image volumes are not supported")
        if mount.propagation not in PROPAGATIONS:
            raise InvalidArgument(f"{field}.propagation: unknown value {mount.propagation}")
    for index, device in enumerate(config.devices):
        field = f"config.devices[{index}]"
        _check_bind_path(device.host_path, f"{field}.host_path")
        _check_bind_path(device.container_path, f"{field}.container_path")
        if device.permissions and set(device.permissions) - set("rwm"):
            raise InvalidArgument(f"{field}.permissions: must be a combination of r, w, m")
    if config.log_path:
        problem = hostfs.relative_path_problem(config.log_path)
        if problem:
            raise InvalidArgument(f"config.log_path: {problem}")
    if config.stop_signal not in cri.Signal.values():
        raise InvalidArgument(f"config.stop_signal: unknown value {config.stop_signal}")
    container_resources(config.linux.resources, "config.linux.resources")
    security = config.linux.security_context
    _check_security(security, "config.linux.security_context")
    limits.text(security.run_as_username, f"{_SECURITY}.run_as_username", limits.SHORT_BYTES)
    for kind in ("add_capabilities", "drop_capabilities", "add_ambient_capabilities"):
        limits.strings(
            getattr(security.capabilities, kind),
            f"{_SECURITY}.capabilities.{kind}",
            limits.SHORT_BYTES,
            limits.LIST_ITEMS * limits.SHORT_BYTES,
        )
    for kind in ("masked_paths", "readonly_paths"):
        limits.strings(
            getattr(security, kind),
            f"{_SECURITY}.{kind}",
            limits.PATH_BYTES,
            limits.METADATA_TOTAL_BYTES,
        )
    if security.run_as_username and security.HasField("run_as_user"):
        raise InvalidArgument(
            "config.linux.security_context: run_as_user and run_as_username are exclusive"
        )
    if security.HasField("run_as_group") and not (
        security.HasField("run_as_user") or security.run_as_username
    ):
        raise InvalidArgument(
            "config.linux.security_context.run_as_group: requires run_as_user or run_as_username"
        )


_SECURITY = "config.linux.security_context"


def _check_process(config: cri.ContainerConfig) -> None:
    """Arguments and environment: what execve and runc take, within the kernel's bounds."""
    limits.strings(config.command, "config.command", limits.ARG_BYTES, limits.EXEC_TOTAL_BYTES)
    limits.strings(config.args, "config.args", limits.ARG_BYTES, limits.EXEC_TOTAL_BYTES)
    limits.items(config.envs, "config.envs", limits.EXEC_TOTAL_BYTES)
    total = 0
    for index, env in enumerate(config.envs):
        limits.text(env.key, f"config.envs[{index}].key", limits.ARG_BYTES)
        limits.text(env.value, f"config.envs[{index}].value", limits.ARG_BYTES)
        total += limits.size(env.key) + limits.size(env.value) + 2
    total += sum(limits.size(arg) + 1 for arg in (*config.command, *config.args))
    if total > limits.EXEC_TOTAL_BYTES:
        raise InvalidArgument(
            f"config.command, config.args, config.envs: longer than "
            f"{limits.EXEC_TOTAL_BYTES} bytes together ({total})"
        )
    limits.text(config.working_dir, "config.working_dir", limits.PATH_BYTES)


def _check_security(
    security: cri.LinuxContainerSecurityContext | cri.LinuxSandboxSecurityContext, field: str
) -> None:
    """What sandboxes and containers share: namespaces, seccomp, groups."""
    _check_namespace_options(security.namespace_options, field.removesuffix(".security_context"))
    _check_profile_path(security.seccomp_profile_path, f"{field}.seccomp_profile_path")
    if security.HasField("seccomp"):
        profile = security.seccomp
        if profile.profile_type not in cri.SecurityProfile.ProfileType.values():
            raise InvalidArgument(
                f"{field}.seccomp.profile_type: unknown value {profile.profile_type}"
            )
        limits.text(profile.localhost_ref, f"{field}.seccomp.localhost_ref", limits.PATH_BYTES)
    limits.items(security.supplemental_groups, f"{field}.supplemental_groups")


def _check_cgroup_parent(value: str, field: str) -> None:
    limits.text(value, field, limits.PATH_BYTES)
    if ".." in value.split("/"):
        raise InvalidArgument(f"{field}: must not contain '..'")


def container_resources(resources: cri.LinuxContainerResources, field: str) -> None:
    limits.text(resources.cpuset_cpus, f"{field}.cpuset_cpus", limits.SHORT_BYTES)
    limits.text(resources.cpuset_mems, f"{field}.cpuset_mems", limits.SHORT_BYTES)
    if resources.cpu_shares < 0 or resources.cpu_shares == 1:
        raise InvalidArgument(f"{field}.cpu_shares: must be 0 (unset) or at least 2")
    low, high = CPU_PERIOD_RANGE
    if resources.cpu_period and not low <= resources.cpu_period <= high:
        raise InvalidArgument(f"{field}.cpu_period: must be 0 (unset) or between {low} and {high}")
    if resources.cpu_quota and not (
        resources.cpu_quota == -1 or resources.cpu_quota >= MIN_CPU_QUOTA
    ):
        raise InvalidArgument(
            f"{field}.cpu_quota: must be 0 (unset), -1 or at least {MIN_CPU_QUOTA}"
        )
    if resources.memory_limit_in_bytes and resources.memory_limit_in_bytes < MIN_MEMORY_BYTES:
        raise InvalidArgument(
            f"{field}.memory_limit_in_bytes: must be 0 (unset) or at least {MIN_MEMORY_BYTES}"
        )
    swap = resources.memory_swap_limit_in_bytes
    if swap and swap != -1 and swap < resources.memory_limit_in_bytes:
        raise InvalidArgument(
            f"{field}.memory_swap_limit_in_bytes: must be at least memory_limit_in_bytes"
        )
    if not OOM_SCORE_MIN <= resources.oom_score_adj <= OOM_SCORE_MAX:
        raise InvalidArgument(
            f"{field}.oom_score_adj: must be between {OOM_SCORE_MIN} and {OOM_SCORE_MAX}"
        )


def _check_ip(value: str, field: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise InvalidArgument(f"{field}: {value!r} is not an IP address") from exc


def _check_bind_path(path: str, field: str) -> None:
    limits.text(path, field, limits.PATH_BYTES)
    if not path.startswith("/"):
        raise InvalidArgument(f"{field}: must be an absolute path")
    if ":" in path:
        raise InvalidArgument(f"{field}: must not contain ':'")


def _check_namespace_options(options: cri.NamespaceOption, field: str) -> None:
    field = f"{field}.security_context.namespace_options"
    if options.network not in (cri.POD, cri.NODE):
        raise InvalidArgument(f"{field}.network: only POD and NODE are supported")
    if options.ipc not in (cri.POD, cri.NODE):
        raise InvalidArgument(f"{field}.ipc: only POD and NODE are supported")
    if options.pid not in cri.NamespaceMode.values():
        raise InvalidArgument(f"{field}.pid: unknown value {options.pid}")
    limits.text(options.target_id, f"{field}.target_id", limits.ID_BYTES)
    if options.pid == cri.TARGET and not options.target_id:
        raise InvalidArgument(f"{field}.target_id: required when pid is TARGET")


def _check_profile_path(path: str, field: str) -> None:
    limits.text(path, field, limits.PATH_BYTES)
    if path and not (
        path in ("runtime/default", "docker/default", "unconfined")
        or (path.startswith("localhost/") and len(path) > len("localhost/"))
    ):
        raise InvalidArgument(
            f"{field}: must be runtime/default, unconfined or localhost/<path>, got {path!r}"
        )
