"""The opt-in Prometheus listener: loopback only, in a thread of its own."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

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


# Connections served at once (a scrape takes one; more are closed at once), and
# how long one may sit without sending: a slow or silent client (slowloris)
# would otherwise hold a thread of the program's each, without limit.
MAX_CONNECTIONS = 16
CONNECTION_TIMEOUT = 5.0


class _Handler(WSGIRequestHandler):
    timeout = CONNECTION_TIMEOUT  # socket timeout: every read and write

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on the program's output


class _BoundedServer(ThreadingMixIn, WSGIServer):
    """A thread per connection, for at most MAX_CONNECTIONS connections at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[WSGIRequestHandler]) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _BoundedServer6(_BoundedServer):
    address_family = socket.AF_INET6


def serve(address: str) -> tuple[WSGIServer, threading.Thread]:
    """Serve the default registry's metrics on a loopback HOST:PORT."""
    host, port = check_address(address)
    kind = _BoundedServer6 if ":" in host else _BoundedServer
    server = make_server(host, port, make_wsgi_app(), kind, handler_class=_Handler)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    log.info("serving Prometheus metrics on http://%s/metrics", address)
    return server, thread
