"""Prometheus metrics of kubelet-lite (served by cricommon.metrics when asked to)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HOOK_DURATION = Histogram(
    "kubeletlite_hook_duration_seconds",
    "Time lifecycle hooks took, by hook, handler type and result.",
    ["hook", "handler", "result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
HOOK_FAILURES = Counter(
    "kubeletlite_hook_failures_total", "Lifecycle hooks that failed.", ["hook", "handler"]
)
POD_START_SECONDS = Histogram(
    "kubeletlite_pod_start_duration_seconds",
    "From the worker starting to every container started (postStart included).",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120),
)
RESTARTS = Counter(
    "kubeletlite_container_restarts_total", "Containers restarted by the restart policy."
)
CONTAINER_EXITS = Counter(
    "kubeletlite_container_exits_total", "Containers seen exiting, by runtime reason.", ["reason"]
)
EVENTS = Counter("kubeletlite_events_total", "Events recorded, by reason.", ["reason"])
