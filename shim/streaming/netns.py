"""Connect to a port inside a pod's network namespace.

A socket belongs to the network namespace its creator was in when it was
created, whatever thread later uses it. So a short-lived worker thread
enters the sandbox's namespace (``setns`` on ``/proc/PID/ns/net`` of the
infra container), creates the socket, and returns to the host's namespace;
the connect then runs on the event loop like any other. Nothing in the pod
image (socat, nsenter) is needed, and a server bound to the pod's loopback
only is reachable, as with the kubelet.

Python 3.11 has no ``os.setns``; libc's is called through ctypes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import socket
import threading

CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def socket_in_netns(pid: int, family: socket.AddressFamily) -> socket.socket:
    """A non-blocking TCP socket created in the network namespace of ``pid``."""
    result: list[socket.socket | BaseException] = []

    def create() -> None:
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _setns(target)
                    try:
                        sock = socket.socket(family, socket.SOCK_STREAM)
                    finally:
                        # This thread ends right after; restoring is still the
                        # safe thing should a library reuse it.
                        _setns(own)
                finally:
                    os.close(target)
            finally:
                os.close(own)
            sock.setblocking(False)
            result.append(sock)
        except BaseException as exc:  # handed to the caller's thread
            result.append(exc)

    # A fresh thread, not a pool's: a thread whose restore failed dies with it.
    worker = threading.Thread(target=create, name=f"netns-{pid}", daemon=True)
    worker.start()
    worker.join()
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


async def connect_loopback(pid: int | None, port: int, within: float = 10.0) -> socket.socket:
    """Connect to ``port`` on the pod's loopback: 127.0.0.1 first, then ::1.

    ``pid`` None means the host's network (a host-network sandbox).
    """
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        if pid is None:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
        else:
            sock = await asyncio.to_thread(socket_in_netns, pid, family)
        try:
            async with asyncio.timeout(within):
                await loop.sock_connect(sock, (host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:  # TimeoutError included
            sock.close()
            reason = os.strerror(exc.errno) if exc.errno else "timed out"
            errors.append(f"{host}: {reason}")
    raise ConnectionRefusedError(f"dial tcp port {port}: " + "; ".join(errors))
