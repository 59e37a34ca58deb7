"""Stats read from the cgroup files of real containers (and the sandbox's network namespace)."""

from __future__ import annotations

import asyncio

import grpc

from criapi.runtime.v1 import api_pb2 as pb
from tests.support.cri import Workspace, eventually, rpc_error

BUSY = (
    "sh",
    "-c",
    "dd if=/dev/zero of=/tmp/blob bs=1k count=512; touch /tmp/written; while :; do :; done",
)


async def busy_pod(workspace: Workspace, name: str = "stats") -> tuple[str, str]:
    pod_id, pod = await workspace.run_pod(name=name)
    config = workspace.container_config("busy", BUSY, labels={"role": name})
    return pod_id, await workspace.run_container(pod_id, pod, config)


async def container_stats(workspace: Workspace, container_id: str) -> pb.ContainerStats:
    response = await workspace.cri.runtime.ContainerStats(
        pb.ContainerStatsRequest(container_id=container_id)
    )
    return response.stats


async def test_container_figures_are_real_and_change(workspace: Workspace) -> None:
    _, container_id = await busy_pod(workspace)

    async def written() -> bool:
        return (await workspace.exec(container_id, "test", "-e", "/tmp/written")).exit_code == 0

    # Before the first stats call: the layer's size is then cached for a while.
    await eventually(written, timeout=30)
    first = await container_stats(workspace, container_id)
    await asyncio.sleep(0.5)
    second = await container_stats(workspace, container_id)
    assert first.attributes.id == container_id
    assert first.attributes.metadata.name == "busy"
    assert first.attributes.labels["role"] == "stats"
    assert second.cpu.timestamp > first.cpu.timestamp
    assert second.cpu.usage_core_nano_seconds.value > first.cpu.usage_core_nano_seconds.value
    # A spinning shell uses a good part of a core between the two samples.
    assert second.cpu.usage_nano_cores.value > 10_000_000
    assert second.memory.working_set_bytes.value > 0
    assert second.memory.usage_bytes.value >= second.memory.working_set_bytes.value
    assert second.memory.page_faults.value > 0
    assert second.writable_layer.used_bytes.value >= 512 * 1024
    assert second.writable_layer.inodes_used.value >= 3  # /tmp, /tmp/blob, /tmp/written


async def test_list_container_stats_filters(workspace: Workspace) -> None:
    _, container_a = await busy_pod(workspace, "stats-a")
    pod_b, container_b = await busy_pod(workspace, "stats-b")

    async def listed(**fields: object) -> set[str]:
        request = pb.ListContainerStatsRequest(filter=pb.ContainerStatsFilter(**fields))  # type: ignore[arg-type]
        response = await workspace.cri.runtime.ListContainerStats(request)
        return {s.attributes.id for s in response.stats}

    everything = await listed()
    assert {container_a, container_b} <= everything
    assert await listed(id=container_a[:12]) == {container_a}
    assert await listed(pod_sandbox_id=pod_b) == {container_b}
    assert await listed(label_selector={"role": "stats-a"}) == {container_a}
    assert await listed(id="not-hex") == set()


async def test_pod_stats_sum_containers_and_read_the_pod_network(workspace: Workspace) -> None:
    pod_id, container_id = await busy_pod(workspace)
    response = await workspace.cri.runtime.PodSandboxStats(
        pb.PodSandboxStatsRequest(pod_sandbox_id=pod_id)
    )
    linux = response.stats.linux
    assert response.stats.attributes.id == pod_id
    assert response.stats.attributes.metadata.name == "stats"
    assert [c.attributes.id for c in linux.containers] == [container_id]
    assert linux.cpu.usage_core_nano_seconds.value >= (
        linux.containers[0].cpu.usage_core_nano_seconds.value
    )
    assert linux.network.default_interface.name == "eth0"
    assert linux.process.process_count.value >= 2  # the infra process and the shell
    listed = await workspace.cri.runtime.ListPodSandboxStats(
        pb.ListPodSandboxStatsRequest(filter=pb.PodSandboxStatsFilter(id=pod_id))
    )
    assert [s.attributes.id for s in listed.stats] == [pod_id]
    metrics = await workspace.cri.runtime.ListPodSandboxMetrics(pb.ListPodSandboxMetricsRequest())
    mine = [m for m in metrics.pod_metrics if m.pod_sandbox_id == pod_id]
    assert len(mine) == 1
    names = {m.name for m in mine[0].metrics}
    descriptors = await workspace.cri.runtime.ListMetricDescriptors(
        pb.ListMetricDescriptorsRequest()
    )
    assert names <= {d.name for d in descriptors.descriptors}
    assert "container_network_receive_bytes_total" in names


async def test_stats_of_unknown_objects_are_not_found(workspace: Workspace) -> None:
    error = await rpc_error(
        workspace.cri.runtime.ContainerStats(pb.ContainerStatsRequest(container_id="0" * 64))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await rpc_error(
        workspace.cri.runtime.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id="0" * 64))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
