"""The daemon's life: start in order, serve, and shut down gracefully.

One coroutine, :func:`serve`, owns the event loop's resources through an
``AsyncExitStack``: the Docker client, the log copiers, the streaming server, the
gRPC server and its socket, released in reverse order. The first SIGTERM/SIGINT stops
accepting calls and gives in-flight ones ``--shutdown-grace`` seconds; a
second signal cuts that wait short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

import grpc
import uvloop
from grpc_health.v1 import health

from cricommon import logsetup
from shim import config as shim_config
from shim.config import ShimConfig
from shim.cri.backend import Backend
from shim.daemon.server import SocketInUse, bind, build_server, report_health
from shim.edge import metrics as shim_metrics
from shim.engine.docker import DockerClient
from shim.engine.oomscore import OomScorePolicy
from shim.engine.privileged import PrivilegePolicy
from shim.logs.copier import LogManager
from shim.monitor.dockerevents import DockerEvents
from shim.monitor.eventhub import ContainerEventHub
from shim.monitor.imagecache import ImageRefs
from shim.monitor.statscollector import StatsCollector
from shim.streaming.server import StreamingOptions, StreamingServer
from shim.translate import labels

log = logging.getLogger("shim")


class Shutdown:
    """Signal bookkeeping: the first signal asks for a graceful stop, the second forces it."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.forced = asyncio.Event()

    def signal(self, signum: int) -> None:
        if self.requested.is_set():
            log.warning("second %s: stopping without waiting", signal.Signals(signum).name)
            self.forced.set()
        else:
            log.info("%s received: shutting down", signal.Signals(signum).name)
            self.requested.set()


async def serve(config: ShimConfig, ready: asyncio.Event | None = None) -> None:
    path = shim_config.socket_path(config.listen)
    shutdown = Shutdown()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shutdown.signal, signum)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(_remove_signal_handlers, loop)
        docker = DockerClient(config.docker_host, config.docker_timeout)
        stack.push_async_callback(docker.close)
        logs = LogManager(docker, labels.scope_filters(config.instance))
        stack.push_async_callback(logs.close)
        docker_events = DockerEvents(docker)
        image_refs = ImageRefs(docker)
        event_hub = ContainerEventHub(docker, image_refs, config.instance)
        docker_events.add_listener(event_hub)
        for task in (
            asyncio.create_task(docker_events.run(), name="docker-events"),
            asyncio.create_task(event_hub.run(), name="container-events"),
        ):
            task.add_done_callback(log_if_crashed)
            stack.push_async_callback(_cancel, task)
        backend = Backend(
            docker=docker,
            config=config,
            logs=logs,
            oom=OomScorePolicy(docker),
            privileges=PrivilegePolicy(docker),
            stats=StatsCollector(docker),
            events=event_hub,
            image_refs=image_refs,
        )
        # The image map and the container list behind ListContainers and the sandboxes
        # CreateContainer trusts without an inspect follow dockerd's events.
        docker_events.add_listener(backend)
        listing_task = asyncio.create_task(backend.listing_cache.run(), name="listing-cache")
        listing_task.add_done_callback(log_if_crashed)
        stack.push_async_callback(_cancel, listing_task)
        # Closed after the gRPC server stops and before Docker's client: open
        # sessions end and the processes they exec'd are killed.
        streaming = StreamingServer(docker, backend.streams, streaming_options(config))
        stack.push_async_callback(streaming.close)
        await streaming.start()
        health_servicer = health.aio.HealthServicer()
        server = build_server(backend, health_servicer)
        await bind(server, path, config.socket_group)
        stack.callback(_unlink, path)
        await server.start()
        if config.metrics_address:
            # Imported only when asked for: prometheus_client is not small.
            from cricommon import metrics  # noqa: PLC0415

            shim_metrics.enable()
            metrics_server, _ = metrics.serve(config.metrics_address)
            stack.callback(metrics_server.shutdown)
        health_task = asyncio.create_task(
            report_health(backend, health_servicer), name="health reporting"
        )
        health_task.add_done_callback(log_if_crashed)
        stack.push_async_callback(_cancel, health_task)
        logs.resume_all()
        log.info("serving CRI on unix://%s (docker: %s)", path, docker.endpoint)
        if ready is not None:
            ready.set()
        await shutdown.requested.wait()
        await health_servicer.enter_graceful_shutdown()
        event_hub.close()
        await _stop_server(server, config.shutdown_grace, shutdown.forced)
    log.info("stopped")


def streaming_options(config: ShimConfig) -> StreamingOptions:
    host, port = shim_config.streaming_host_port(config.streaming_address)
    return StreamingOptions(
        host=host,
        port=port,
        base_url=config.streaming_base_url,
        tls_cert=config.streaming_tls_cert,
        tls_key=config.streaming_tls_key,
        max_streams=config.streaming_max_streams,
        idle_timeout=config.streaming_idle_timeout,
    )


async def _stop_server(server: grpc.aio.Server, grace: float, forced: asyncio.Event) -> None:
    """Stop accepting; wait for in-flight calls up to ``grace`` or a second signal."""
    stopping = asyncio.create_task(server.stop(grace))
    forcing = asyncio.create_task(forced.wait())
    await asyncio.wait({stopping, forcing}, return_when=asyncio.FIRST_COMPLETED)
    if not stopping.done():
        await server.stop(0)
    forcing.cancel()
    await asyncio.gather(stopping, forcing, return_exceptions=True)


def log_if_crashed(task: asyncio.Task[None]) -> None:
    """A background task that died of an error says so (its result is never awaited)."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("%s stopped: %s", task.get_name(), exc, exc_info=exc)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    config = shim_config.load(argv)
    logsetup.configure(config.log_level, config.log_format)
    try:
        # uvloop: the profile shows the event loop's own machinery (handles,
        # selector, transports) as a large share of the shim's CPU per RPC.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(config))
    except SocketInUse as exc:
        log.error("%s", exc)
        return 1
    except PermissionError as exc:
        log.error("cannot create the socket: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
