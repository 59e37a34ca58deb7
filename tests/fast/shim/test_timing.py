"""The shim's timing logic over the fake Docker in virtual time: the pull watchdog, ExecSync
timeouts (with the real process-tree kill), and the OOM-score probe.

The integration suite keeps one real end-to-end check of each without a
wall-clock verdict.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri import exec as shim_exec
from shim.cri import images
from shim.deadline import rpc_deadline
from shim.engine.oomscore import OomScorePolicy
from shim.errors import DeadlineExceeded, DockerAPIError, NotFound, Unauthenticated, Unavailable
from shim.translate import imageref
from tests.support import virtualtime
from tests.support.fakedocker import ExecScript, FakeDocker, PullScript
from tests.support.fakeshim import INFRA_IMAGE, backend_for

BUSYBOX = "127.0.0.1:5000/busybox:1.35"


# -- pull watchdog ---------------------------------------------------------------------


def pull(docker: FakeDocker, ref: str, **config) -> str:
    backend = backend_for(docker, **config)
    return virtualtime.run(images.pull(backend, imageref.parse(ref, "image"), None))


def test_a_slow_pull_that_keeps_progressing_is_never_cancelled() -> None:
    docker = FakeDocker()
    # 50 progress messages 9 s apart: 450 s in all, never 10 s without progress.
    docker.pulls[BUSYBOX] = PullScript(progress=50, every=9.0)
    image_id = pull(docker, BUSYBOX, image_pull_progress_deadline=10.0)
    assert image_id.startswith("sha256:")
    assert docker.calls_to("pull_image")[0].outcome == "ok"


def test_a_pull_without_progress_is_cancelled_after_the_progress_deadline() -> None:
    docker = FakeDocker()
    docker.pulls[BUSYBOX] = PullScript(progress=3, every=1.0, stall=True)

    async def main() -> float:
        backend = backend_for(docker, image_pull_progress_deadline=10.0)
        with pytest.raises(DeadlineExceeded, match="cancelled after 10s without progress"):
            await images.pull(backend, imageref.parse(BUSYBOX, "image"), None)
        return virtualtime.now()

    # Last progress at 3 s, cancelled 10 s later.
    assert virtualtime.run(main()) == pytest.approx(13.0)
    assert docker.calls_to("pull_image")[0].outcome == "cancelled"


def test_the_clients_deadline_ends_a_pull_that_still_progresses() -> None:
    docker = FakeDocker()
    docker.pulls[BUSYBOX] = PullScript(progress=100, every=1.0)

    async def main() -> float:
        backend = backend_for(docker, image_pull_progress_deadline=10.0)
        with rpc_deadline(5.0), pytest.raises(DeadlineExceeded, match="client deadline"):
            await images.pull(backend, imageref.parse(BUSYBOX, "image"), None)
        return virtualtime.now()

    assert virtualtime.run(main()) == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DockerAPIError(404, "manifest for x not found: manifest unknown"), NotFound),
        (DockerAPIError(500, 'Head "http://r/v2/x": no basic auth credentials'), Unauthenticated),
        (DockerAPIError(500, "dial tcp 127.0.0.1:5999: connect: connection refused"), Unavailable),
    ],
)
def test_pull_failures_are_classified(error: DockerAPIError, expected: type[Exception]) -> None:
    docker = FakeDocker()
    docker.pulls[BUSYBOX] = PullScript(progress=0, error=error)
    with pytest.raises(expected):
        pull(docker, BUSYBOX)


# -- ExecSync timeouts -----------------------------------------------------------------


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A real process standing in for the exec'd command, which the shim must kill."""
    process = subprocess.Popen(["sleep", "600"])
    yield process
    process.kill()
    process.wait()


def exec_in_running_container(docker: FakeDocker, request: cri.ExecSyncRequest, rpc=None):
    async def main():
        docker.add_image(BUSYBOX)
        container_id = await docker.create_container(
            "k8s_app_pod_ns_uid_0",
            {"Image": BUSYBOX, "Labels": {"io.kubernetes.docker.type": "container"}},
        )
        await docker.start_container(container_id)
        request.container_id = container_id
        with rpc_deadline(rpc):
            return await shim_exec.exec_sync(backend_for(docker), request), virtualtime.now()

    return virtualtime.run(main())


def test_exec_output_and_exit_code() -> None:
    docker = FakeDocker()
    docker.exec_scripts[("cat", "/etc/hostname")] = ExecScript(
        takes=1.0, exit_code=3, stdout=b"h\n"
    )
    response, _ = exec_in_running_container(
        docker, cri.ExecSyncRequest(cmd=["cat", "/etc/hostname"], timeout=5)
    )
    assert (response.stdout, response.exit_code) == (b"h\n", 3)


def test_exec_timeout_is_deadline_exceeded_and_kills_the_process(
    victim: subprocess.Popen[bytes],
) -> None:
    docker = FakeDocker()
    docker.exec_scripts[("sleep", "600")] = ExecScript(takes=600.0, pid=victim.pid)
    with pytest.raises(DeadlineExceeded, match="timed out after 2s"):
        exec_in_running_container(docker, cri.ExecSyncRequest(cmd=["sleep", "600"], timeout=2))
    assert victim.wait(timeout=10) == -9


def test_exec_without_timeout_ends_at_the_clients_deadline_and_kills_the_process(
    victim: subprocess.Popen[bytes],
) -> None:
    docker = FakeDocker()
    docker.exec_scripts[("sleep", "600")] = ExecScript(takes=600.0, pid=victim.pid)
    with pytest.raises(DeadlineExceeded, match="client deadline exceeded"):
        exec_in_running_container(docker, cri.ExecSyncRequest(cmd=["sleep", "600"]), rpc=7.0)
    assert victim.wait(timeout=10) == -9


def test_a_cancelled_exec_kills_its_process(victim: subprocess.Popen[bytes]) -> None:
    docker = FakeDocker()
    docker.exec_scripts[("sleep", "600")] = ExecScript(takes=600.0, pid=victim.pid)

    async def main() -> None:
        docker.add_image(BUSYBOX)
        container_id = await docker.create_container(
            "k8s_app_pod_ns_uid_0",
            {"Image": BUSYBOX, "Labels": {"io.kubernetes.docker.type": "container"}},
        )
        await docker.start_container(container_id)
        request = cri.ExecSyncRequest(container_id=container_id, cmd=["sleep", "600"])
        task = asyncio.create_task(shim_exec.exec_sync(backend_for(docker), request))
        await asyncio.sleep(30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    virtualtime.run(main())
    assert victim.wait(timeout=10) == -9


# -- OOM-score probe -------------------------------------------------------------------


def probe(docker: FakeDocker, *requested: int) -> list[int]:
    docker.add_image(INFRA_IMAGE)
    policy = OomScorePolicy(docker)

    async def main() -> list[int]:
        # Concurrent callers share one probe.
        return list(await asyncio.gather(*(policy.effective(r, INFRA_IMAGE) for r in requested)))

    return virtualtime.run(main())


def test_negative_scores_pass_where_the_host_allows_them() -> None:
    docker = FakeDocker(negative_oom_allowed=True)
    assert probe(docker, -998, -500, 100) == [-998, -500, 100]
    assert len(docker.calls_to("create_container")) == 1
    assert not docker.containers  # the probe container is gone


def test_negative_scores_become_zero_where_the_kernel_refuses_them() -> None:
    docker = FakeDocker(negative_oom_allowed=False)
    assert probe(docker, -998, -1, 5) == [0, 0, 5]
    assert len(docker.calls_to("create_container")) == 1
    assert not docker.containers


def test_a_failed_probe_passes_the_score_through_and_asks_again_next_time() -> None:
    docker = FakeDocker(negative_oom_allowed=False)
    docker.add_image(INFRA_IMAGE)
    docker.fail["create_container"] = DockerAPIError(500, "disk full")
    policy = OomScorePolicy(docker)

    async def main() -> list[int]:
        return [await policy.effective(-998, INFRA_IMAGE) for _ in range(3)]

    assert virtualtime.run(main()) == [-998, 0, 0]
    assert len(docker.calls_to("create_container")) == 2  # failed, then the verdict, kept


def test_positive_scores_never_probe() -> None:
    docker = FakeDocker()
    assert probe(docker, 0, 1000) == [0, 1000]
    assert not docker.calls


def test_an_exec_whose_container_exits_under_it_ends_as_killed_with_it() -> None:
    # dockerd may never end such an exec's stream; with no timeout and no client
    # deadline, ExecSync would otherwise wait forever.
    docker = FakeDocker()
    docker.exec_scripts[("sleep", "600")] = ExecScript(takes=600.0)

    async def main() -> tuple[cri.ExecSyncResponse, float]:
        docker.add_image(BUSYBOX)
        container_id = await docker.create_container(
            "k8s_app_pod_ns_uid_0",
            {"Image": BUSYBOX, "Labels": {"io.kubernetes.docker.type": "container"}},
        )
        await docker.start_container(container_id)

        async def container_exits() -> None:
            await asyncio.sleep(4.5)
            await docker.stop_container(container_id, 0)

        exits = asyncio.create_task(container_exits())
        request = cri.ExecSyncRequest(container_id=container_id, cmd=["sleep", "600"])
        response = await shim_exec.exec_sync(backend_for(docker), request)
        await exits
        return response, virtualtime.now()

    response, ended_at = virtualtime.run(main())
    assert response.exit_code == shim_exec.KILLED_WITH_CONTAINER
    # Seen at the first check after the exit (at 4.5 s), then the stream's grace.
    assert ended_at == pytest.approx(
        5 * shim_exec.CONTAINER_CHECK_INTERVAL + shim_exec.EXIT_STREAM_GRACE
    )
    assert docker.calls_to("exec_run")[0].outcome == "stopped"
