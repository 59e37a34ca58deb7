"""Nothing is lost when kubelet-lite itself dies: a new process adopts the pods as they
are, finishes an interrupted postStart, and `delete` works with or without a supervisor."""

from __future__ import annotations

import os
import time

from criapi.runtime.v1 import api_pb2 as pb
from tests.integration.kubeletlite.helpers import (
    container_doc,
    container_ids,
    events,
    kill9,
    marks,
    run,
    sandbox_ids,
    until,
    wait_file,
    wait_marks,
    wait_started,
)
from tests.support.kubeletlite import KubeletLite

ADOPTED = """
apiVersion: v1
kind: Pod
metadata:
  name: adopted
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 5
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: app
    image: __IMAGE__
    volumeMounts: [{name: data, mountPath: /data}]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "echo once >> /data/poststart"]}
      preStop:
        exec: {command: ["sh", "-c", "echo from the stored handler > /data/prestop"]}
  - name: sidecar
    image: __IMAGE__
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"""


def status_mtime(lite: KubeletLite, pod: str) -> float:
    (record,) = [d for d in lite.record_dirs() if d.name.startswith(f"{lite.namespace}_{pod}_")]
    try:
        return os.stat(record / "status.json").st_mtime
    except FileNotFoundError:
        return 0.0


async def synced_after(lite: KubeletLite, pod: str, moment: float) -> None:
    """Until the (new) supervisor has published the pod's status once after ``moment``."""
    await until(lambda: status_mtime(lite, pod) > moment)


async def test_a_restarted_run_adopts_its_pods(kubeletlite: KubeletLite) -> None:
    manifest = kubeletlite.manifest(ADOPTED)
    first = await run(kubeletlite, manifest)
    await wait_started(kubeletlite, "adopted", "app", "sidecar")
    sandboxes = await sandbox_ids(kubeletlite)
    containers = await container_ids(kubeletlite, "adopted")
    created = marks(kubeletlite, "adopted", "created")

    await kill9(kubeletlite, first)
    for name in ("app", "sidecar"):
        status = await kubeletlite.container_status("adopted", name)
        assert status is not None
        assert status.state == pb.CONTAINER_RUNNING, "the pods outlive their supervisor"

    restarted_at = time.time()
    second = await run(kubeletlite, manifest, log_name="agent2.log")
    await until(lambda: "adopted sandbox" in kubeletlite.agent_log("agent2.log"))
    await synced_after(kubeletlite, "adopted", restarted_at)
    await wait_started(kubeletlite, "adopted", "app", "sidecar")

    assert await sandbox_ids(kubeletlite) == sandboxes
    assert await container_ids(kubeletlite, "adopted") == containers
    assert marks(kubeletlite, "adopted", "created") == created
    assert [
        container_doc(kubeletlite, "adopted", n)["restartCount"] for n in ("app", "sidecar")
    ] == [0, 0]
    # postStart had completed: it is not run again.
    assert (kubeletlite.data_dir / "poststart").read_text() == "once\n"

    deleted = await kubeletlite.cli("delete", "pod", "adopted", "-n", kubeletlite.namespace)
    assert deleted.returncode == 0, deleted
    assert await wait_file(kubeletlite.data_dir / "prestop") == "from the stored handler\n"
    assert await kubeletlite.wait_exit(second) != 0
    assert await kubeletlite.sandboxes() == []


INTERRUPTED = """
apiVersion: v1
kind: Pod
metadata:
  name: interrupted
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 5
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: app
    image: __IMAGE__
    volumeMounts: [{name: data, mountPath: /data}]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "sleep 2"]}
      preStop:
        exec: {command: ["sh", "-c", "echo stopped by delete > /data/prestop"]}
"""


async def test_a_poststart_interrupted_by_a_crash_runs_again(kubeletlite: KubeletLite) -> None:
    manifest = kubeletlite.manifest(INTERRUPTED)
    first = await run(kubeletlite, manifest)
    (begin,) = await wait_marks(kubeletlite, "interrupted", "postStart.begin")
    await kill9(kubeletlite, first)
    assert not marks(kubeletlite, "interrupted", "postStart.end")

    second = await run(kubeletlite, manifest, log_name="agent2.log")
    await wait_marks(kubeletlite, "interrupted", "postStart.end")
    await wait_started(kubeletlite, "interrupted", "app")
    container_id = begin["container_id"]
    begins = marks(kubeletlite, "interrupted", "postStart.begin")
    assert [m["container_id"] for m in begins] == [container_id, container_id]
    (end,) = marks(kubeletlite, "interrupted", "postStart.end")
    assert (end["container_id"], end["ok"]) == (container_id, True)
    assert await container_ids(kubeletlite, "interrupted") == {"app": [container_id]}
    assert "resuming the interrupted postStart" in kubeletlite.agent_log("agent2.log")

    # With no supervisor at all, `delete` itself terminates the pod, preStop included.
    await kill9(kubeletlite, second)
    deleted = await kubeletlite.cli("delete", "pod", "interrupted", "-n", kubeletlite.namespace)
    assert (deleted.returncode, deleted.stdout) == (0, 'pod "interrupted" deleted\n'), deleted
    assert (kubeletlite.data_dir / "prestop").read_text() == "stopped by delete\n"
    assert [m["what"] for m in marks(kubeletlite, "interrupted")][-5:] == [
        "preStop.begin",
        "preStop.end",
        "stop.begin",
        "stop.end",
        "exited",
    ]
    assert [e["message"] for e in events(kubeletlite, "interrupted", "Killing")] == [
        "Stopping container app"
    ]
    assert await kubeletlite.sandboxes() == []
    assert kubeletlite.status("interrupted")["phase"] == "Deleted"
