"""kubelet-lite on the runtime's container events (the kubelet's Evented PLEG)."""

from __future__ import annotations

from criapi.runtime.v1 import api_pb2 as pb
from tests.support.cri import eventually
from tests.support.kubeletlite import KubeletLite

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
    command: ["sh", "-c", "sleep 1; exit 3"]
"""

# Far longer than the test may take: a restart can only come from an event.
SLOW_RELIST = "600"


async def test_a_crashed_container_is_restarted_without_waiting_for_a_relist(
    kubeletlite: KubeletLite,
) -> None:
    manifest = kubeletlite.manifest(CRASHER)
    await kubeletlite.start(
        "run",
        "-f",
        str(manifest),
        "--relist-period",
        SLOW_RELIST,
        "--evented-relist-period",
        SLOW_RELIST,
        "--backoff-initial",
        "0.1",
    )

    async def restarted() -> bool:
        containers: list[pb.Container] = await kubeletlite.containers("crasher")
        return any(c.metadata.attempt >= 1 for c in containers)

    await eventually(restarted, timeout=120)
    assert "container event stream lost" not in kubeletlite.agent_log()
