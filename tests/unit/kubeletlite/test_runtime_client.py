"""Which of a pod's sandboxes and a container's attempts is the newest (runtime.client)."""

from __future__ import annotations

from criapi.runtime.v1 import api_pb2 as pb
from kubeletlite.runtime.client import newest_sandboxes, recency


def sandbox(uid: str, attempt: int, created: int, sandbox_id: str) -> pb.PodSandbox:
    meta = pb.PodSandboxMetadata(name="p", namespace="n", uid=uid, attempt=attempt)
    return pb.PodSandbox(id=sandbox_id, metadata=meta, created_at=created)


def test_newest_sandbox_per_pod_is_the_latest_attempt_then_the_latest_creation() -> None:
    listed = [
        sandbox("a", 1, 5, "a1"),
        sandbox("a", 2, 1, "a2"),
        sandbox("b", 0, 9, "b0"),
        sandbox("b", 0, 3, "b-old"),
    ]
    assert {uid: s.id for uid, s in newest_sandboxes(listed).items()} == {"a": "a2", "b": "b0"}


def test_a_later_container_attempt_sorts_after_an_earlier_one() -> None:
    first = pb.Container(id="x", metadata=pb.ContainerMetadata(name="c", attempt=0), created_at=9)
    second = pb.Container(id="y", metadata=pb.ContainerMetadata(name="c", attempt=1), created_at=1)
    assert max([second, first], key=recency).id == "y"
