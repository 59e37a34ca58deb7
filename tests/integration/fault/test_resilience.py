"""The shim on a bad day: kill -9 in a burst of pod starts, a soak of many clients, and a
restart of dockerd under traffic."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support import env
from tests.support.cri import TEST_LABEL, CriClient, Workspace, eventually
from tests.support.processes import ShimProcess, short_socket_dir

pytestmark = pytest.mark.fault

PODS = 8


@pytest.fixture
async def own_shim(tmp_path: Path) -> AsyncIterator[ShimProcess]:
    socket_dir = short_socket_dir()
    shim = ShimProcess(
        socket_dir / "cri.sock", tmp_path / "shim.log", env={"DOCKER_HOST": env.DOCKER_HOST}
    )
    try:
        await asyncio.to_thread(shim.start)
        yield shim
    finally:
        if shim.process is not None and shim.process.poll() is None:
            await asyncio.to_thread(shim.stop)
        shutil.rmtree(socket_dir, ignore_errors=True)


async def _start_pod(space: Workspace, config: pb.PodSandboxConfig) -> None:
    pod_id, pod = await space.run_pod(config)
    await space.run_container(pod_id, pod, space.container_config("app", ["sleep", "300"]))


async def _kubelet_retry(space: Workspace, config: pb.PodSandboxConfig) -> None:
    """What the kubelet does after a runtime restart: reuse a ready sandbox, else run one;
    start a created container, else create one."""
    runtime = space.cri.runtime
    uid = config.metadata.uid
    listed = await runtime.ListPodSandbox(pb.ListPodSandboxRequest())
    mine = [s for s in listed.items if s.metadata.uid == uid]
    ready = [s for s in mine if s.state == pb.SANDBOX_READY]
    if ready:
        pod_id = ready[0].id
    else:
        for stale in mine:
            await runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=stale.id))
        config.metadata.attempt = max((s.metadata.attempt + 1 for s in mine), default=0)
        pod_id, _ = await space.run_pod(config)
    containers = await runtime.ListContainers(
        pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=pod_id))
    )
    app = [c for c in containers.containers if c.metadata.name == "app"]
    if app and app[0].state == pb.CONTAINER_RUNNING:
        return
    if app and app[0].state == pb.CONTAINER_CREATED:
        await runtime.StartContainer(pb.StartContainerRequest(container_id=app[0].id))
        return
    config_app = space.container_config("app", ["sleep", "300"])
    config_app.metadata.attempt = len(app)
    await space.run_container(pod_id, config, config_app)


async def test_kill_9_during_a_burst_of_pod_starts_then_kubelet_retries(
    own_shim: ShimProcess, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    space = Workspace(CriClient(own_shim.endpoint), docker, tmp_path / "pod-logs")
    try:
        configs = [space.pod_config(f"burst{i}", host_network=True) for i in range(PODS)]
        burst = [asyncio.create_task(_start_pod(space, c)) for c in configs]
        # Kill once dockerd has started creating, whatever the burst's progress.
        await eventually(lambda: _any_created(docker, space.tag), timeout=60)
        await asyncio.to_thread(own_shim.kill)
        await asyncio.gather(*burst, return_exceptions=True)

        await asyncio.to_thread(own_shim.start)
        await space.cri.close()
        space.cri = CriClient(own_shim.endpoint)
        for config in configs:
            await _kubelet_retry(space, config)

        listed = await docker.containers.list(
            all=True, filters={"label": [f"{TEST_LABEL}={space.tag}"]}
        )
        labels = [c._container["Labels"] for c in listed]
        sandboxes = {c.id: c for c in listed if "POD" in c._container["Names"][0]}
        running_per_pod = Counter(
            (lab.get(TEST_LABEL), c._container["Names"][0].split("_")[4])
            for c, lab in zip(listed, labels, strict=True)
            if c.id in sandboxes and c._container["State"] == "running"
        )
        assert all(n == 1 for n in running_per_pod.values()), running_per_pod
        assert len(running_per_pod) == PODS
        for container, lab in zip(listed, labels, strict=True):
            if container.id in sandboxes:
                continue
            owner = lab.get("io.kubernetes.sandbox.id", "")
            assert owner in sandboxes, f"orphan container {container.id[:12]}"
        names = Counter(c._container["Names"][0] for c in listed)
        assert all(n == 1 for n in names.values())
        running_apps = Counter(
            lab.get("io.kubernetes.sandbox.id")
            for c, lab in zip(listed, labels, strict=True)
            if c.id not in sandboxes and c._container["State"] == "running"
        )
        assert all(n == 1 for n in running_apps.values()), running_apps
    finally:
        await space.cleanup()
        await space.cri.close()


async def _any_created(docker: aiodocker.Docker, tag: str) -> bool:
    listed = await docker.containers.list(all=True, filters={"label": [f"{TEST_LABEL}={tag}"]})
    return bool(listed)


# -- soak ------------------------------------------------------------------------------------

CLIENTS = 55
ROUNDS = 8


# aiohttp's keep-alive timeout for idle pooled connections, with a margin.
KEEPALIVE_EXPIRY = 20.0


def _usage(pid: int) -> tuple[int, int, int]:
    """(open fds, threads, resident KiB) of a process."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return fds, int(fields["Threads"]), int(fields["VmRSS"].split()[0])


async def _settled_usage(pid: int, before: tuple[int, int, int]) -> tuple[int, int, int]:
    """Usage once idle keep-alive connections to dockerd have expired (aiohttp closes them
    after 15 s): a pool that grew at the soak's peak is not a leak, a leak stays."""
    deadline = time.monotonic() + KEEPALIVE_EXPIRY
    usage = _usage(pid)
    while usage[0] - before[0] > 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        usage = _usage(pid)
    return usage


async def _client(endpoint: str, pod_id: str, container_id: str) -> None:
    client = CriClient(endpoint)
    try:
        for _ in range(ROUNDS):
            await client.runtime.ListContainers(pb.ListContainersRequest())
            await client.runtime.ListPodSandbox(pb.ListPodSandboxRequest())
            await client.runtime.ContainerStatus(
                pb.ContainerStatusRequest(container_id=container_id)
            )
            await client.runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id))
            await client.images.ImageStatus(
                pb.ImageStatusRequest(image=pb.ImageSpec(image=env.BUSYBOX))
            )
            with contextlib.suppress(grpc.aio.AioRpcError):
                await client.runtime.ContainerStatus(
                    pb.ContainerStatusRequest(container_id="0" * 64)
                )
    finally:
        await client.close()


async def test_a_soak_of_many_clients_leaks_no_fds_threads_or_memory(
    own_shim: ShimProcess, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    space = Workspace(CriClient(own_shim.endpoint), docker, tmp_path / "pod-logs")
    assert own_shim.process is not None
    pid = own_shim.process.pid
    try:
        pod_id, pod = await space.run_pod(name="soak", host_network=True)
        container_id = await space.run_container(
            pod_id, pod, space.container_config("app", ["sleep", "300"])
        )
        # Warm up (connection pools, caches), then measure over two equal soaks.
        await asyncio.gather(
            *(_client(own_shim.endpoint, pod_id, container_id) for _ in range(CLIENTS))
        )
        before = _usage(pid)
        for _ in range(2):
            await asyncio.gather(
                *(_client(own_shim.endpoint, pod_id, container_id) for _ in range(CLIENTS))
            )
        after = await _settled_usage(pid, before)
        fds, threads, rss = (a - b for a, b in zip(after, before, strict=True))
        assert fds <= 5, f"fds {before[0]} -> {after[0]}"
        assert threads <= 4, f"threads {before[1]} -> {after[1]}"
        assert rss <= 40 * 1024, f"resident KiB {before[2]} -> {after[2]}"
    finally:
        await space.cleanup()
        await space.cri.close()


# -- dockerd restart ----------------------------------------------------------------------


def _dockerd() -> tuple[int, list[str], str]:
    """The running dockerd: pid, command line, and the file its output goes to."""
    pid = int(Path("/var/run/docker.pid").read_text())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    output = os.readlink(f"/proc/{pid}/fd/1")
    return pid, [a.decode() for a in argv], output


def _restart_dockerd() -> None:
    """Stop dockerd and start it again exactly as it ran (as scripts/setup-host starts it)."""
    pid, argv, output = _dockerd()
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.2)
    # Detached as scripts/setup-host starts it, so no child of this test outlives it.
    target = output if output.startswith("/") else os.devnull
    subprocess.run(
        ["sh", "-c", f"setsid nohup {shlex.join(argv)} >>{shlex.quote(target)} 2>&1 </dev/null &"],
        check=True,
    )


@pytest.mark.skipif(
    os.environ.get("CRI_SHIM_TEST_RESTART_DOCKERD") != "1" and os.environ.get("CI") != "true",
    reason="restarts the host dockerd (stops all its containers): CRI_SHIM_TEST_RESTART_DOCKERD=1",
)
async def test_the_shim_recovers_from_a_dockerd_restart_under_traffic(
    own_shim: ShimProcess, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    space = Workspace(CriClient(own_shim.endpoint), docker, tmp_path / "pod-logs")
    stop = asyncio.Event()
    failures: Counter[str] = Counter()

    async def traffic() -> None:
        while not stop.is_set():
            try:
                await space.cri.runtime.ListContainers(pb.ListContainersRequest(), timeout=10)
            except grpc.aio.AioRpcError as exc:
                failures[exc.code().name] += 1
                await asyncio.sleep(0.05)

    try:
        pod_id, pod = await space.run_pod(name="restart", host_network=True)
        await space.run_container(pod_id, pod, space.container_config("app", ["sleep", "300"]))
        clients = [asyncio.create_task(traffic()) for _ in range(5)]
        await asyncio.to_thread(_restart_dockerd)
        await eventually(lambda: _answers(space), timeout=120)
        stop.set()
        await asyncio.gather(*clients)
        assert own_shim.process is not None
        assert own_shim.process.poll() is None
        # While dockerd was away: UNAVAILABLE (or a deadline), never INTERNAL or UNKNOWN.
        assert not {"INTERNAL", "UNKNOWN"} & set(failures), failures
        # No orphan: everything this test made is still visible through the CRI.
        listed = await docker.containers.list(
            all=True, filters={"label": [f"{TEST_LABEL}={space.tag}"]}
        )
        sandboxes = await space.cri.runtime.ListPodSandbox(pb.ListPodSandboxRequest())
        containers = await space.cri.runtime.ListContainers(pb.ListContainersRequest())
        visible = {s.id for s in sandboxes.items} | {c.id for c in containers.containers}
        assert {c.id for c in listed} <= visible
        # And it serves new work.
        await space.run_pod(name="after", host_network=True)
    finally:
        stop.set()
        await space.cleanup()
        await space.cri.close()


async def _answers(space: Workspace) -> bool:
    try:
        await space.cri.runtime.ListContainers(pb.ListContainersRequest(), timeout=5)
        status = await space.cri.runtime.Status(pb.StatusRequest(), timeout=5)
    except grpc.aio.AioRpcError:
        return False
    return all(c.status for c in status.status.conditions)
