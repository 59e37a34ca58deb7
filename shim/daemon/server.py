"""The gRPC server on its unix socket: services, reflection, health, socket hygiene."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import socket
import stat

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from criapi.runtime.v1 import api_pb2, api_pb2_grpc
from shim.cri.backend import Backend
from shim.daemon.reflection import descriptors_with_json_names
from shim.edge.rpc import TolerantDecoding
from shim.edge.services import ImageService, RuntimeService

log = logging.getLogger(__name__)

# The kubelet's CRI client accepts messages up to 16 MiB; ExecSync output can
# reach that per stream, so the server may send a little more.
MAX_RECEIVE_BYTES = 16 * 1024 * 1024
MAX_SEND_BYTES = 40 * 1024 * 1024
SOCKET_MODE = 0o660
HEALTH_INTERVAL = 5.0

SERVICE_NAMES = (
    api_pb2.DESCRIPTOR.services_by_name["RuntimeService"].full_name,
    api_pb2.DESCRIPTOR.services_by_name["ImageService"].full_name,
)


class SocketInUse(Exception):
    """Another live process serves on the socket path."""


def claim_socket_path(path: str) -> None:
    """Make ``path`` free for a new socket.

    A socket file left by a crashed shim is removed; one a live process still
    answers on is refused, as is any file that is not a socket.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        return
    if not stat.S_ISSOCK(mode):
        raise SocketInUse(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("removing stale socket %s", path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError as exc:
        raise SocketInUse(f"{path}: cannot tell whether it is in use: {exc}") from exc
    finally:
        probe.close()
    raise SocketInUse(f"{path} is in use by a running process; stop it first")


def build_server(backend: Backend, health_servicer: health.aio.HealthServicer) -> grpc.aio.Server:
    server = grpc.aio.server(
        interceptors=[TolerantDecoding()],
        options=[
            ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
            ("grpc.max_send_message_length", MAX_SEND_BYTES),
        ],
    )
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(RuntimeService(backend), server)
    api_pb2_grpc.add_ImageServiceServicer_to_server(ImageService(backend), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME),
        server,
        pool=descriptors_with_json_names(),
    )
    return server


async def bind(server: grpc.aio.Server, path: str, group: str) -> None:
    """Listen on ``path`` with mode 0660, never briefly wider."""
    # The probe of an existing socket connects to it: never on the loop.
    await asyncio.to_thread(claim_socket_path, path)
    previous = os.umask(0o777 & ~SOCKET_MODE)
    try:
        server.add_insecure_port(f"unix:{path}")
    finally:
        os.umask(previous)
    os.chmod(path, SOCKET_MODE)
    if group:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)


async def report_health(backend: Backend, servicer: health.aio.HealthServicer) -> None:
    """Keep the health service's answer in step with dockerd's reachability."""
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    current = None
    while True:
        # The same refresh keeps Version and Status current without a Docker call each.
        engine = await backend.engine.refresh()
        status = serving if engine.runtime.ready else not_serving
        if status == not_serving and current != not_serving:
            log.warning("dockerd unreachable: %s", engine.runtime.message)
        if status != current:
            for name in ("", *SERVICE_NAMES):
                await servicer.set(name, status)
            current = status
        await asyncio.sleep(HEALTH_INTERVAL)
