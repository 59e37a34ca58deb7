"""Restart policy (Always, OnFailure, Never), restart count as the CRI attempt, and
crash-loop back-off."""

from __future__ import annotations

import itertools
from pathlib import Path

from criapi.runtime.v1 import api_pb2 as pb
from tests.integration.kubeletlite.helpers import (
    container_doc,
    events,
    marks,
    run,
    seconds,
    until,
    wait_event,
    wait_marks,
)
from tests.support.kubeletlite import KubeletLite

POLICIES = """
apiVersion: v1
kind: Pod
metadata:
  name: on-failure
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 1
  containers:
  - name: fails
    image: __IMAGE__
    command: ["sh", "-c", "echo failing; exit 1"]
  - name: succeeds
    image: __IMAGE__
    command: ["sh", "-c", "echo done; exit 0"]
---
apiVersion: v1
kind: Pod
metadata:
  name: never
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "exit 1"]
---
apiVersion: v1
kind: Pod
metadata:
  name: always
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "echo run; exit 0"]
"""


def read(path: str) -> str:
    return Path(path).read_text()


async def attempts(lite: KubeletLite, pod: str, name: str) -> list[pb.ContainerStatus]:
    """CRI status of every container ``name`` of ``pod``, by attempt."""
    found = [c for c in await lite.containers(pod) if c.metadata.name == name]
    statuses = [
        (
            await lite.cri.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=c.id))
        ).status
        for c in found
    ]
    return sorted(statuses, key=lambda s: s.metadata.attempt)


async def test_restart_policies(kubeletlite: KubeletLite) -> None:
    """OnFailure restarts the container that failed, not the one that succeeded; Never
    restarts nothing; Always restarts a container that exited 0. The default back-off
    (10 s) holds every second restart, so each restarted container is seen at attempt 1."""
    await run(kubeletlite, kubeletlite.manifest(POLICIES))
    # The first restart is immediate; after the second exit the back-off holds it.
    for pod, name in (("on-failure", "fails"), ("always", "app")):
        await wait_event(kubeletlite, pod, "BackOff")

        def backing_off(pod: str = pod, name: str = name) -> bool:
            return container_doc(kubeletlite, pod, name).get("reason") == "CrashLoopBackOff"

        await until(backing_off)
    await until(lambda: kubeletlite.status("never").get("phase") == "Failed")

    assert [s.exit_code for s in await attempts(kubeletlite, "on-failure", "fails")] == [1, 1]
    assert [s.exit_code for s in await attempts(kubeletlite, "on-failure", "succeeds")] == [0]
    assert len(marks(kubeletlite, "on-failure", "started", "succeeds")) == 1
    succeeded = container_doc(kubeletlite, "on-failure", "succeeds")
    assert (succeeded["state"], succeeded["exitCode"], succeeded["restartCount"]) == (
        "terminated",
        0,
        0,
    )
    failing = container_doc(kubeletlite, "on-failure", "fails")
    assert (failing["state"], failing["reason"], failing["restartCount"]) == (
        "waiting",
        "CrashLoopBackOff",
        1,
    )
    (backoff,) = events(kubeletlite, "on-failure", "BackOff")
    assert backoff["container"] == "fails"
    assert backoff["message"].startswith("Back-off restarting failed container fails in pod ")

    assert [s.exit_code for s in await attempts(kubeletlite, "never", "app")] == [1]
    assert not events(kubeletlite, "never", "BackOff")

    # Always: the restart count is the CRI attempt, in the metadata and the log path.
    restarted = await attempts(kubeletlite, "always", "app")
    assert [s.metadata.attempt for s in restarted] == [0, 1]
    assert [s.exit_code for s in restarted] == [0, 0]
    assert [Path(s.log_path).parts[-2:] for s in restarted] == [("app", "0.log"), ("app", "1.log")]
    for status in restarted:
        assert status.annotations["io.kubernetes.container.restartCount"] == str(
            status.metadata.attempt
        )
        assert "stdout F run" in read(status.log_path)
    assert container_doc(kubeletlite, "always", "app")["restartCount"] == 1
    logs = await kubeletlite.cli("logs", "always", "-n", kubeletlite.namespace)
    assert logs.stdout == "run\n"  # the current attempt's log

    table = await kubeletlite.cli("get", "pods", "-n", kubeletlite.namespace)
    rows = {line.split()[0]: line.split()[1:4] for line in table.stdout.splitlines()[1:]}
    assert rows["never"] == ["0/1", "Error", "0"]
    assert rows["always"] == ["0/1", "CrashLoopBackOff", "1"]
    assert rows["on-failure"] == ["0/2", "CrashLoopBackOff", "1"]


CRASHER = """
apiVersion: v1
kind: Pod
metadata:
  name: crasher
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: __IMAGE__
    command: ["sh", "-c", "exit 1"]
"""


async def test_crash_loop_back_off(kubeletlite: KubeletLite) -> None:
    """--backoff-initial 1 --backoff-max 2: restart at once, then after 1 s, then 2 s, and
    never more often."""
    agent_args = ("--backoff-initial", "1", "--backoff-max", "2")
    await run(kubeletlite, kubeletlite.manifest(CRASHER), *agent_args)
    starts = [seconds(m) for m in await wait_marks(kubeletlite, "crasher", "started", count=5)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]

    # The first restart is immediate: nothing waited for a back-off before it.
    backoffs = events(kubeletlite, "crasher", "BackOff")
    assert min(seconds(e) for e in backoffs) > starts[1]
    # Then 1 s, then 2 s (the maximum), counted from the container's exit, which may come a
    # moment before its "started" mark is written.
    assert gaps[1] >= 0.8
    assert gaps[2] >= 1.8
    # The cap itself (no gap above --backoff-max) is decided with a fake clock in
    # tests/fast/kubeletlite/test_podworker.py; here only lower bounds, which load cannot break.
    assert gaps[3] >= 1.8
    assert len(backoffs) >= 3
    assert all(e["type"] == "Warning" for e in backoffs)
    # Every start is its own container, numbered by restart count.
    ids = [m["container_id"] for m in marks(kubeletlite, "crasher", "started")]
    assert len(set(ids)) == len(ids)
