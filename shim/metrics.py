"""Prometheus metrics of the shim, served on an opt-in loopback listener."""

from __future__ import annotations

import ipaddress
import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

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


def serve(address: str) -> tuple[WSGIServer, threading.Thread]:
    """Start the metrics listener on a loopback HOST:PORT; it runs in its own thread."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"metrics listener must be on a loopback address, not {host}")
    server, thread = start_http_server(int(port), addr=host)
    log.info("serving Prometheus metrics on http://%s/metrics", address)
    return server, thread
