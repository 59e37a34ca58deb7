"""The opt-in Prometheus listener: loopback only, in a thread of its own."""

from __future__ import annotations

import ipaddress
import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve(address: str) -> tuple[WSGIServer, threading.Thread]:
    """Serve the default registry's metrics on a loopback HOST:PORT."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"metrics listener must be on a loopback address, not {host}")
    server, thread = start_http_server(int(port), addr=host)
    log.info("serving Prometheus metrics on http://%s/metrics", address)
    return server, thread
