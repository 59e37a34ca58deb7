"""Pod model → CRI sandbox and container configs, as the kubelet builds them. Pure.

The labels and annotations follow the kubelet's (``kuberuntime/labels.go``),
so tools that know Kubernetes read them, and so that everything needed to
adopt a running pod after a restart lives with its containers: the spec
hash, restart count, grace period and preStop handler. kubelet-lite adds
its own keys under ``kubelet-lite.io/`` for what the kubelet keeps in the
API server (the manifest, the postStart handler).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import manifest as m
from kubeletlite.settings import NodeFacts

# Labels (selectable).
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"
MANAGED = "kubelet-lite.io/managed"

# Annotations (opaque to the runtime).
CONTAINER_HASH = "io.kubernetes.container.hash"
RESTART_COUNT = "io.kubernetes.container.restartCount"
TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
TERMINATION_MESSAGE_POLICY = "io.kubernetes.container.terminationMessagePolicy"
PRE_STOP_HANDLER = "io.kubernetes.container.preStopHandler"
CONTAINER_PORTS = "io.kubernetes.container.ports"
GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"
POST_START_HANDLER = "kubelet-lite.io/postStartHandler"
MANIFEST = "kubelet-lite.io/manifest"
SOURCE = "kubelet-lite.io/source"
SPEC_HASH = "kubernetes.io/config.hash"
CONFIG_SOURCE = "kubernetes.io/config.source"

# CPU and OOM arithmetic of the kubelet (pkg/kubelet/cm, pkg/kubelet/qos).
MIN_SHARES = 2
SHARES_PER_CPU = 1024
CFS_PERIOD_US = 100_000
MIN_QUOTA_US = 1000
GUARANTEED_OOM_SCORE = -997
BEST_EFFORT_OOM_SCORE = 1000

_PROTOCOLS = {"TCP": cri.TCP, "UDP": cri.UDP, "SCTP": cri.SCTP}
_PROPAGATION = {
    None: cri.PROPAGATION_PRIVATE,
    "None": cri.PROPAGATION_PRIVATE,
    "HostToContainer": cri.PROPAGATION_HOST_TO_CONTAINER,
    "Bidirectional": cri.PROPAGATION_BIDIRECTIONAL,
}


def pod_log_directory(pod: m.Pod, facts: NodeFacts) -> str:
    return os.path.join(facts.pod_logs_root, f"{pod.namespace}_{pod.name}_{pod.uid}")


# -- sandbox ----------------------------------------------------------------------


def sandbox_config(
    pod: m.Pod, attempt: int, facts: NodeFacts, manifest_json: str
) -> cri.PodSandboxConfig:
    spec = pod.spec
    config = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(
            name=pod.name, namespace=pod.namespace, uid=pod.uid, attempt=attempt
        ),
        hostname="" if spec.host_network else pod_hostname(pod),
        log_directory=pod_log_directory(pod, facts),
        dns_config=dns_config(spec, facts.host_resolv_conf),
        port_mappings=port_mappings(spec),
        labels={**pod.labels, **pod_labels(pod)},
        annotations={
            **pod.annotations,
            MANIFEST: manifest_json,
            SOURCE: pod.source,
            SPEC_HASH: pod.spec_hash,
            CONFIG_SOURCE: "file",
        },
    )
    linux = config.linux
    linux.security_context.namespace_options.CopyFrom(namespace_options(spec))
    pod_security = spec.security_context
    if pod_security.run_as_user is not None:
        linux.security_context.run_as_user.value = pod_security.run_as_user
    if pod_security.run_as_group is not None:
        linux.security_context.run_as_group.value = pod_security.run_as_group
    linux.security_context.supplemental_groups.extend(supplemental_groups(pod_security))
    return config


def pod_hostname(pod: m.Pod) -> str:
    """spec.hostname, else the pod's name cut to 63 characters, never ending in '-' or '.'
    (the kubelet's truncatePodHostnameIfNeeded)."""
    hostname = pod.spec.hostname or pod.name
    return hostname if len(hostname) <= 63 else hostname[:63].rstrip("-.")


def pod_labels(pod: m.Pod) -> dict[str, str]:
    return {POD_NAME: pod.name, POD_NAMESPACE: pod.namespace, POD_UID: pod.uid, MANAGED: "true"}


def namespace_options(spec: m.PodSpec) -> cri.NamespaceOption:
    """Network and IPC are shared by the pod; each container has its own PID namespace."""
    network = cri.NODE if spec.host_network else cri.POD
    return cri.NamespaceOption(network=network, pid=cri.CONTAINER, ipc=cri.POD)


def port_mappings(spec: m.PodSpec) -> list[cri.PortMapping]:
    return [
        cri.PortMapping(
            protocol=_PROTOCOLS[port.protocol],
            container_port=port.container_port,
            host_port=port.host_port,
            host_ip=port.host_ip or "",
        )
        for container in spec.containers
        for port in container.ports
        if port.host_port
    ]


def dns_config(spec: m.PodSpec, host_resolv_conf: str) -> cri.DNSConfig:
    """The pod's resolv.conf, from its dnsPolicy.

    There is no cluster DNS on a kubelet-lite node, so ClusterFirst (and
    ClusterFirstWithHostNet) fall back to the node's resolver configuration,
    as the kubelet does when it has no cluster DNS configured.
    """
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if spec.dns_policy != "None":
        servers, searches, options = parse_resolv_conf(host_resolv_conf)
    if spec.dns_config is not None:
        servers += [s for s in spec.dns_config.nameservers if s not in servers]
        searches += [s for s in spec.dns_config.searches if s not in searches]
        options = merge_dns_options(options, spec.dns_config.options)
    return cri.DNSConfig(servers=servers, searches=searches, options=options)


def merge_dns_options(
    existing: list[str], overrides: tuple[tuple[str, str | None], ...]
) -> list[str]:
    """The kubelet's mergeDNSOptions: one option per name, dnsConfig's value winning."""
    merged: dict[str, str] = {}
    for option in existing:
        name, _, value = option.partition(":")
        merged[name] = value
    for name, override in overrides:
        merged[name] = override or ""
    return [f"{name}:{value}" if value else name for name, value in merged.items()]


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        match words[0]:
            case "nameserver" if len(words) > 1:
                servers.append(words[1])
            case "search" | "domain":
                searches = words[1:]
            case "options":
                options.extend(words[1:])
    return servers, searches, options


def supplemental_groups(pod_security: m.PodSecurityContext) -> list[int]:
    groups = list(pod_security.supplemental_groups)
    if pod_security.fs_group is not None and pod_security.fs_group not in groups:
        groups.append(pod_security.fs_group)
    return groups


# -- containers ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainerInputs:
    """Per-start facts the caller resolved (image, restart count, prepared host paths)."""

    image_ref: str
    restart_count: int
    volume_paths: Mapping[str, str]  # volume name -> host path
    termination_log: str | None  # host file mounted at terminationMessagePath


def container_config(
    pod: m.Pod, container: m.Container, inputs: ContainerInputs, facts: NodeFacts
) -> cri.ContainerConfig:
    config = cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=container.name, attempt=inputs.restart_count),
        image=cri.ImageSpec(image=inputs.image_ref, user_specified_image=container.image),
        command=list(container.command),
        args=list(container.args),
        working_dir=container.working_dir,
        envs=[cri.KeyValue(key=e.name, value=e.value.encode()) for e in container.env],
        mounts=mounts(container, inputs),
        labels={**pod_labels(pod), CONTAINER_NAME: container.name},
        annotations=container_annotations(pod, container, inputs.restart_count),
        log_path=f"{container.name}/{inputs.restart_count}.log",
        stdin=container.stdin,
        stdin_once=container.stdin_once,
        tty=container.tty,
    )
    config.linux.resources.CopyFrom(linux_resources(pod, container, facts))
    config.linux.security_context.CopyFrom(security_context(pod, container))
    return config


def container_annotations(pod: m.Pod, container: m.Container, restart_count: int) -> dict[str, str]:
    annotations = {
        CONTAINER_HASH: m.container_hash(pod, container.name),
        RESTART_COUNT: str(restart_count),
        TERMINATION_MESSAGE_PATH: container.termination_message_path,
        TERMINATION_MESSAGE_POLICY: container.termination_message_policy,
        GRACE_PERIOD: str(pod.spec.termination_grace_period_seconds),
    }
    if container.ports:
        annotations[CONTAINER_PORTS] = json.dumps([_port_json(p) for p in container.ports])
    if container.lifecycle.pre_stop is not None:
        annotations[PRE_STOP_HANDLER] = json.dumps(handler_to_json(container.lifecycle.pre_stop))
    if container.lifecycle.post_start is not None:
        annotations[POST_START_HANDLER] = json.dumps(
            handler_to_json(container.lifecycle.post_start)
        )
    return annotations


def mounts(container: m.Container, inputs: ContainerInputs) -> list[cri.Mount]:
    result = [
        cri.Mount(
            container_path=mount.mount_path,
            host_path=os.path.join(inputs.volume_paths[mount.name], mount.sub_path)
            if mount.sub_path
            else inputs.volume_paths[mount.name],
            readonly=mount.read_only,
            propagation=_PROPAGATION[mount.mount_propagation],
        )
        for mount in container.volume_mounts
    ]
    if inputs.termination_log is not None:
        result.append(
            cri.Mount(
                container_path=container.termination_message_path,
                host_path=inputs.termination_log,
            )
        )
    return result


def linux_resources(
    pod: m.Pod, container: m.Container, facts: NodeFacts
) -> cri.LinuxContainerResources:
    res = container.resources
    cpu_request = res.cpu_request_millis or 0
    resources = cri.LinuxContainerResources(
        cpu_shares=max(cpu_request * SHARES_PER_CPU // 1000, MIN_SHARES),
        memory_limit_in_bytes=res.memory_limit_bytes or 0,
        oom_score_adj=oom_score_adj(pod, container, facts.memory_capacity_bytes),
    )
    if res.cpu_limit_millis:
        resources.cpu_period = CFS_PERIOD_US
        resources.cpu_quota = max(res.cpu_limit_millis * CFS_PERIOD_US // 1000, MIN_QUOTA_US)
    return resources


def qos_class(pod: m.Pod) -> str:
    """Guaranteed, Burstable or BestEffort, by the kubelet's rules for cpu and memory."""
    containers = [c.resources for c in pod.spec.containers]
    if all(
        r.cpu_request_millis is None
        and r.cpu_limit_millis is None
        and r.memory_request_bytes is None
        and r.memory_limit_bytes is None
        for r in containers
    ):
        return "BestEffort"
    guaranteed = all(
        r.cpu_limit_millis is not None
        and r.memory_limit_bytes is not None
        and r.cpu_request_millis in (None, r.cpu_limit_millis)
        and r.memory_request_bytes in (None, r.memory_limit_bytes)
        for r in containers
    )
    return "Guaranteed" if guaranteed else "Burstable"


def oom_score_adj(pod: m.Pod, container: m.Container, memory_capacity: int) -> int:
    match qos_class(pod):
        case "Guaranteed":
            return GUARANTEED_OOM_SCORE
        case "BestEffort":
            return BEST_EFFORT_OOM_SCORE
    request = container.resources.memory_request_bytes or 0
    score = 1000 - (1000 * request) // max(memory_capacity, 1)
    # As pkg/kubelet/qos: a burstable container always scores above a guaranteed
    # one (1000 + -997) and below a best-effort one.
    return min(max(score, 1000 + GUARANTEED_OOM_SCORE), BEST_EFFORT_OOM_SCORE - 1)


def security_context(pod: m.Pod, container: m.Container) -> cri.LinuxContainerSecurityContext:
    sc = container.security_context
    pod_sc = pod.spec.security_context
    context = cri.LinuxContainerSecurityContext(
        privileged=sc.privileged,
        readonly_rootfs=sc.read_only_root_filesystem,
        no_new_privs=sc.allow_privilege_escalation is False,
        supplemental_groups=supplemental_groups(pod_sc),
        namespace_options=namespace_options(pod.spec),
        capabilities=cri.Capability(
            add_capabilities=list(sc.capabilities.add), drop_capabilities=list(sc.capabilities.drop)
        ),
    )
    user = sc.run_as_user if sc.run_as_user is not None else pod_sc.run_as_user
    group = sc.run_as_group if sc.run_as_group is not None else pod_sc.run_as_group
    if user is not None:
        context.run_as_user.value = user
    if group is not None and user is not None:
        context.run_as_group.value = group
    return context


def run_as_non_root(pod: m.Pod, container: m.Container) -> bool:
    flag = container.security_context.run_as_non_root
    return bool(pod.spec.security_context.run_as_non_root if flag is None else flag)


def effective_user(pod: m.Pod, container: m.Container) -> int | None:
    sc = container.security_context
    return sc.run_as_user if sc.run_as_user is not None else pod.spec.security_context.run_as_user


# -- handlers as JSON (the kubelet's preStopHandler annotation format) ---------------


def handler_to_json(handler: m.Handler) -> dict[str, Any]:
    match handler:
        case m.ExecAction(command=command):
            return {"exec": {"command": list(command)}}
        case m.SleepAction(seconds=seconds):
            return {"sleep": {"seconds": seconds}}
        case m.HTTPGetAction():
            http: dict[str, Any] = {
                "path": handler.path,
                "port": handler.port,
                "scheme": handler.scheme,
            }
            if handler.host:
                http["host"] = handler.host
            if handler.headers:
                http["httpHeaders"] = [{"name": h.name, "value": h.value} for h in handler.headers]
            return {"httpGet": http}
    raise TypeError(f"not a lifecycle handler: {handler!r}")


def _port_json(port: m.ContainerPort) -> dict[str, Any]:
    data: dict[str, Any] = {"containerPort": port.container_port, "protocol": port.protocol}
    if port.name:
        data["name"] = port.name
    if port.host_port:
        data["hostPort"] = port.host_port
    return data
