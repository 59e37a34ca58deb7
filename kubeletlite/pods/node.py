"""What every pod worker of one kubelet-lite process shares."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

from kubeletlite.clock import Clock, SystemClock
from kubeletlite.pods.backoff import CrashLoopBackOff
from kubeletlite.pods.hooks import HookRunner
from kubeletlite.pods.pleg import Pleg
from kubeletlite.runtime.api import RuntimeAPI
from kubeletlite.settings import AgentOptions, NodeFacts
from kubeletlite.state.statedir import StateLayout
from kubeletlite.state.store import StateStore


@dataclass
class Node:
    runtime: RuntimeAPI
    hooks: HookRunner
    store: StateStore
    facts: NodeFacts
    options: AgentOptions
    backoff: CrashLoopBackOff = field(default_factory=CrashLoopBackOff)
    pleg: Pleg = field(default_factory=Pleg)
    clock: Clock = field(default_factory=SystemClock)


def read_facts(state_dir: Path, pod_logs_dir: str) -> NodeFacts:
    """Node facts the pod configs need (blocking: call in a thread)."""
    try:
        resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        resolv = ""
    return NodeFacts(
        pod_logs_root=pod_logs_dir,
        pods_root=str(StateLayout(state_dir).volumes),
        memory_capacity_bytes=_memory_capacity(),
        host_resolv_conf=resolv,
    )


def _memory_capacity() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 30


async def load_facts(state_dir: Path, pod_logs_dir: str) -> NodeFacts:
    return await asyncio.to_thread(read_facts, state_dir, pod_logs_dir)
