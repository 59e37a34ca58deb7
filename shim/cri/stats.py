"""Stats: ContainerStats, PodSandboxStats, their List forms, and the metrics RPCs.

Figures come from :class:`shim.monitor.statscollector.StatsCollector` (cgroup files,
not Docker's stats API); this module picks the containers a request is
about and shapes the CRI messages. Only running containers have figures;
a stopped one is reported with its attributes alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri.backend import JSON, Backend
from shim.monitor.statscollector import Reading
from shim.translate import dockerfilters, labelrecord, labels

_RUNNING_CONTAINER = cri.ContainerStateValue(state=cri.CONTAINER_RUNNING)
_READY_SANDBOX = cri.PodSandboxStateValue(state=cri.SANDBOX_READY)


# -- containers -------------------------------------------------------------------


async def container_stats(
    backend: Backend, request: cri.ContainerStatsRequest
) -> cri.ContainerStatsResponse:
    inspect = await backend.container(request.container_id)
    readings = await backend.stats.collect([inspect], layers=True, network=False)
    if readings:
        return cri.ContainerStatsResponse(stats=_container_stats(readings[0]))
    return cri.ContainerStatsResponse(
        stats=cri.ContainerStats(attributes=_container_attributes(inspect["Id"], _labels(inspect)))
    )


async def list_container_stats(
    backend: Backend, request: cri.ListContainerStatsRequest
) -> cri.ListContainerStatsResponse:
    wanted = request.filter
    query = dockerfilters.containers(
        cri.ContainerFilter(
            id=wanted.id,
            pod_sandbox_id=wanted.pod_sandbox_id,
            label_selector=wanted.label_selector,
            state=_RUNNING_CONTAINER,
        )
    )
    if query is None:
        return cri.ListContainerStatsResponse()
    entries = await backend.matching(query)
    readings = await backend.stats.collect(entries, layers=True, network=False)
    if not (wanted.id or wanted.pod_sandbox_id or wanted.label_selector):
        backend.stats.prune(labels.TYPE_CONTAINER, (e["Id"] for e in entries))
    return cri.ListContainerStatsResponse(stats=[_container_stats(r) for r in readings])


# -- pods -------------------------------------------------------------------------


async def pod_sandbox_stats(
    backend: Backend, request: cri.PodSandboxStatsRequest
) -> cri.PodSandboxStatsResponse:
    inspect = await backend.sandbox(request.pod_sandbox_id)
    members = await backend.sandbox_containers(inspect["Id"], running_only=True)
    pods = await _pod_stats(backend, [inspect], members)
    if pods:
        return cri.PodSandboxStatsResponse(stats=pods[0])
    return cri.PodSandboxStatsResponse(
        stats=cri.PodSandboxStats(attributes=_sandbox_attributes(inspect["Id"], _labels(inspect)))
    )


async def list_pod_sandbox_stats(
    backend: Backend, request: cri.ListPodSandboxStatsRequest
) -> cri.ListPodSandboxStatsResponse:
    wanted = request.filter
    query = dockerfilters.sandboxes(
        cri.PodSandboxFilter(
            id=wanted.id, label_selector=wanted.label_selector, state=_READY_SANDBOX
        )
    )
    if query is None:
        return cri.ListPodSandboxStatsResponse()
    sandboxes = await backend.matching(query)
    if not sandboxes:
        return cri.ListPodSandboxStatsResponse()
    members = await backend.list_owned(
        {"label": [f"{labels.TYPE_KEY}={labels.TYPE_CONTAINER}"], "status": ["running"]}
    )
    if not (wanted.id or wanted.label_selector):
        backend.stats.prune(labels.TYPE_SANDBOX, (e["Id"] for e in sandboxes))
        backend.stats.prune(labels.TYPE_CONTAINER, (e["Id"] for e in members))
    return cri.ListPodSandboxStatsResponse(stats=await _pod_stats(backend, sandboxes, members))


async def _pod_stats(
    backend: Backend, sandboxes: Sequence[JSON], members: Sequence[JSON]
) -> list[cri.PodSandboxStats]:
    wanted = {s["Id"] for s in sandboxes}
    members = [m for m in members if _labels(m).get(labels.SANDBOX_ID_KEY) in wanted]
    infra = await backend.stats.collect(sandboxes, layers=False, network=True)
    apps = await backend.stats.collect(members, layers=True, network=False)
    by_pod: dict[str, list[Reading]] = defaultdict(list)
    for reading in apps:
        by_pod[reading.target.docker_labels.get(labels.SANDBOX_ID_KEY, "")].append(reading)
    return [_pod(sandbox, by_pod[sandbox.target.id]) for sandbox in infra]


def _pod(sandbox: Reading, containers: list[Reading]) -> cri.PodSandboxStats:
    """Pod figures: the sums over its infra and application containers."""
    everyone = [sandbox, *containers]
    ts = sandbox.timestamp
    return cri.PodSandboxStats(
        attributes=_sandbox_attributes(sandbox.target.id, sandbox.target.docker_labels),
        linux=cri.LinuxPodSandboxStats(
            cpu=cri.CpuUsage(
                timestamp=ts,
                usage_core_nano_seconds=_sum(r.cgroup.cpu_ns for r in everyone),
                usage_nano_cores=_sum(r.nano_cores for r in everyone),
            ),
            memory=cri.MemoryUsage(
                timestamp=ts,
                working_set_bytes=_sum(r.cgroup.working_set for r in everyone),
                usage_bytes=_sum(r.cgroup.memory_usage for r in everyone),
                rss_bytes=_sum(r.cgroup.rss for r in everyone),
                page_faults=_sum(r.cgroup.page_faults for r in everyone),
                major_page_faults=_sum(r.cgroup.major_page_faults for r in everyone),
            ),
            network=_network(sandbox),
            process=cri.ProcessUsage(
                timestamp=ts, process_count=_sum(r.cgroup.processes for r in everyone)
            ),
            containers=[_container_stats(r) for r in containers],
        ),
    )


def _network(sandbox: Reading) -> cri.NetworkUsage:
    interfaces = [
        cri.NetworkInterfaceUsage(
            name=i.name,
            rx_bytes=cri.UInt64Value(value=i.rx_bytes),
            rx_errors=cri.UInt64Value(value=i.rx_errors),
            tx_bytes=cri.UInt64Value(value=i.tx_bytes),
            tx_errors=cri.UInt64Value(value=i.tx_errors),
        )
        for i in sandbox.interfaces
    ]
    usage = cri.NetworkUsage(timestamp=sandbox.timestamp)
    default = next(
        (i for i in interfaces if i.name == "eth0"), interfaces[0] if interfaces else None
    )
    if default is not None:
        usage.default_interface.CopyFrom(default)
        usage.interfaces.extend(i for i in interfaces if i is not default)
    return usage


# -- metrics ----------------------------------------------------------------------

# (name, help, type, label keys); values are what a pod's figures already hold.
_METRICS = (
    ("container_memory_working_set_bytes", "Current working set in bytes.", cri.GAUGE, ()),
    ("container_memory_usage_bytes", "Current memory usage in bytes.", cri.GAUGE, ()),
    ("container_memory_rss", "Size of RSS in bytes.", cri.GAUGE, ()),
    ("container_processes", "Number of processes running inside the container.", cri.GAUGE, ()),
    (
        "container_network_receive_bytes_total",
        "Cumulative bytes received.",
        cri.COUNTER,
        ("interface",),
    ),
    (
        "container_network_transmit_bytes_total",
        "Cumulative bytes transmitted.",
        cri.COUNTER,
        ("interface",),
    ),
    (
        "container_network_receive_errors_total",
        "Cumulative receive errors.",
        cri.COUNTER,
        ("interface",),
    ),
    (
        "container_network_transmit_errors_total",
        "Cumulative transmit errors.",
        cri.COUNTER,
        ("interface",),
    ),
)


async def list_metric_descriptors(
    backend: Backend, request: cri.ListMetricDescriptorsRequest
) -> cri.ListMetricDescriptorsResponse:
    return cri.ListMetricDescriptorsResponse(
        descriptors=[
            cri.MetricDescriptor(name=name, help=text, label_keys=list(keys))
            for name, text, _, keys in _METRICS
        ]
    )


async def list_pod_sandbox_metrics(
    backend: Backend, request: cri.ListPodSandboxMetricsRequest
) -> cri.ListPodSandboxMetricsResponse:
    pods = (await list_pod_sandbox_stats(backend, cri.ListPodSandboxStatsRequest())).stats
    return cri.ListPodSandboxMetricsResponse(pod_metrics=[_pod_metrics(pod) for pod in pods])


def _pod_metrics(pod: cri.PodSandboxStats) -> cri.PodSandboxMetrics:
    linux = pod.linux
    ts = linux.cpu.timestamp
    metrics = [_gauge(name, ts, value) for name, value in _memory_values(linux.memory)]
    metrics.append(_gauge("container_processes", ts, linux.process.process_count.value))
    net = [linux.network.default_interface, *linux.network.interfaces]
    for iface in (i for i in net if i.name):
        for name, value in (
            ("container_network_receive_bytes_total", iface.rx_bytes.value),
            ("container_network_transmit_bytes_total", iface.tx_bytes.value),
            ("container_network_receive_errors_total", iface.rx_errors.value),
            ("container_network_transmit_errors_total", iface.tx_errors.value),
        ):
            metrics.append(
                cri.Metric(
                    name=name,
                    timestamp=ts,
                    metric_type=cri.COUNTER,
                    label_values=[iface.name],
                    value=cri.UInt64Value(value=value),
                )
            )
    return cri.PodSandboxMetrics(
        pod_sandbox_id=pod.attributes.id,
        metrics=metrics,
        container_metrics=[
            cri.ContainerMetrics(
                container_id=c.attributes.id,
                metrics=[
                    _gauge(name, c.memory.timestamp, value)
                    for name, value in _memory_values(c.memory)
                ],
            )
            for c in linux.containers
        ],
    )


def _memory_values(memory: cri.MemoryUsage) -> list[tuple[str, int]]:
    return [
        ("container_memory_working_set_bytes", memory.working_set_bytes.value),
        ("container_memory_usage_bytes", memory.usage_bytes.value),
        ("container_memory_rss", memory.rss_bytes.value),
    ]


def _gauge(name: str, timestamp: int, value: int) -> cri.Metric:
    return cri.Metric(
        name=name, timestamp=timestamp, metric_type=cri.GAUGE, value=cri.UInt64Value(value=value)
    )


# -- shaping ----------------------------------------------------------------------


def _container_stats(reading: Reading) -> cri.ContainerStats:
    target, sample, ts = reading.target, reading.cgroup, reading.timestamp
    stats = cri.ContainerStats(
        attributes=_container_attributes(target.id, target.docker_labels),
        cpu=cri.CpuUsage(
            timestamp=ts,
            usage_core_nano_seconds=_value(sample.cpu_ns),
            usage_nano_cores=_value(reading.nano_cores),
        ),
        memory=cri.MemoryUsage(
            timestamp=ts,
            working_set_bytes=_value(sample.working_set),
            available_bytes=_value(sample.available),
            usage_bytes=_value(sample.memory_usage),
            rss_bytes=_value(sample.rss),
            page_faults=_value(sample.page_faults),
            major_page_faults=_value(sample.major_page_faults),
        ),
    )
    if reading.layer is not None:
        stats.writable_layer.CopyFrom(
            cri.FilesystemUsage(
                timestamp=ts,
                fs_id=cri.FilesystemIdentifier(mountpoint=reading.layer.mountpoint),
                used_bytes=cri.UInt64Value(value=reading.layer.used_bytes),
                inodes_used=cri.UInt64Value(value=reading.layer.inodes_used),
            )
        )
    return stats


def _container_attributes(
    container_id: str, docker_labels: dict[str, str]
) -> cri.ContainerAttributes:
    cri_labels, annotations = labels.decode(docker_labels)
    return cri.ContainerAttributes(
        id=container_id,
        metadata=labelrecord.container(docker_labels).metadata,
        labels=cri_labels,
        annotations=annotations,
    )


def _sandbox_attributes(sandbox_id: str, docker_labels: dict[str, str]) -> cri.PodSandboxAttributes:
    cri_labels, annotations = labels.decode(docker_labels)
    return cri.PodSandboxAttributes(
        id=sandbox_id,
        metadata=labelrecord.sandbox(docker_labels).metadata,
        labels=cri_labels,
        annotations=annotations,
    )


def _labels(doc: JSON) -> dict[str, str]:
    """Docker labels of an inspect document or a list entry."""
    found = doc.get("Labels")
    if found is None:
        found = (doc.get("Config") or {}).get("Labels")
    return dict(found or {})


def _value(value: int | None) -> cri.UInt64Value | None:
    return None if value is None else cri.UInt64Value(value=value)


def _sum(values: Iterable[int | None]) -> cri.UInt64Value | None:
    present = [v for v in values if v is not None]
    return cri.UInt64Value(value=sum(present)) if present else None
