"""kubelet-lite held against the kubelet: one manifest under both, compared by what the
CRI runtime saw (the shim's sandboxes and containers: metadata, CRI labels and
annotations, start order, restart counts).

Every difference found is either gone or listed in DELIBERATE (and in the README's
list of deliberate differences); an unlisted difference, or a listed one that
disappeared, fails the test, so the two cannot drift apart silently.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from criapi.runtime.v1 import api_pb2 as cri
from tests.support.kubelet import KubeletNode, wait_for
from tests.support.tools import tool

pytestmark = [pytest.mark.kubelet, pytest.mark.slow]

MANIFEST = """
apiVersion: v1
kind: Pod
metadata:
  name: twin
  namespace: __NAMESPACE__
  labels: {app: twin}
  annotations: {team: cri}
spec:
  terminationGracePeriodSeconds: 5
  restartPolicy: Always
  containers:
  - name: first
    image: __IMAGE__
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    ports: [{containerPort: 8080, protocol: TCP}]
    lifecycle:
      postStart:
        exec: {command: ["/bin/sh", "-c", "sleep 1"]}
      preStop:
        exec: {command: ["/bin/sh", "-c", "true"]}
  - name: second
    image: __IMAGE__
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"""

# What differs on purpose, as (object, kind, key) -> why. Kinds: "label" and
# "annotation" (present under one agent only, or with another value), "metadata".
DELIBERATE: dict[tuple[str, str, str], str] = {
    ("sandbox", "metadata", "name"): "static pods get the node name appended (twin-node1)",
    ("sandbox", "metadata", "uid"): "the kubelet hashes manifest and node name into the UID",
    ("sandbox", "label", "io.kubernetes.pod.name"): "the static pod's name (see above)",
    ("sandbox", "label", "io.kubernetes.pod.uid"): "the pod UID (see above)",
    ("sandbox", "label", "kubelet-lite.io/managed"): "marks lite's pods for adoption",
    ("sandbox", "annotation", "kubernetes.io/config.hash"): "kubelet: the pod UID; "
    "lite: its spec hash",
    ("sandbox", "annotation", "kubernetes.io/config.seen"): "lite has no API server "
    "bookkeeping, so it does not record when it first saw the pod",
    ("sandbox", "annotation", "kubelet-lite.io/manifest"): "lite adopts pods from CRI alone",
    ("sandbox", "annotation", "kubelet-lite.io/source"): "the manifest file lite read",
    ("container", "label", "io.kubernetes.pod.name"): "the static pod's name",
    ("container", "label", "io.kubernetes.pod.uid"): "the pod UID",
    ("container", "label", "kubelet-lite.io/managed"): "marks lite's containers",
    ("container", "annotation", "io.kubernetes.container.hash"): "the kubelet hashes its Go "
    "struct (fnv32a); lite hashes the manifest's container",
    ("container", "annotation", "kubelet-lite.io/postStartHandler"): "lite runs a postStart "
    "cut short by its own crash once more after the restart, so it keeps the handler",
}


def snapshot(node: KubeletNode) -> dict[str, Any]:
    """What the shim holds for the pod: one sandbox, containers in creation order."""
    (sandbox,) = node.sandboxes()
    status = node.runtime.PodSandboxStatus(
        cri.PodSandboxStatusRequest(pod_sandbox_id=sandbox.id), timeout=30
    ).status
    containers = sorted(node.containers(), key=lambda c: c.created_at)
    return {
        "sandbox": {
            "metadata": {
                "name": sandbox.metadata.name,
                "namespace": sandbox.metadata.namespace,
                "uid": sandbox.metadata.uid,
                "attempt": str(sandbox.metadata.attempt),
            },
            "label": dict(sandbox.labels),
            "annotation": dict(status.annotations),
        },
        "containers": [
            {
                "metadata": {"name": c.metadata.name, "attempt": str(c.metadata.attempt)},
                "label": dict(c.labels),
                "annotation": dict(c.annotations),
            }
            for c in containers
        ],
    }


def differences(kubelet: dict[str, Any], lite: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """(object, kind, key) -> "kubelet value | lite value" for every mismatch."""
    found: dict[tuple[str, str, str], str] = {}

    def compare(what: str, a: dict[str, Any], b: dict[str, Any]) -> None:
        for kind in ("metadata", "label", "annotation"):
            for key in sorted(set(a[kind]) | set(b[kind])):
                left, right = a[kind].get(key), b[kind].get(key)
                if not same(key, left, right):
                    found[(what, kind, key)] = f"{left!r} | {right!r}"

    compare("sandbox", kubelet["sandbox"], lite["sandbox"])
    assert [c["metadata"]["name"] for c in kubelet["containers"]] == [
        c["metadata"]["name"] for c in lite["containers"]
    ], "container start order"
    for a, b in zip(kubelet["containers"], lite["containers"], strict=True):
        compare("container", a, b)
    return found


def same(key: str, left: str | None, right: str | None) -> bool:
    if left is None or right is None:
        return left == right
    if key.endswith("Handler") or key.endswith(".ports"):
        return bool(json.loads(left) == json.loads(right))
    return left == right


def run_under_kubelet(node: KubeletNode) -> dict[str, Any]:
    node.add_pod("twin", MANIFEST)
    node.wait_running("twin", "first", "second")
    return snapshot(node)


def start_kubeletlite(node: KubeletNode, manifests: Path) -> subprocess.Popen[bytes]:
    """`kubeletlite serve` on ``manifests`` against the node's shim."""
    with open(node.work / "kubeletlite.log", "wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeletlite",
                "--runtime-endpoint",
                node.shim.endpoint,
                "--state-dir",
                str(node.work / "lite-state"),
                "serve",
                "--manifest-dir",
                str(manifests),
                "--pod-logs-dir",
                str(node.work / "lite-pod-logs"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def run_under_kubeletlite(node: KubeletNode) -> dict[str, Any]:
    manifests = node.work / "lite-manifests"
    manifests.mkdir()
    (manifests / "twin.yaml").write_text(node.render(MANIFEST))
    agent = start_kubeletlite(node, manifests)
    try:

        def both_running() -> bool:
            running = [c for c in node.containers() if c.state == cri.CONTAINER_RUNNING]
            return len(running) == 2

        wait_for(both_running, 60, "both containers running under kubelet-lite")
        return snapshot(node)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)


@pytest.fixture
def lite_node(tmp_path: Path, node: KubeletNode):
    """A second scoped shim, for kubelet-lite (no kubelet on it), in the kubelet's namespace."""
    lite = KubeletNode(tool("kubelet"), tmp_path / "lite", prefix="kubeletlite-e2e")
    lite.namespace = node.namespace
    try:
        lite.shim.start()
        yield lite
    finally:
        lite.close()


def test_kubeletlite_writes_what_the_kubelet_writes(
    node: KubeletNode, lite_node: KubeletNode
) -> None:
    kubelet = run_under_kubelet(node)
    lite = run_under_kubeletlite(lite_node)
    found = differences(kubelet, lite)
    print("kubelet | kubelet-lite differences:")
    for key, values in sorted(found.items()):
        print(f"  {key}: {values}")
    unexplained = {k: v for k, v in found.items() if k not in DELIBERATE}
    gone = sorted(k for k in DELIBERATE if k not in found)
    assert unexplained == {}, "differences not in DELIBERATE (fix, or document them)"
    assert gone == [], "DELIBERATE lists differences that no longer exist"
    restart_counts = [
        (c["metadata"]["name"], c["annotation"].get("io.kubernetes.container.restartCount"))
        for c in kubelet["containers"] + lite["containers"]
    ]
    assert all(count == "0" for _, count in restart_counts), restart_counts


CRASHING = """
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: __NAMESPACE__}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: __IMAGE__
    command: ["/bin/sh", "-c", "exit 1"]
"""


def attempts(node: KubeletNode, count: int, timeout: float) -> list[tuple[int, float, str]]:
    """(attempt, creation in seconds, restartCount annotation) of the first ``count``
    attempts, recorded as they appear (the kubelet garbage-collects old ones)."""
    seen: dict[int, tuple[float, str]] = {}

    def enough() -> bool:
        for c in node.containers():
            seen.setdefault(
                c.metadata.attempt,
                (c.created_at / 1e9, c.annotations.get("io.kubernetes.container.restartCount", "")),
            )
        return len(seen) >= count

    wait_for(enough, timeout, f"{count} attempts of the crashing container", every=0.5)
    return [(a, *seen[a]) for a in sorted(seen)][:count]


def test_crash_loop_restart_counts_and_backoff_match(
    node: KubeletNode, lite_node: KubeletNode
) -> None:
    """Same attempts and restartCount annotations, and the same back-off shape: the first
    crash restarted at once, then waits of 10 s, 20 s... (measured here: kubelet 3 s then
    15 s, kubelet-lite 2 s then 12 s)."""
    node.add_pod("crasher", CRASHING)
    under_kubelet = attempts(node, 3, 120)
    manifests = lite_node.work / "lite-manifests"
    manifests.mkdir()
    (manifests / "crasher.yaml").write_text(lite_node.render(CRASHING))
    agent = start_kubeletlite(lite_node, manifests)
    try:
        under_lite = attempts(lite_node, 3, 120)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    print(f"kubelet attempts: {under_kubelet}\nkubelet-lite attempts: {under_lite}")
    assert [(a, n) for a, _, n in under_kubelet] == [(0, "0"), (1, "1"), (2, "2")]
    assert [(a, n) for a, _, n in under_lite] == [(0, "0"), (1, "1"), (2, "2")]
    for runs in (under_kubelet, under_lite):
        gaps = [b[1] - a[1] for a, b in itertools.pairwise(runs)]
        assert gaps[1] > gaps[0], gaps
