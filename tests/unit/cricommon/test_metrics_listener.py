"""The metrics listener against slow and silent clients: bounded threads, bounded time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from cricommon import metrics


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    monkeypatch.setattr(metrics._Handler, "timeout", 0.3)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server, thread = metrics.serve(f"127.0.0.1:{port}")
    yield "127.0.0.1", port
    server.shutdown()
    server.server_close()
    thread.join(10)


def closed_by_server(conn: socket.socket) -> bool:
    conn.settimeout(30)  # a hang fails the test; speed is not the verdict
    while conn.recv(4096):
        pass
    return True


def scrape(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=30) as conn:
        conn.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        return conn.recv(64)


def test_silent_connections_hold_no_thread_past_their_timeout(listener) -> None:
    before = threading.active_count()
    silent = [socket.create_connection(listener) for _ in range(metrics.MAX_CONNECTIONS)]
    for conn in silent:
        assert closed_by_server(conn)
        conn.close()
    deadline = time.monotonic() + 30
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before
    assert scrape(listener).startswith(b"HTTP/1.0 200")


def test_connections_past_the_bound_are_closed_at_once(listener, monkeypatch) -> None:
    monkeypatch.setattr(metrics._Handler, "timeout", 600)  # only the bound can close one
    silent = [socket.create_connection(listener) for _ in range(metrics.MAX_CONNECTIONS)]
    extra = socket.create_connection(listener)
    assert closed_by_server(extra)
    for conn in [extra, *silent]:
        conn.close()
