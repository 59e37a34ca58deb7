"""What one kubelet-lite process is told and finds out: its settings and the node's facts.

Plain frozen records, read by the agent, the pod workers and the pure CRI config
translation alike, so they live below all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True, slots=True)
class AgentSettings:
    runtime_endpoint: str
    state_dir: Path
    pod_logs_dir: str
    options: AgentOptions


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the pod configs depend on about the node, read once by the caller."""

    pod_logs_root: str  # e.g. /var/log/pods
    pods_root: str  # per-pod directories (emptyDir volumes, termination logs)
    memory_capacity_bytes: int
    host_resolv_conf: str  # contents of the node's /etc/resolv.conf
