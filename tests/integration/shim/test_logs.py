"""Container output in CRI-format log files, as the kubelet and ``crictl logs`` read them."""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import grpc
import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.support import env
from tests.support.cri import CriClient, Workspace, eventually, rpc_error
from tests.support.processes import ShimProcess, short_socket_dir

CRI_LINE = re.compile(
    rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) (F|P) (.*)$"
)


def log_file(pod: pb.PodSandboxConfig, config: pb.ContainerConfig) -> Path:
    return Path(pod.log_directory) / config.log_path


def read_lines(path: Path) -> list[tuple[str, str, bytes]]:
    """(stream, F|P, text) of every line; a line not in CRI format fails the test."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    assert not data or data.endswith(b"\n"), data[-200:]
    entries = []
    for raw in data.split(b"\n")[:-1]:
        match = CRI_LINE.match(raw)
        assert match, raw[:200]
        entries.append((match[2].decode(), match[3].decode(), match[4]))
    return entries


def texts(path: Path, stream: str) -> list[bytes]:
    return [text for s, _, text in read_lines(path) if s == stream]


async def has_lines(path: Path, count: int) -> bool:
    return len(read_lines(path)) >= count


async def test_stdout_and_stderr_are_logged_in_cri_format(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod()
    config = workspace.container_config(
        "talker", ["sh", "-c", "echo out-1; echo err-1 >&2; echo out-2; echo 'err 2  spaced' >&2"]
    )
    container_id = await workspace.run_container(pod_id, pod, config)
    await workspace.wait_exit(container_id)
    path = log_file(pod, config)

    await eventually(lambda: has_lines(path, 4))

    entries = read_lines(path)
    assert {(s, text) for s, _, text in entries} == {
        ("stdout", b"out-1"),
        ("stdout", b"out-2"),
        ("stderr", b"err-1"),
        ("stderr", b"err 2  spaced"),
    }
    assert texts(path, "stdout") == [b"out-1", b"out-2"]
    assert texts(path, "stderr") == [b"err-1", b"err 2  spaced"]
    assert {tag for _, tag, _ in entries} == {"F"}
    assert (await workspace.status(container_id)).log_path == str(path)


async def test_a_line_longer_than_16k_is_split_into_partial_fragments(
    workspace: Workspace,
) -> None:
    expected = "".join(str(n) for n in range(1, 10001)).encode()
    assert len(expected) > 2 * 16 * 1024
    pod_id, pod = await workspace.run_pod()
    config = workspace.container_config(
        "long", ["sh", "-c", "seq 1 10000 | tr -d '\\n'; echo; echo after"]
    )
    container_id = await workspace.run_container(pod_id, pod, config)
    await workspace.wait_exit(container_id)
    path = log_file(pod, config)

    await eventually(lambda: has_lines(path, 4))

    entries = read_lines(path)
    tags = "".join(tag for _, tag, _ in entries)
    assert re.fullmatch(r"P{2,}FF", tags), tags
    assert b"".join(text for _, _, text in entries[:-1]) == expected
    assert entries[-1] == ("stdout", "F", b"after")


async def test_a_tty_container_is_logged(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod()
    config = workspace.container_config(
        "tty", ["sh", "-c", "echo hello-tty; echo second-line"], tty=True
    )
    container_id = await workspace.run_container(pod_id, pod, config)
    await workspace.wait_exit(container_id)
    path = log_file(pod, config)

    await eventually(lambda: has_lines(path, 2))

    assert read_lines(path) == [("stdout", "F", b"hello-tty"), ("stdout", "F", b"second-line")]


async def test_reopen_container_log_starts_a_new_file(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod()
    # "before" at once; "after" only once the test creates /tmp/go.
    script = "echo before; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after; sleep 3600"
    config = workspace.container_config("rotated", ["sh", "-c", script])
    container_id = await workspace.run_container(pod_id, pod, config)
    path = log_file(pod, config)
    await eventually(lambda: has_lines(path, 1))
    rotated = path.with_name(path.name + ".20240101-000000")
    path.rename(rotated)

    await workspace.cri.runtime.ReopenContainerLog(
        pb.ReopenContainerLogRequest(container_id=container_id)
    )

    assert path.exists()
    assert (await workspace.exec(container_id, "touch", "/tmp/go")).exit_code == 0
    await eventually(lambda: has_lines(path, 1))
    assert read_lines(path) == [("stdout", "F", b"after")]
    assert read_lines(rotated) == [("stdout", "F", b"before")]


async def test_reopen_container_log_of_a_stopped_container_fails(workspace: Workspace) -> None:
    pod_id, pod = await workspace.run_pod()
    config = workspace.container_config("quitter", ["true"])
    container_id = await workspace.run_container(pod_id, pod, config)
    await workspace.wait_exit(container_id)

    error = await rpc_error(
        workspace.cri.runtime.ReopenContainerLog(
            pb.ReopenContainerLogRequest(container_id=container_id)
        )
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert container_id in error.details()


@pytest.fixture
async def restartable_shim(tmp_path: Path) -> AsyncIterator[ShimProcess]:
    """A shim of its own, to kill -9; the test starts its successors on the same socket.

    Scoped to an instance of its own: on start-up a shim resumes the logs of
    every container it sees, and two shims copying one container's output
    into the same file write every line twice.
    """
    socket_dir = short_socket_dir()
    shim = ShimProcess(
        socket_dir / "cri.sock",
        tmp_path / "shim.log",
        args=["--instance", f"test-logs-{uuid.uuid4().hex[:12]}"],
        env={"DOCKER_HOST": env.DOCKER_HOST},
    )
    try:
        await asyncio.to_thread(shim.start)
        yield shim
        assert shim.process is not None
        code = await asyncio.to_thread(shim.stop)
        assert code == 0, shim.log_text()
    finally:
        if shim.process is not None and shim.process.poll() is None:
            await asyncio.to_thread(shim.kill)
        shutil.rmtree(socket_dir, ignore_errors=True)


async def test_no_line_is_lost_or_duplicated_across_a_kill_of_the_shim(
    restartable_shim: ShimProcess, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    count = 1500
    workspace = Workspace(CriClient(restartable_shim.endpoint), docker, tmp_path / "pod-logs")
    try:
        pod_id, pod = await workspace.run_pod()
        script = (
            f"i=0; while [ $i -lt {count} ]; do "
            "echo out-$i; echo err-$i >&2; i=$((i+1)); usleep 2000; done"
        )
        config = workspace.container_config("counter", ["sh", "-c", script])
        container_id = await workspace.run_container(pod_id, pod, config)
        path = log_file(pod, config)
        await eventually(lambda: has_lines(path, 200))

        await asyncio.to_thread(restartable_shim.kill)
        assert len(read_lines(path)) < 2 * count, "the container finished before the kill"
        await asyncio.to_thread(restartable_shim.start)
        await workspace.cri.close()
        workspace.cri = CriClient(restartable_shim.endpoint)
        await workspace.wait_exit(container_id)

        last = str(count - 1).encode()
        await eventually(lambda: has_texts(path, [b"out-" + last, b"err-" + last]), timeout=20)
        for stream, prefix in (("stdout", b"out-"), ("stderr", b"err-")):
            seen = Counter(texts(path, stream))
            expected = Counter(prefix + str(n).encode() for n in range(count))
            duplicated = sorted(text for text, times in seen.items() if times > 1)
            missing = sorted(expected - seen)
            assert seen == expected, f"{stream}: missing {missing[:10]}, twice {duplicated[:10]}"
    finally:
        await workspace.cleanup()
        await workspace.cri.close()


async def has_texts(path: Path, needles: list[bytes]) -> bool:
    found = {text for _, _, text in read_lines(path)}
    return all(needle in found for needle in needles)


async def test_output_ending_just_after_a_restart_of_the_shim_is_logged_once(
    restartable_shim: ShimProcess, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    """The container exits within the resume window of the restart (issue #8).

    The copier reads dockerd's log once more after the exit, from a window
    that reaches back into what the killed shim wrote. Every line is the same
    text (``yes``), so lines are told apart only by their count.
    """
    batch = 300
    workspace = Workspace(CriClient(restartable_shim.endpoint), docker, tmp_path / "pod-logs")
    try:
        pod_id, pod = await workspace.run_pod()
        burst = f"i=0; while [ $i -lt {batch} ]; do echo y; echo y >&2; i=$((i+1)); done"
        script = f"{burst}; {WAIT_FOR_GO}; {burst}"
        config = workspace.container_config(
            "yes", ["sh", "-c", script], mounts=[go_mount(tmp_path)]
        )
        container_id = await workspace.run_container(pod_id, pod, config)
        path = log_file(pod, config)
        await eventually(lambda: has_lines(path, 2 * batch))

        await asyncio.to_thread(restartable_shim.kill)
        await asyncio.to_thread(restartable_shim.start)
        await workspace.cri.close()
        workspace.cri = CriClient(restartable_shim.endpoint)
        (tmp_path / "release" / "go").touch()
        await workspace.wait_exit(container_id)

        # The status wait_exit read is answered once the copier is done (within a bound).
        await eventually(lambda: has_lines(path, 4 * batch), timeout=20)
        assert Counter((stream, text) for stream, _, text in read_lines(path)) == {
            ("stdout", b"y"): 2 * batch,
            ("stderr", b"y"): 2 * batch,
        }
    finally:
        await workspace.cleanup()
        await workspace.cri.close()


async def test_a_second_shim_on_the_same_dockerd_leaves_a_log_being_copied_alone(
    restartable_shim: ShimProcess, docker: aiodocker.Docker, tmp_path: Path
) -> None:
    """A shim that starts while another copies a container's output writes none of it.

    Both see the container (the same ``--instance``): without the file lock
    each would append every line of the second burst.
    """
    batch = 200
    workspace = Workspace(CriClient(restartable_shim.endpoint), docker, tmp_path / "pod-logs")
    socket_dir = short_socket_dir()
    second = ShimProcess(
        socket_dir / "cri.sock",
        tmp_path / "second-shim.log",
        args=restartable_shim.args,
        env={"DOCKER_HOST": env.DOCKER_HOST},
    )
    try:
        pod_id, pod = await workspace.run_pod()
        burst = f"i=0; while [ $i -lt {batch} ]; do echo out-$i; echo err-$i >&2; i=$((i+1)); done"
        script = f"{burst}; {WAIT_FOR_GO}; {burst}"
        config = workspace.container_config(
            "twice", ["sh", "-c", script], mounts=[go_mount(tmp_path)]
        )
        container_id = await workspace.run_container(pod_id, pod, config)
        path = log_file(pod, config)
        await eventually(lambda: has_lines(path, 2 * batch))

        await asyncio.to_thread(second.start)
        refusal = f"not copying the log of {container_id[:12]}"
        await eventually(lambda: logged(second, refusal), timeout=20)
        (tmp_path / "release" / "go").touch()
        await workspace.wait_exit(container_id)

        await eventually(lambda: has_lines(path, 4 * batch), timeout=20)
        expected = Counter(b"%s-%d" % (name, n) for name in (b"out", b"err") for n in range(batch))
        assert Counter(text for _, _, text in read_lines(path)) == expected + expected
    finally:
        await workspace.cleanup()
        await workspace.cri.close()
        if second.process is not None and second.process.poll() is None:
            await asyncio.to_thread(second.stop)
        shutil.rmtree(socket_dir, ignore_errors=True)


async def logged(shim: ShimProcess, needle: str) -> bool:
    return needle in shim.log_text()


# The container waits for the test's go, through a mount (an exec racing the
# container's exit would test ExecSync, not the log).
WAIT_FOR_GO = "while [ ! -e /release/go ]; do usleep 20000; done"


def go_mount(tmp_path: Path) -> pb.Mount:
    release = tmp_path / "release"
    release.mkdir(exist_ok=True)
    return pb.Mount(container_path="/release", host_path=str(release))
