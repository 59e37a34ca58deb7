"""Application containers against the real dockerd: life cycle, status, listing, stop, errors.

How a container's config is honoured is in test_container_config.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiodocker
import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support import env
from tests.support.cri import TEST_LABEL, CriClient, Workspace, eventually, rpc_error

SLEEPER = ("sleep", "3600")
MISSING_ID = "0123456789abcdef" * 4


async def host_pod(workspace: Workspace, name: str = "pod") -> tuple[str, pb.PodSandboxConfig]:
    return await workspace.run_pod(name=name, host_network=True)


async def start(cri: CriClient, container_id: str) -> None:
    await cri.runtime.StartContainer(pb.StartContainerRequest(container_id=container_id))


async def stop(cri: CriClient, container_id: str, grace: int = 0) -> None:
    await cri.runtime.StopContainer(
        pb.StopContainerRequest(container_id=container_id, timeout=grace)
    )


async def remove(cri: CriClient, container_id: str) -> None:
    await cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=container_id))


async def list_containers(cri: CriClient, **fields: object) -> list[pb.Container]:
    response = await cri.runtime.ListContainers(
        pb.ListContainersRequest(filter=pb.ContainerFilter(**fields))  # type: ignore[arg-type]
    )
    return list(response.containers)


def state_is(state: pb.ContainerState.ValueType) -> pb.ContainerStateValue:
    return pb.ContainerStateValue(state=state)


async def test_life_cycle_goes_created_running_exited_removed(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await host_pod(workspace)
    container_id = await workspace.create(pod_id, pod, workspace.container_config("app", SLEEPER))
    status = await workspace.status(container_id)
    assert status.id == container_id
    assert status.metadata == pb.ContainerMetadata(name="app", attempt=0)
    assert status.state == pb.CONTAINER_CREATED
    assert (status.started_at, status.finished_at, status.exit_code) == (0, 0, 0)
    [listed] = await list_containers(cri, id=container_id)
    assert listed.state == pb.CONTAINER_CREATED
    assert listed.pod_sandbox_id == pod_id

    await start(cri, container_id)
    status = await workspace.status(container_id)
    assert status.state == pb.CONTAINER_RUNNING
    assert status.started_at > 0
    assert status.finished_at == 0
    [listed] = await list_containers(cri, id=container_id)
    assert listed.state == pb.CONTAINER_RUNNING

    await stop(cri, container_id, grace=10)
    status = await workspace.status(container_id)
    assert status.state == pb.CONTAINER_EXITED
    # sleep dies of the SIGTERM it does not handle.
    assert status.exit_code == 143
    assert status.reason == "Error"
    [listed] = await list_containers(cri, id=container_id)
    assert listed.state == pb.CONTAINER_EXITED

    await remove(cri, container_id)
    error = await rpc_error(workspace.status(container_id))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert await list_containers(cri, id=container_id) == []
    with pytest.raises(aiodocker.DockerError) as gone:
        await docker.containers.container(container_id).show()
    assert gone.value.status == 404


async def test_exit_zero_is_completed_with_ordered_timestamps(workspace: Workspace) -> None:
    pod_id, pod = await host_pod(workspace)
    before = time.time_ns()
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("done", ["true"])
    )
    status = await workspace.wait_exit(container_id)
    after = time.time_ns()
    assert status.state == pb.CONTAINER_EXITED
    assert status.exit_code == 0
    assert status.reason == "Completed"
    assert status.message == ""
    assert before - 1_000_000 <= status.created_at <= status.started_at
    assert status.started_at <= status.finished_at <= after


async def test_exit_three_is_an_error(workspace: Workspace) -> None:
    pod_id, pod = await host_pod(workspace)
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("fails", ["sh", "-c", "exit 3"])
    )
    status = await workspace.wait_exit(container_id)
    assert (status.state, status.exit_code, status.reason) == (pb.CONTAINER_EXITED, 3, "Error")
    assert 0 < status.started_at <= status.finished_at


async def test_status_reports_image_reference_id_and_log_path(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await host_pod(workspace)
    container_id = await workspace.create(pod_id, pod, workspace.container_config("app", SLEEPER))
    status = await workspace.status(container_id)
    image = await docker.images.inspect(env.BUSYBOX)
    repository = env.BUSYBOX.rsplit(":", 1)[0]
    assert status.image.image == env.BUSYBOX
    assert status.image_id == image["Id"]
    assert status.image_ref.startswith(f"{repository}@sha256:")
    assert status.image_ref in image["RepoDigests"]
    assert status.log_path == f"{pod.log_directory}/app/0.log"

    [listed] = await list_containers(cri, id=container_id)
    assert listed.image.image == env.BUSYBOX
    assert listed.image_id == image["Id"]
    assert listed.image_ref == status.image_ref


async def test_labels_and_annotations_round_trip(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await host_pod(workspace)
    labels = {
        TEST_LABEL: workspace.tag,
        "io.kubernetes.container.name": "app",
        "annotation.x": "label",
        "label.y": "label",
        "io.kubernetes.docker.type": "podsandbox",
        "io.kubernetes.sandbox.id": "forged",
    }
    annotations = {"annotation.x": "a", "label.y": "b", "io.kubernetes.container.hash": "1f"}
    config = workspace.container_config("app", SLEEPER, annotations=annotations)
    config.labels.update(labels)
    container_id = await workspace.create(pod_id, pod, config)

    status = await workspace.status(container_id)
    assert dict(status.labels) == labels
    assert dict(status.annotations) == annotations
    [listed] = await list_containers(cri, id=container_id)
    assert dict(listed.labels) == labels
    assert dict(listed.annotations) == annotations
    assert listed.pod_sandbox_id == pod_id
    inspect = await docker.containers.container(container_id).show()
    assert inspect["Config"]["Labels"]["io.kubernetes.docker.type"] == "container"
    assert inspect["Config"]["Labels"]["io.kubernetes.sandbox.id"] == pod_id


async def test_mounts_are_reported_with_readonly_and_propagation(
    workspace: Workspace, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    pod_id, pod = await host_pod(workspace)
    mounts = [
        pb.Mount(container_path="/ro", host_path=str(tmp_path), readonly=True),
        pb.Mount(
            container_path="/slave",
            host_path=str(tmp_path),
            propagation=pb.PROPAGATION_HOST_TO_CONTAINER,
        ),
    ]
    config = workspace.container_config("app", SLEEPER, mounts=mounts)
    container_id = await workspace.create(pod_id, pod, config)
    assert list((await workspace.status(container_id)).mounts) == mounts
    inspect = await docker.containers.container(container_id).show()
    applied = {m["Destination"]: (m["RW"], m["Propagation"]) for m in inspect["Mounts"]}
    assert applied == {"/ro": (False, "rprivate"), "/slave": (True, "rslave")}


async def test_list_filters_by_id_state_sandbox_and_labels(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, pod = await host_pod(workspace, "one")
    other_pod_id, other_pod = await host_pod(workspace, "two")
    running = await workspace.run_container(
        pod_id, pod, workspace.container_config("run", SLEEPER, labels={"role": "server"})
    )
    created = await workspace.create(
        pod_id, pod, workspace.container_config("new", SLEEPER, labels={"label.role": "x"})
    )
    exited = await workspace.run_container(
        other_pod_id, other_pod, workspace.container_config("end", ["true"])
    )
    await workspace.wait_exit(exited)
    mine = {TEST_LABEL: workspace.tag}

    def ids(items: list[pb.Container]) -> set[str]:
        return {item.id for item in items}

    assert ids(await list_containers(cri, label_selector=mine)) == {running, created, exited}
    assert ids(await list_containers(cri, id=running[:12])) == {running}
    for state, expected in (
        (pb.CONTAINER_CREATED, created),
        (pb.CONTAINER_RUNNING, running),
        (pb.CONTAINER_EXITED, exited),
    ):
        found = await list_containers(cri, label_selector=mine, state=state_is(state))
        assert [(c.id, c.state) for c in found] == [(expected, state)]
    assert (
        await list_containers(cri, label_selector=mine, state=state_is(pb.CONTAINER_UNKNOWN)) == []
    )

    assert ids(await list_containers(cri, pod_sandbox_id=pod_id)) == {running, created}
    assert ids(await list_containers(cri, pod_sandbox_id=pod_id[:10])) == {running, created}
    assert ids(await list_containers(cri, pod_sandbox_id=other_pod_id)) == {exited}
    assert await list_containers(cri, pod_sandbox_id=MISSING_ID) == []

    assert ids(await list_containers(cri, label_selector={**mine, "role": "server"})) == {running}
    assert ids(await list_containers(cri, label_selector={**mine, "label.role": "x"})) == {created}
    assert await list_containers(cri, label_selector={**mine, "role": "client"}) == []
    assert (
        await list_containers(
            cri, pod_sandbox_id=other_pod_id, label_selector={**mine, "role": "server"}
        )
        == []
    )
    # Sandboxes are not containers.
    assert await list_containers(cri, id=pod_id) == []


async def test_stop_timeout_ends_in_sigkill_for_a_container_ignoring_sigterm(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, pod = await host_pod(workspace)
    script = 'trap "" TERM; echo ready > /tmp/ready; while true; do sleep 1; done'
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("stubborn", ["sh", "-c", script])
    )

    async def trap_set() -> bool:
        return (await workspace.exec(container_id, "test", "-f", "/tmp/ready")).exit_code == 0

    await eventually(trap_set)
    started = time.monotonic()
    await stop(cri, container_id, grace=1)
    elapsed = time.monotonic() - started
    status = await workspace.status(container_id)
    assert status.state == pb.CONTAINER_EXITED
    assert status.exit_code == 137
    # The grace period was given (a lower bound holds on any machine); that the shim asks
    # dockerd for exactly the request's timeout is decided in tests/fast/shim/test_rpc_edge.py.
    assert elapsed >= 0.9


async def test_stop_signal_is_delivered_to_the_container(
    cri: CriClient, workspace: Workspace, tmp_path: Path
) -> None:
    pod_id, pod = await host_pod(workspace)
    script = (
        'trap "echo interrupted > /out/marker; exit 0" INT; '
        "echo ready > /tmp/ready; while true; do sleep 1; done"
    )
    config = workspace.container_config(
        "polite",
        ["sh", "-c", script],
        stop_signal=pb.SIGINT,
        mounts=[pb.Mount(container_path="/out", host_path=str(tmp_path))],
    )
    container_id = await workspace.run_container(pod_id, pod, config)
    assert (await workspace.status(container_id)).stop_signal == pb.SIGINT

    async def trap_set() -> bool:
        return (await workspace.exec(container_id, "test", "-f", "/tmp/ready")).exit_code == 0

    await eventually(trap_set)
    await stop(cri, container_id, grace=30)
    status = await workspace.status(container_id)
    assert (status.state, status.exit_code, status.reason) == (pb.CONTAINER_EXITED, 0, "Completed")
    assert (tmp_path / "marker").read_text() == "interrupted\n"


async def test_stop_and_remove_are_idempotent(cri: CriClient, workspace: Workspace) -> None:
    pod_id, pod = await host_pod(workspace)
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("app", SLEEPER)
    )
    created = await workspace.create(pod_id, pod, workspace.container_config("idle", SLEEPER))
    await stop(cri, container_id)
    await stop(cri, container_id)
    await stop(cri, created)
    assert (await workspace.status(created)).state == pb.CONTAINER_CREATED
    for object_id in (container_id, created):
        await remove(cri, object_id)
        await remove(cri, object_id)
        await stop(cri, object_id)
    await stop(cri, MISSING_ID)
    await remove(cri, MISSING_ID)
    # A sandbox id is not a container id: the sandbox survives both calls.
    await stop(cri, pod_id)
    await remove(cri, pod_id)
    status = await cri.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id))
    assert status.status.state == pb.SANDBOX_READY


async def test_a_running_container_can_be_removed(cri: CriClient, workspace: Workspace) -> None:
    pod_id, pod = await host_pod(workspace)
    container_id = await workspace.run_container(
        pod_id, pod, workspace.container_config("app", SLEEPER)
    )
    await remove(cri, container_id)
    assert await list_containers(cri, id=container_id) == []


async def test_a_container_is_started_only_once(cri: CriClient, workspace: Workspace) -> None:
    pod_id, pod = await host_pod(workspace)
    running = await workspace.run_container(pod_id, pod, workspace.container_config("r", SLEEPER))
    error = await rpc_error(start(cri, running))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await workspace.status(running)).state == pb.CONTAINER_RUNNING

    done = await workspace.run_container(pod_id, pod, workspace.container_config("d", ["true"]))
    first = await workspace.wait_exit(done)
    error = await rpc_error(start(cri, done))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    again = await workspace.status(done)
    assert (again.state, again.started_at, again.finished_at) == (
        pb.CONTAINER_EXITED,
        first.started_at,
        first.finished_at,
    )

    failed = await workspace.run_container(
        pod_id, pod, workspace.container_config("f", ["sh", "-c", "exit 3"])
    )
    await workspace.wait_exit(failed)
    error = await rpc_error(start(cri, failed))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_missing_command_fails_start_and_reports_container_cannot_run(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, pod = await host_pod(workspace)
    container_id = await workspace.create(
        pod_id, pod, workspace.container_config("broken", ["/no/such/binary"])
    )
    error = await rpc_error(start(cri, container_id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "/no/such/binary" in str(error.details())
    status = await workspace.status(container_id)
    assert status.state == pb.CONTAINER_EXITED
    assert status.reason == "ContainerCannotRun"
    assert status.exit_code != 0
    assert "/no/such/binary" in status.message
    assert status.finished_at >= status.started_at > 0
    # Not started a second time either.
    error = await rpc_error(start(cri, container_id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_privileged_container_fails_cleanly_on_this_host(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, pod = await host_pod(workspace)
    config = workspace.container_config("root", SLEEPER)
    config.linux.security_context.privileged = True
    container_id = await workspace.create(pod_id, pod, config)
    error = await rpc_error(start(cri, container_id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "caps" in str(error.details())
    status = await workspace.status(container_id)
    assert status.state == pb.CONTAINER_EXITED
    assert status.reason == "ContainerCannotRun"
    # The shim keeps serving, and the pod is unaffected.
    await cri.runtime.Version(pb.VersionRequest())
    other = await workspace.run_container(pod_id, pod, workspace.container_config("ok", SLEEPER))
    assert (await workspace.status(other)).state == pb.CONTAINER_RUNNING


async def test_no_container_is_created_in_a_stopped_sandbox(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, pod = await host_pod(workspace)
    await cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))
    error = await rpc_error(workspace.create(pod_id, pod, workspace.container_config("c", SLEEPER)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await list_containers(cri, pod_sandbox_id=pod_id) == []


async def test_create_in_an_unknown_sandbox_is_not_found(
    cri: CriClient, workspace: Workspace
) -> None:
    pod_id, pod = await host_pod(workspace)
    container_id = await workspace.create(pod_id, pod, workspace.container_config("c", SLEEPER))
    for wrong in (MISSING_ID, container_id):
        config = workspace.container_config("orphan", SLEEPER)
        error = await rpc_error(workspace.create(wrong, pod, config))
        assert error.code() == grpc.StatusCode.NOT_FOUND, wrong
    assert await list_containers(cri, label_selector={TEST_LABEL: workspace.tag}) != []
    assert [c.metadata.name for c in await list_containers(cri, pod_sandbox_id=pod_id)] == ["c"]


async def test_status_of_unknown_or_sandbox_ids_is_not_found(
    workspace: Workspace,
) -> None:
    pod_id, _ = await host_pod(workspace)
    for wrong in (MISSING_ID, pod_id):
        error = await rpc_error(workspace.status(wrong))
        assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_a_second_create_with_the_same_name_replaces_the_unstarted_first(
    cri: CriClient, workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await host_pod(workspace)
    config = workspace.container_config("retry", SLEEPER)
    first = await workspace.create(pod_id, pod, config)
    second = await workspace.create(pod_id, pod, config)
    assert second != first
    assert (await rpc_error(workspace.status(first))).code() == grpc.StatusCode.NOT_FOUND
    assert [c.id for c in await list_containers(cri, pod_sandbox_id=pod_id)] == [second]
    await start(cri, second)
    assert (await workspace.status(second)).state == pb.CONTAINER_RUNNING
    inspect = await docker.containers.container(second).show()
    meta = pod.metadata
    assert inspect["Name"] == f"/k8s_retry_{meta.name}_{meta.namespace}_{meta.uid}_0"


async def test_a_negative_oom_score_is_clamped_to_zero_and_the_container_starts(
    workspace: Workspace, docker: aiodocker.Docker
) -> None:
    pod_id, pod = await host_pod(workspace)
    config = workspace.container_config("app", SLEEPER)
    config.linux.resources.oom_score_adj = -500
    container_id = await workspace.run_container(pod_id, pod, config)
    status = await workspace.status(container_id)
    assert status.state == pb.CONTAINER_RUNNING
    assert status.resources.linux.oom_score_adj == 0
    inspect = await docker.containers.container(container_id).show()
    assert inspect["HostConfig"]["OomScoreAdj"] == 0


async def test_a_positive_oom_score_is_applied(workspace: Workspace) -> None:
    pod_id, pod = await host_pod(workspace)
    config = workspace.container_config("app", SLEEPER)
    config.linux.resources.oom_score_adj = 500
    container_id = await workspace.run_container(pod_id, pod, config)
    assert (await workspace.status(container_id)).resources.linux.oom_score_adj == 500
    reply = await workspace.exec(container_id, "cat", "/proc/self/oom_score_adj")
    assert reply.stdout.decode().strip() == "500"


async def test_a_container_killed_for_memory_is_oom_killed(workspace: Workspace) -> None:
    pod_id, pod = await host_pod(workspace)
    # The shell keeps 50 MiB of output in a variable, over the 8 MiB limit (no swap).
    hog = workspace.container_config(
        "hog", ["sh", "-c", "a=$(head -c 50m /dev/zero | tr '\\0' a); echo survived"]
    )
    hog.linux.resources.memory_limit_in_bytes = 8 * 1024 * 1024
    container_id = await workspace.run_container(pod_id, pod, hog)
    status = await workspace.wait_exit(container_id)
    assert (status.state, status.reason, status.exit_code) == (
        pb.CONTAINER_EXITED,
        "OOMKilled",
        137,
    )


async def test_a_running_container_name_is_not_taken_twice(
    workspace: Workspace,
) -> None:
    pod_id, pod = await host_pod(workspace)
    config = workspace.container_config("once", SLEEPER)
    running = await workspace.run_container(pod_id, pod, config)
    error = await rpc_error(workspace.create(pod_id, pod, config))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (await workspace.status(running)).state == pb.CONTAINER_RUNNING
