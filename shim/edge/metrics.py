"""Prometheus metrics of the shim, kept only when they are served (``--metrics-address``).

Until :func:`enable` runs, :func:`observe_rpc` does nothing and
prometheus_client is never imported: a shim nobody scrapes neither loads it
nor pays for histogram updates on every RPC.
"""

from __future__ import annotations

from typing import Any

_recorder: _Recorder | None = None


class _Recorder:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram  # noqa: PLC0415 - only when served

        self.duration: Any = Histogram(
            "cri_shim_rpc_duration_seconds",
            "Time to serve a CRI RPC, by method.",
            ["method"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.requests: Any = Counter(
            "cri_shim_rpc_requests_total",
            "CRI RPCs served, by method and status code.",
            ["method", "code"],
        )
        self.errors: Any = Counter(
            "cri_shim_rpc_errors_total",
            "CRI RPCs that failed, by method and status code.",
            ["method", "code"],
        )


def enable() -> None:
    """Register the shim's metrics in the default registry (once)."""
    global _recorder  # noqa: PLW0603 - one registry per process
    if _recorder is None:
        _recorder = _Recorder()


def observe_rpc(method: str, code: str, seconds: float) -> None:
    recorder = _recorder
    if recorder is None:
        return
    recorder.duration.labels(method).observe(seconds)
    recorder.requests.labels(method, code).inc()
    if code != "OK":
        recorder.errors.labels(method, code).inc()
