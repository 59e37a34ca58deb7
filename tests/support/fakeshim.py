"""The shim's services over the fake Docker: a Backend, and an in-process gRPC server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health

from criapi.runtime.v1 import api_pb2_grpc
from shim.config import ShimConfig
from shim.cri.backend import Backend
from shim.daemon.server import build_server
from shim.engine.oomscore import OomScorePolicy
from shim.engine.privileged import PrivilegePolicy
from shim.logs.copier import LogManager
from shim.monitor.eventhub import ContainerEventHub
from shim.monitor.imagecache import ImageRefs
from shim.monitor.statscollector import StatsCollector
from tests.support.fakedocker import FakeDocker

INFRA_IMAGE = "registry.k8s.io/pause:3.10"


def backend_for(docker: FakeDocker, **config: Any) -> Backend:
    settings = ShimConfig(**{"pod_infra_image": INFRA_IMAGE, **config})
    refs = ImageRefs(docker)
    return Backend(
        docker=docker,
        config=settings,
        logs=LogManager(docker),
        oom=OomScorePolicy(docker),
        privileges=PrivilegePolicy(docker),
        stats=StatsCollector(docker),
        events=ContainerEventHub(docker, refs, settings.instance),
        image_refs=refs,
    )


@asynccontextmanager
async def serving(
    backend: Backend,
) -> AsyncIterator[tuple[api_pb2_grpc.RuntimeServiceStub, api_pb2_grpc.ImageServiceStub]]:
    """The real gRPC edge (grpc.aio server, unix socket) over ``backend``; yields client stubs."""
    directory = Path(tempfile.mkdtemp(prefix="i9-fast-", dir="/tmp"))
    path = directory / "cri.sock"
    server = build_server(backend, health.aio.HealthServicer())
    server.add_insecure_port(f"unix:{path}")
    await server.start()
    channel = grpc.aio.insecure_channel(f"unix:{path}")
    try:
        yield api_pb2_grpc.RuntimeServiceStub(channel), api_pb2_grpc.ImageServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(0)
        await backend.logs.close()
        shutil.rmtree(directory, ignore_errors=True)
