"""`serve --manifest-dir`: static pods that follow their files, and outlive the agent."""

from __future__ import annotations

import signal
import time

from criapi.runtime.v1 import api_pb2 as pb
from tests.integration.kubeletlite.helpers import (
    container_ids,
    marks,
    pod_uids,
    until,
    wait_file,
    wait_started,
)
from tests.support.cri import eventually
from tests.support.kubeletlite import KubeletLite

STATIC = """
apiVersion: v1
kind: Pod
metadata:
  name: static
  namespace: __NAMESPACE__
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 3
  volumes:
  - name: data
    hostPath: {path: __DATA__, type: DirectoryOrCreate}
  containers:
  - name: app
    image: __IMAGE__
    env: [{name: VERSION, value: "VALUE"}]
    volumeMounts: [{name: data, mountPath: /data}]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo $VERSION >> /data/prestops"]}
"""

MANIFEST = "manifests/static.yaml"


async def running_uids(lite: KubeletLite) -> list[str]:
    return [s.metadata.uid for s in await lite.sandboxes() if s.state == pb.SANDBOX_READY]


async def test_serve_follows_the_manifest_directory(kubeletlite: KubeletLite) -> None:
    directory = kubeletlite.root / "manifests"
    directory.mkdir()
    serve = await kubeletlite.start("serve", "--manifest-dir", str(directory))

    # A file added: its pod starts.
    kubeletlite.manifest(STATIC.replace("VALUE", "one"), MANIFEST)
    await until(lambda: len(pod_uids(kubeletlite, "static")) == 1)
    await wait_started(kubeletlite, "static", "app")
    (first,) = pod_uids(kubeletlite, "static")
    assert await running_uids(kubeletlite) == [first]

    # The file changed: the old pod is terminated (its preStop runs), a new UID replaces it.
    kubeletlite.manifest(STATIC.replace("VALUE", "two"), MANIFEST)
    assert await wait_file(kubeletlite.data_dir / "prestops") == "one\n"
    await until(lambda: len(pod_uids(kubeletlite, "static")) == 2)
    await wait_started(kubeletlite, "static", "app")
    old, new = pod_uids(kubeletlite, "static")
    assert old == first
    assert new != first
    assert await running_uids(kubeletlite) == [new]
    probe = await kubeletlite.exec("static", "app", "sh", "-c", "echo $VERSION")
    assert probe.stdout == b"two\n"

    # The file removed: the pod is terminated.
    (kubeletlite.root / MANIFEST).unlink()
    assert await wait_file(kubeletlite.data_dir / "prestops", "two") == "one\ntwo\n"

    async def no_sandboxes() -> bool:
        return await kubeletlite.sandboxes() == []

    await eventually(no_sandboxes, 30)
    assert serve.returncode is None, "serve keeps watching"
    serve.send_signal(signal.SIGTERM)
    assert await kubeletlite.wait_exit(serve, timeout=20) == 0


async def test_serve_leaves_pods_running_and_a_new_serve_adopts_them(
    kubeletlite: KubeletLite,
) -> None:
    directory = kubeletlite.root / "manifests"
    directory.mkdir()
    kubeletlite.manifest(STATIC.replace("VALUE", "kept"), MANIFEST)
    serve = await kubeletlite.start("serve", "--manifest-dir", str(directory))
    await wait_started(kubeletlite, "static", "app")
    containers = await container_ids(kubeletlite, "static")
    sandboxes = [s.id for s in await kubeletlite.sandboxes()]

    serve.send_signal(signal.SIGTERM)
    assert await kubeletlite.wait_exit(serve, timeout=20) == 0
    status = await kubeletlite.container_status("static", "app")
    assert status is not None
    assert status.state == pb.CONTAINER_RUNNING, "static pods outlive serve"
    assert not (kubeletlite.data_dir / "prestops").exists()
    assert not marks(kubeletlite, "static", "stop.begin")

    restarted_at = time.time()
    again = await kubeletlite.start("serve", "--manifest-dir", str(directory), log_name="b.log")
    await until(lambda: "adopted sandbox" in kubeletlite.agent_log("b.log"))
    (record,) = kubeletlite.pod_records("static")
    await until(lambda: (record / "status.json").stat().st_mtime > restarted_at)
    await wait_started(kubeletlite, "static", "app")
    assert await container_ids(kubeletlite, "static") == containers
    assert [s.id for s in await kubeletlite.sandboxes()] == sandboxes
    assert len(marks(kubeletlite, "static", "created")) == 1
    again.send_signal(signal.SIGTERM)
    assert await kubeletlite.wait_exit(again, timeout=20) == 0
