"""A kubelet-lite ``Node`` over the fake runtime, on the virtual-time loop's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from kubeletlite.manifest import podfiles
from kubeletlite.pods.backoff import CrashLoopBackOff
from kubeletlite.pods.hooks import HookRunner
from kubeletlite.pods.node import Node
from kubeletlite.pods.podworker import PodWorker
from kubeletlite.settings import AgentOptions, NodeFacts
from kubeletlite.state.store import StateStore
from tests.support.fakeruntime import FakeRuntime
from tests.support.virtualtime import LoopClock


@asynccontextmanager
async def fake_node(
    runtime: FakeRuntime, root: Path, options: AgentOptions | None = None
) -> AsyncIterator[Node]:
    options = options or AgentOptions()
    facts = NodeFacts(
        pod_logs_root=str(root / "pod-logs"),
        pods_root=str(root / "pods"),
        memory_capacity_bytes=1 << 32,
        host_resolv_conf="nameserver 10.0.0.1\n",
    )
    # httpGet hooks are not driven through the fake: the session stays unused.
    async with aiohttp.ClientSession() as http:
        yield Node(
            runtime=runtime,
            hooks=HookRunner(runtime, http),
            store=StateStore(root / "state"),
            facts=facts,
            options=options,
            backoff=CrashLoopBackOff(initial=options.backoff_initial, maximum=options.backoff_max),
            clock=LoopClock(),
        )


def worker_for(yaml_text: str, node: Node) -> PodWorker:
    (loaded,), _warnings = podfiles.load_text(yaml_text, "fast-test.yaml")
    return PodWorker(loaded.pod, loaded.manifest_json, node)
