"""postStart: concurrent with the entrypoint (the design document's experiment, 4.1),
and the start sequence around it: image, create, start, hook, then the next container."""

from __future__ import annotations

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from tests.integration.kubeletlite.helpers import (
    container_doc,
    events,
    marks,
    run,
    seconds,
    until,
    uptime_lines,
    wait_file,
    wait_marks,
    wait_started,
)
from tests.support.kubeletlite import KubeletLite

EXPERIMENT = """
apiVersion: v1
kind: Pod
metadata:
  name: test-post-start
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: test-post-start-container
    image: __IMAGE__
    volumeMounts: [{name: data, mountPath: /data}]
    command:
    - /bin/sh
    - -c
    - |
      trap 'exit 0' TERM
      sleep ENTRYPOINT_DELAY
      read up idle < /proc/uptime
      echo "$up written by entrypoint" >> /data/log.log
      sleep 3600 & wait
    lifecycle:
      postStart:
        exec:
          command:
          - /bin/sh
          - -c
          - |
            sleep HOOK_DELAY
            read up idle < /proc/uptime
            echo "$up written by post start" >> /data/log.log
"""


@pytest.mark.parametrize(
    ("entrypoint_delay", "hook_delay", "first", "second"),
    [
        pytest.param(1, 2, "written by entrypoint", "written by post start", id="entrypoint-first"),
        pytest.param(2, 1, "written by post start", "written by entrypoint", id="poststart-first"),
    ],
)
async def test_poststart_runs_alongside_the_entrypoint(
    kubeletlite: KubeletLite, entrypoint_delay: int, hook_delay: int, first: str, second: str
) -> None:
    """If postStart held the entrypoint back, the entrypoint's line would always come last,
    ENTRYPOINT_DELAY after the hook's; it comes in the order of the two delays, 1 s apart."""
    text = EXPERIMENT.replace("ENTRYPOINT_DELAY", str(entrypoint_delay))
    manifest = kubeletlite.manifest(text.replace("HOOK_DELAY", str(hook_delay)))
    await run(kubeletlite, manifest)

    log = kubeletlite.data_dir / "log.log"
    await wait_file(log, "written by entrypoint")
    await wait_file(log, "written by post start")

    lines = uptime_lines(log)
    # The order alone shows the concurrency (no gap bound: a loaded machine stretches it);
    # the timing is decided with a fake clock in tests/fast/kubeletlite/test_podworker.py.
    assert [text for _, text in lines] == [first, second]
    # The hook ran once, and the container was not reported started before it ended.
    await wait_started(kubeletlite, "test-post-start", "test-post-start-container")
    assert [m["what"] for m in marks(kubeletlite, "test-post-start")] == [
        "created",
        "started",
        "postStart.begin",
        "postStart.end",
    ]


GATE = (
    "i=0; while [ ! -e /data/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
    "[ -e /data/go ]"
)

TWO_CONTAINERS = f"""
apiVersion: v1
kind: Pod
metadata:
  name: sequence
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  volumes:
  - name: data
    hostPath: {{path: __DATA__, type: DirectoryOrCreate}}
  containers:
  - name: first
    image: __IMAGE__
    imagePullPolicy: Always
    volumeMounts: [{{name: data, mountPath: /data}}]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "{GATE}"]
  - name: second
    image: __IMAGE__
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"""


async def test_start_sequence_waits_for_poststart(kubeletlite: KubeletLite) -> None:
    """Pull, create, start, postStart; the container counts as started only after its hook,
    and the next container is not even created before that (kubernetes/kubernetes#81450)."""
    await run(kubeletlite, kubeletlite.manifest(TWO_CONTAINERS))
    (begin,) = await wait_marks(kubeletlite, "sequence", "postStart.begin", "first")

    # The hook is held by the gate: the entrypoint runs, yet the container is not started.
    def reported() -> bool:
        doc = container_doc(kubeletlite, "sequence", "first")
        return bool(doc.get("containerId") == begin["container_id"])

    await until(reported)
    doc = container_doc(kubeletlite, "sequence", "first")
    assert (doc["state"], doc["reason"], doc["started"]) == ("waiting", "ContainerCreating", False)
    status = await kubeletlite.container_status("sequence", "first")
    assert status is not None
    assert (status.id, status.state) == (begin["container_id"], pb.CONTAINER_RUNNING)
    assert not marks(kubeletlite, "sequence", container="second")
    table = await kubeletlite.cli("get", "pods", "-n", kubeletlite.namespace)
    assert table.stdout.splitlines()[1].split()[:4] == ["sequence", "0/2", "ContainerCreating", "0"]

    (kubeletlite.data_dir / "go").touch()
    await wait_started(kubeletlite, "sequence", "first", "second")

    first = {m["what"]: seconds(m) for m in marks(kubeletlite, "sequence", container="first")}
    assert list(first) == ["created", "started", "postStart.begin", "postStart.end"]
    assert first["created"] <= first["started"] <= first["postStart.begin"]
    assert first["postStart.begin"] < first["postStart.end"]
    second = {m["what"]: seconds(m) for m in marks(kubeletlite, "sequence", container="second")}
    assert list(second) == ["created", "started"]
    assert second["created"] >= first["postStart.end"]

    by_container = {
        name: [
            (e["reason"], e["message"])
            for e in events(kubeletlite, "sequence")
            if e["container"] == name
        ]
        for name in ("first", "second")
    }
    image = by_container["second"][0][1].split('"')[1]
    # imagePullPolicy Always pulls even though the image is present.
    assert by_container["first"] == [
        ("Pulling", f'Pulling image "{image}"'),
        ("Pulled", by_container["first"][1][1]),
        ("Created", "Created container: first"),
        ("Started", "Started container first"),
    ]
    assert by_container["first"][1][1].startswith(f'Successfully pulled image "{image}" in ')
    assert by_container["second"] == [
        ("Pulled", f'Container image "{image}" already present on machine'),
        ("Created", "Created container: second"),
        ("Started", "Started container second"),
    ]
    # The second container's image step itself waited for the first one's hook.
    second_pulled = next(e for e in events(kubeletlite, "sequence") if e["container"] == "second")
    assert seconds(second_pulled) >= first["postStart.end"]

    table = await kubeletlite.cli("get", "pods", "-n", kubeletlite.namespace)
    assert table.stdout.splitlines()[1].split()[:4] == ["sequence", "2/2", "Running", "0"]


async def test_parallel_start_does_not_wait_for_poststart(kubeletlite: KubeletLite) -> None:
    await run(kubeletlite, kubeletlite.manifest(TWO_CONTAINERS), "--parallel-start")
    # The second container starts while the first one's hook is still held.
    await wait_marks(kubeletlite, "sequence", "started", "second")
    await wait_marks(kubeletlite, "sequence", "postStart.begin", "first")
    assert not marks(kubeletlite, "sequence", "postStart.end", "first")
    assert container_doc(kubeletlite, "sequence", "first").get("started") is not True

    (kubeletlite.data_dir / "go").touch()
    await wait_started(kubeletlite, "sequence", "first", "second")
    (end,) = marks(kubeletlite, "sequence", "postStart.end", "first")
    (created,) = marks(kubeletlite, "sequence", "created", "second")
    assert seconds(created) < seconds(end)
