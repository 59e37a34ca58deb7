"""What every pod worker of one kubelet-lite process shares."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

from kubeletlite.backoff import CrashLoopBackOff
from kubeletlite.clock import Clock, SystemClock
from kubeletlite.criconfig import NodeFacts
from kubeletlite.hooks import HookRunner
from kubeletlite.pleg import Pleg
from kubeletlite.runtimeapi import RuntimeAPI
from kubeletlite.statedir import StateLayout
from kubeletlite.store import StateStore

DEFAULT_STATE_DIR = "/var/lib/kubelet-lite"
DEFAULT_POD_LOGS_DIR = "/var/log/pods"


@dataclass(frozen=True, slots=True)
class AgentOptions:
    relist_period: float = 1.0  # how often runtime state is re-read (the kubelet's PLEG: 1 s)
    # With the runtime's container events: relisting is only a safety net (the kubelet: 300 s).
    evented_relist_period: float = 60.0
    container_events: bool = True  # use GetContainerEvents where the runtime serves it
    hook_timeout: float | None = None  # None: hooks may run forever, as in the kubelet
    hook_warn_after: float = 30.0  # a "still running" event after this long
    parallel_start: bool = False  # start containers without waiting for the previous postStart
    backoff_initial: float = 10.0
    backoff_max: float = 300.0


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
