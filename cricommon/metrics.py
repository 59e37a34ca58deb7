"""The opt-in Prometheus listener: loopback only, in a thread of its own."""

from __future__ import annotations

import ipaddress
import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def check_address(address: str) -> tuple[str, int]:
    """(host, port) of a metrics address; ValueError unless it is a loopback IP's HOST:PORT.

    Both programs check their ``--metrics-address`` with this, before
    anything starts, and :func:`serve` checks again.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]") if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ValueError("expected HOST:PORT")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError("HOST must be a loopback IP address")
    return host, int(port)


def serve(address: str) -> tuple[WSGIServer, threading.Thread]:
    """Serve the default registry's metrics on a loopback HOST:PORT."""
    host, port = check_address(address)
    server, thread = start_http_server(port, addr=host)
    log.info("serving Prometheus metrics on http://%s/metrics", address)
    return server, thread
