"""Pod sandboxes against the real dockerd: what RunPodSandbox builds, and its life cycle."""

from __future__ import annotations

import json
import os
import socket
import time

import aiodocker
import aiohttp
import grpc

from criapi.runtime.v1 import api_pb2 as pb
from tests.support.cri import TEST_LABEL, CriClient, Workspace, eventually, rpc_error
from tests.support.net import free_port

SLEEPER = ("sleep", "3600")
MISSING_ID = "0123456789abcdef" * 4


async def sandbox_status(
    cri: CriClient, pod_id: str, verbose: bool = False
) -> pb.PodSandboxStatusResponse:
    return await cri.runtime.PodSandboxStatus(
        pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose)
    )


async def list_sandboxes(cri: CriClient, **fields: object) -> list[pb.PodSandbox]:
    response = await cri.runtime.ListPodSandbox(
        pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(**fields))  # type: ignore[arg-type]
    )
    return list(response.items)


async def stop_pod(cri: CriClient, pod_id: str) -> None:
    await cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))


async def remove_pod(cri: CriClient, pod_id: str) -> None:
    await cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))


async def output(workspace: Workspace, container_id: str, *cmd: str) -> str:
    """stdout of a command that must succeed in the container."""
    response = await workspace.exec(container_id, *cmd)
    assert response.exit_code == 0, response.stderr.decode()
    return response.stdout.decode()


async def host_namespace(docker: aiodocker.Docker, container_id: str, kind: str) -> str:
    """The namespace of a container's init process, read on the host."""
    inspect = await docker.containers.container(container_id).show()
    return os.readlink(f"/proc/{inspect['State']['Pid']}/ns/{kind}")


async def test_status_reports_metadata_ready_state_and_creation_time(
    cri: CriClient, workspace: Workspace
) -> None:
    before = time.time_ns()
    pod_id, config = await workspace.run_pod(name="status-pod", host_network=True)
    after = time.time_ns()

    response = await sandbox_status(cri, pod_id)
    status = response.status
    assert status.id == pod_id
    assert len(pod_id) == 64
    assert status.metadata == config.metadata
    assert status.state == pb.SANDBOX_READY
    assert before - 1_000_000 <= status.created_at <= after
    assert status.runtime_handler == ""
    assert status.linux.namespaces.options.network == pb.NODE
    assert status.linux.namespaces.options.pid == pb.POD
    assert response.timestamp >= status.created_at


async def test_labels_and_annotations_round_trip_exactly(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    labels = {
        TEST_LABEL: workspace.tag,
        "app": "web",
        "example.com/tier": "front end",
        "annotation.x": "a label that looks like an annotation",
        "label.y": "a label that looks escaped",
        "io.kubernetes.docker.type": "not-the-shims",
        "io.kubernetes.sandbox.id": "also-not-the-shims",
    }
    annotations = {
        "annotation.x": "nested",
        "label.y": "annotation that looks like a label",
        "kubernetes.io/config.source": "api",
        "empty": "",
        "io.kubernetes.docker.type": "annotation-value",
    }
    config = workspace.pod_config("labelled", host_network=True, annotations=annotations)
    config.labels.update(labels)
    pod_id, _ = await workspace.run_pod(config)

    status = (await sandbox_status(cri, pod_id)).status
    assert dict(status.labels) == labels
    assert dict(status.annotations) == annotations

    [listed] = await list_sandboxes(cri, id=pod_id)
    assert dict(listed.labels) == labels
    assert dict(listed.annotations) == annotations
    assert listed.metadata == config.metadata
    assert listed.created_at == status.created_at
    assert listed.runtime_handler == ""

    # The shim's own type label is untouched: `docker ps` users still find the sandbox.
    inspect = await docker.containers.container(pod_id).show()
    assert inspect["Config"]["Labels"]["io.kubernetes.docker.type"] == "podsandbox"


async def test_pod_network_sandbox_has_an_ip(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, _ = await workspace.run_pod(name="pod-net")
    status = (await sandbox_status(cri, pod_id)).status
    assert status.linux.namespaces.options.network == pb.POD
    inspect = await docker.containers.container(pod_id).show()
    docker_ips = [n["IPAddress"] for n in inspect["NetworkSettings"]["Networks"].values()]
    assert status.network.ip
    assert status.network.ip in docker_ips
    assert socket.inet_aton(status.network.ip)


async def test_host_network_sandbox_has_no_ip(cri: CriClient, workspace: Workspace) -> None:
    pod_id, _ = await workspace.run_pod(name="host-net", host_network=True)
    status = (await sandbox_status(cri, pod_id)).status
    assert status.network.ip == ""
    assert list(status.network.additional_ips) == []


async def test_containers_see_the_pod_hostname(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(workspace.pod_config("named", hostname="web-0"))
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("app", SLEEPER)
    )
    assert (await output(workspace, container_id, "hostname")).strip() == "web-0"


async def test_dns_config_is_written_to_resolv_conf(workspace: Workspace) -> None:
    dns = pb.DNSConfig(
        servers=["127.0.0.53", "127.0.0.54"],
        searches=["test.svc.cluster.local", "svc.cluster.local"],
        options=["ndots:5", "timeout:2"],
    )
    pod_id, pod = await workspace.run_pod(workspace.pod_config("dns", dns_config=dns))
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("app", SLEEPER)
    )
    resolv = await output(workspace, container_id, "cat", "/etc/resolv.conf")
    lines = [line.split() for line in resolv.splitlines() if line.strip()]
    assert [words[1] for words in lines if words[0] == "nameserver"] == list(dns.servers)
    assert [words[1:] for words in lines if words[0] == "search"] == [list(dns.searches)]
    assert [words[1:] for words in lines if words[0] == "options"] == [list(dns.options)]


async def docker_absent(docker: aiodocker.Docker, object_id: str) -> bool:
    try:
        await docker.containers.container(object_id).show()
    except aiodocker.DockerError as exc:
        return exc.status == 404
    return False


async def test_port_mapping_serves_a_container_of_the_pod(workspace: Workspace) -> None:
    host_port = free_port()
    mapping = pb.PortMapping(
        protocol=pb.TCP, container_port=80, host_port=host_port, host_ip="127.0.0.1"
    )
    pod_id, pod = await workspace.run_pod(workspace.pod_config("web", port_mappings=[mapping]))
    script = (
        "mkdir -p /www && echo 'hello from the pod' > /www/index.html"
        " && exec httpd -f -p 80 -h /www"
    )
    await workspace.run_container(
        pod_id, pod, workspace.container_config("httpd", ["sh", "-c", script])
    )

    body: list[str] = []
    url = f"http://127.0.0.1:{host_port}/index.html"
    async with aiohttp.ClientSession() as session:

        async def served() -> bool:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as reply:
                    if reply.status != 200:
                        return False
                    body.append(await reply.text())
                    return True
            except (aiohttp.ClientError, TimeoutError):
                return False

        await eventually(served)
    assert body[-1] == "hello from the pod\n"


async def test_containers_share_the_sandbox_network_namespace(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await workspace.run_pod(name="shared-net")
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("app", SLEEPER)
    )
    pod_ip = (await sandbox_status(cri, pod_id)).status.network.ip
    addresses = await output(workspace, container_id, "ip", "-o", "-4", "addr", "show", "eth0")
    assert f"inet {pod_ip}/" in addresses
    assert await host_namespace(docker, container_id, "net") == await host_namespace(
        docker, pod_id, "net"
    )
    assert await host_namespace(docker, container_id, "ipc") == await host_namespace(
        docker, pod_id, "ipc"
    )
    assert await host_namespace(docker, container_id, "net") != os.readlink("/proc/self/ns/net")


async def test_pod_pid_namespace_shows_pause_as_pid_1(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await workspace.run_pod(name="pid-pod", host_network=True)
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("app", SLEEPER)
    )
    processes = (await output(workspace, container_id, "ps")).splitlines()
    first = {line.split()[0]: line for line in processes[1:]}
    assert first["1"].split()[-1] == "/pause"
    assert any(line.split()[-2:] == ["sleep", "3600"] for line in processes)
    assert await host_namespace(docker, container_id, "pid") == await host_namespace(
        docker, pod_id, "pid"
    )


async def test_node_network_and_pid_modes_use_the_hosts_namespaces(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    config = workspace.pod_config("host-ns", host_network=True)
    config.linux.security_context.namespace_options.pid = pb.NODE
    pod_id, pod = await workspace.run_pod(config)
    options = (await sandbox_status(cri, pod_id)).status.linux.namespaces.options
    assert (options.network, options.pid) == (pb.NODE, pb.NODE)
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("app", SLEEPER)
    )
    for kind in ("net", "pid"):
        in_container = await output(workspace, container_id, "readlink", f"/proc/self/ns/{kind}")
        assert in_container.strip() == os.readlink(f"/proc/self/ns/{kind}")
    # In the host's PID namespace the container sees this very test process.
    check = await workspace.exec(container_id, "test", "-d", f"/proc/{os.getpid()}")
    assert check.exit_code == 0
    assert await host_namespace(docker, pod_id, "net") == os.readlink("/proc/self/ns/net")


async def test_list_filters_by_id_prefix_state_and_labels(
    cri: CriClient, workspace: Workspace
) -> None:
    ready_id, _ = await workspace.run_pod(
        name="ready", host_network=True, labels={"tier": "a", "label.k": "v"}
    )
    stopped_id, _ = await workspace.run_pod(name="stopped", host_network=True, labels={"tier": "b"})
    await stop_pod(cri, stopped_id)
    mine = {TEST_LABEL: workspace.tag}

    assert {p.id for p in await list_sandboxes(cri, label_selector=mine)} == {ready_id, stopped_id}
    assert [p.id for p in await list_sandboxes(cri, id=ready_id[:13])] == [ready_id]
    assert [p.id for p in await list_sandboxes(cri, id=ready_id)] == [ready_id]

    ready = await list_sandboxes(
        cri, label_selector=mine, state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY)
    )
    assert [(p.id, p.state) for p in ready] == [(ready_id, pb.SANDBOX_READY)]
    not_ready = await list_sandboxes(
        cri, label_selector=mine, state=pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY)
    )
    assert [(p.id, p.state) for p in not_ready] == [(stopped_id, pb.SANDBOX_NOTREADY)]

    by_label = await list_sandboxes(cri, label_selector={**mine, "tier": "b"})
    assert [p.id for p in by_label] == [stopped_id]
    escaped = await list_sandboxes(cri, label_selector={**mine, "label.k": "v"})
    assert [p.id for p in escaped] == [ready_id]

    assert await list_sandboxes(cri, label_selector={**mine, "tier": "c"}) == []
    assert (
        await list_sandboxes(
            cri, label_selector={**mine, "io.kubernetes.docker.type": "podsandbox"}
        )
        == []
    )
    assert await list_sandboxes(cri, id=MISSING_ID) == []
    assert await list_sandboxes(cri, id="not-hex!") == []
    assert await list_sandboxes(cri, id=ready_id, label_selector={**mine, "tier": "b"}) == []


async def test_stop_stops_every_container_and_pause_exits_on_sigterm(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await workspace.run_pod(name="stoppable", host_network=True)
    first = await workspace.run_container(pod_id, pod, workspace.container_config("one", SLEEPER))
    second = await workspace.run_container(pod_id, pod, workspace.container_config("two", SLEEPER))
    created = await workspace.create(pod_id, pod, workspace.container_config("idle", SLEEPER))

    await stop_pod(cri, pod_id)

    for container_id in (first, second):
        status = await workspace.status(container_id)
        assert status.state == pb.CONTAINER_EXITED
    assert (await workspace.status(created)).state == pb.CONTAINER_CREATED
    infra = await docker.containers.container(pod_id).show()
    assert infra["State"]["Running"] is False
    # 0, not 137: the pause process handled SIGTERM and was not killed after the grace period.
    assert infra["State"]["ExitCode"] == 0
    pod_status = (await sandbox_status(cri, pod_id)).status
    assert pod_status.state == pb.SANDBOX_NOTREADY
    assert pod_status.network.ip == ""


async def test_stop_of_a_pod_network_sandbox_clears_its_ip(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, _ = await workspace.run_pod(name="ip-released")
    assert (await sandbox_status(cri, pod_id)).status.network.ip
    await stop_pod(cri, pod_id)
    await stop_pod(cri, pod_id)  # again: already stopped is fine
    status = (await sandbox_status(cri, pod_id)).status
    assert status.state == pb.SANDBOX_NOTREADY
    assert status.network.ip == ""


async def test_remove_removes_the_sandbox_and_its_containers(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await workspace.run_pod(name="removable", host_network=True)
    running = await workspace.run_container(pod_id, pod, workspace.container_config("run", SLEEPER))
    created = await workspace.create(pod_id, pod, workspace.container_config("new", SLEEPER))
    await stop_pod(cri, pod_id)
    await remove_pod(cri, pod_id)

    for object_id in (pod_id, running, created):
        assert await docker_absent(docker, object_id)
    assert (await rpc_error(sandbox_status(cri, pod_id))).code() == grpc.StatusCode.NOT_FOUND
    for container_id in (running, created):
        failure = await rpc_error(workspace.status(container_id))
        assert failure.code() == grpc.StatusCode.NOT_FOUND
    listed = await cri.runtime.ListContainers(
        pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=pod_id))
    )
    assert list(listed.containers) == []
    assert await list_sandboxes(cri, id=pod_id) == []


async def test_remove_of_a_running_sandbox_removes_it(cri: CriClient, workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod(name="forced", host_network=True)
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("c", SLEEPER)
    )
    await remove_pod(cri, pod_id)
    assert await list_sandboxes(cri, id=pod_id) == []
    failure = await rpc_error(workspace.status(container_id))
    assert failure.code() == grpc.StatusCode.NOT_FOUND


async def test_stop_and_remove_of_unknown_or_removed_sandboxes_succeed(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, _ = await workspace.run_pod(name="gone", host_network=True)
    await stop_pod(cri, pod_id)
    await remove_pod(cri, pod_id)
    for object_id in (pod_id, MISSING_ID):
        await stop_pod(cri, object_id)
        await remove_pod(cri, object_id)


async def test_status_of_unknown_ids_and_of_containers_is_not_found(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, pod = await workspace.run_pod(name="typed", host_network=True)
    container_id = await workspace.create(pod_id, pod, workspace.container_config("c", SLEEPER))
    for wrong in (container_id, container_id[:12], MISSING_ID):
        error = await rpc_error(sandbox_status(cri, wrong))
        assert error.code() == grpc.StatusCode.NOT_FOUND, wrong
    # Stopping or removing a container id through the sandbox calls leaves it alone.
    await stop_pod(cri, container_id)
    await remove_pod(cri, container_id)
    assert (await workspace.status(container_id)).state == pb.CONTAINER_CREATED
    # A unique id prefix works as in Docker.
    assert (await sandbox_status(cri, pod_id[:12])).status.id == pod_id


async def test_negative_oom_score_falls_back_to_zero_on_this_host(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, _ = await workspace.run_pod(name="oom", host_network=True)
    response = await sandbox_status(cri, pod_id, verbose=True)
    info = json.loads(response.info["info"])
    assert info["oomScoreAdj"] == 0
    assert info["networkMode"] == "host"
    assert info["pid"] > 0
    inspect = await docker.containers.container(pod_id).show()
    assert inspect["HostConfig"]["OomScoreAdj"] == 0
    with open(f"/proc/{inspect['State']['Pid']}/oom_score_adj") as handle:
        assert handle.read().strip() == "0"


async def test_a_running_sandbox_name_is_not_taken_twice_but_a_stopped_one_is_replaced(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    config = workspace.pod_config("twice", host_network=True)
    first_id, _ = await workspace.run_pod(config)
    error = await rpc_error(workspace.run_pod(config))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (await sandbox_status(cri, first_id)).status.state == pb.SANDBOX_READY

    await stop_pod(cri, first_id)
    second_id, _ = await workspace.run_pod(config)
    assert second_id != first_id
    assert (await sandbox_status(cri, second_id)).status.state == pb.SANDBOX_READY
    assert (await rpc_error(sandbox_status(cri, first_id))).code() == grpc.StatusCode.NOT_FOUND
    inspect = await docker.containers.container(second_id).show()
    meta = config.metadata
    assert inspect["Name"] == f"/k8s_POD_{meta.name}_{meta.namespace}_{meta.uid}_0"


async def test_a_known_runtime_handler_round_trips_and_an_unknown_one_is_refused(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    config = workspace.pod_config("handler", host_network=True)
    reply = await cri.runtime.RunPodSandbox(
        pb.RunPodSandboxRequest(config=config, runtime_handler="runc")
    )
    workspace.sandboxes.append(reply.pod_sandbox_id)
    assert (await sandbox_status(cri, reply.pod_sandbox_id)).status.runtime_handler == "runc"
    [listed] = await list_sandboxes(cri, id=reply.pod_sandbox_id)
    assert listed.runtime_handler == "runc"
    inspect = await docker.containers.container(reply.pod_sandbox_id).show()
    assert inspect["HostConfig"]["Runtime"] == "runc"

    other = workspace.pod_config("no-handler", host_network=True)
    error = await rpc_error(
        cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=other, runtime_handler="kata"))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await list_sandboxes(cri, label_selector=dict(other.labels)) == [listed]


async def infra_status_field(docker: aiodocker.Docker, pod_id: str, field: str) -> str:
    inspect = await docker.containers.container(pod_id).show()
    with open(f"/proc/{inspect['State']['Pid']}/status") as handle:
        lines = [line for line in handle if line.startswith(f"{field}:")]
    return lines[0].split(":", 1)[1].strip()


async def test_the_sandbox_seccomp_profile_applies_to_the_infra_process(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    confined = workspace.pod_config("confined", host_network=True)
    confined.linux.security_context.seccomp.profile_type = pb.SecurityProfile.RuntimeDefault
    confined_id, _ = await workspace.run_pod(confined)
    unset_id, _ = await workspace.run_pod(name="unset", host_network=True)
    assert await infra_status_field(docker, confined_id, "Seccomp") == "2"
    assert await infra_status_field(docker, unset_id, "Seccomp") == "0"


async def test_a_sandbox_whose_infra_process_died_is_not_ready(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, _ = await workspace.run_pod(name="killed")
    await docker.containers.container(pod_id).kill(signal="SIGKILL")
    await docker.containers.container(pod_id).wait()
    status = (await sandbox_status(cri, pod_id)).status
    assert status.state == pb.SANDBOX_NOTREADY
    assert status.network.ip == ""
    [listed] = await list_sandboxes(cri, id=pod_id)
    assert listed.state == pb.SANDBOX_NOTREADY
