"""Prometheus metrics of the shim (served by cricommon.metrics when asked to)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RPC_DURATION = Histogram(
    "cri_shim_rpc_duration_seconds",
    "Time to serve a CRI RPC, by method.",
    ["method"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
RPC_REQUESTS = Counter(
    "cri_shim_rpc_requests_total", "CRI RPCs served, by method and status code.", ["method", "code"]
)
RPC_ERRORS = Counter(
    "cri_shim_rpc_errors_total",
    "CRI RPCs that failed, by method and status code.",
    ["method", "code"],
)
