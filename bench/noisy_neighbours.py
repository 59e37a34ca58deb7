"""Does a stuck or hostile client delay an unrelated one? Version + ListContainers latency.

One client times Version then ListContainers back to back, first alone (the
baseline of the same run), then while each of these goes on, and all at once:

  - events: 20 GetContainerEvents clients that never read, while a creator
    makes and removes containers (so there is something to push to them);
  - pulls: 20 PullImage calls from a registry on 127.0.0.1 that accepts the
    connection and never answers;
  - streaming: 200 connections to the streaming port that send half a request
    (slowloris), and an exec session of ``yes`` whose client never reads;

and reports p50/p99 of the timed pair, with the shim's RSS and open fds at the
end of each phase (they must come back down). The streaming server drops the half-sent
requests after a few seconds (the keep-alive timeout, at most its 10 s
header timeout).

    .venv/bin/python bench/noisy_neighbours.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import BUSYBOX, open_fds, percentile, rss_mib, shim, table, write_json
from criapi.runtime.v1 import api_pb2 as pb
from criapi.runtime.v1 import api_pb2_grpc
from shim.streaming import spdy

SLOWLORIS = 200
UNREAD_EVENT_STREAMS = 20
STALLED_PULLS = 20


async def timed(runtime: api_pb2_grpc.RuntimeServiceStub, seconds: float) -> list[float]:
    samples: list[float] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.perf_counter()
        await runtime.Version(pb.VersionRequest(), timeout=60)
        await runtime.ListContainers(pb.ListContainersRequest(), timeout=60)
        samples.append(time.perf_counter() - started)
    return samples


class Pod:
    """A host-network pod with one sleeping container, for events and exec."""

    def __init__(self, runtime: api_pb2_grpc.RuntimeServiceStub, logs: str) -> None:
        self.runtime = runtime
        uid = f"noisy-{uuid.uuid4().hex[:8]}"
        self.config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name="noisy", namespace="bench", uid=uid),
            log_directory=f"{logs}/{uid}",
        )
        self.config.linux.security_context.namespace_options.network = pb.NODE
        self.id = ""
        self.container = ""

    async def start(self) -> None:
        reply = await self.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=self.config))
        self.id = reply.pod_sandbox_id
        self.container = await self.run("main", ["sleep", "3600"])

    async def run(self, name: str, command: list[str]) -> str:
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name),
            image=pb.ImageSpec(image=BUSYBOX),
            command=command,
            log_path=f"{name}.log",
        )
        created = await self.runtime.CreateContainer(
            pb.CreateContainerRequest(
                pod_sandbox_id=self.id, config=config, sandbox_config=self.config
            )
        )
        await self.runtime.StartContainer(
            pb.StartContainerRequest(container_id=created.container_id)
        )
        return created.container_id

    async def churn(self) -> None:
        """Create, start and remove containers, so that events keep coming."""
        for index in range(10_000):
            container = await self.run(f"churn{index}", ["true"])
            await self.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=container))

    async def remove(self) -> None:
        if self.id:
            await self.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=self.id))
            await self.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=self.id))


@contextlib.asynccontextmanager
async def unread_events(endpoint: str, pod: Pod) -> AsyncIterator[None]:
    channels = [grpc.aio.insecure_channel(endpoint) for _ in range(UNREAD_EVENT_STREAMS)]
    calls = [
        api_pb2_grpc.RuntimeServiceStub(c).GetContainerEvents(pb.GetEventsRequest())
        for c in channels
    ]
    churn = asyncio.create_task(pod.churn())
    try:
        yield
    finally:
        churn.cancel()
        await asyncio.gather(churn, return_exceptions=True)
        for call in calls:
            call.cancel()
        for channel in channels:
            await channel.close()


@contextlib.asynccontextmanager
async def stalled_pulls(images: api_pb2_grpc.ImageServiceStub) -> AsyncIterator[None]:
    held: set[asyncio.StreamWriter] = set()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.add(writer)
        with contextlib.suppress(Exception):
            await reader.read()  # until the peer hangs up, or the phase ends
        writer.close()
        held.discard(writer)

    registry = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = registry.sockets[0].getsockname()[1]
    pulls = [
        asyncio.ensure_future(
            images.PullImage(
                pb.PullImageRequest(image=pb.ImageSpec(image=f"127.0.0.1:{port}/stall:{i}"))
            )
        )
        for i in range(STALLED_PULLS)
    ]
    try:
        yield
    finally:
        for pull in pulls:
            pull.cancel()
        await asyncio.gather(*pulls, return_exceptions=True)
        registry.close()
        # Ended here rather than cancelled at the loop's close (which asyncio logs).
        for writer in list(held):
            writer.transport.abort()
        for _ in range(100):  # bounded: the handlers see EOF at once
            if not held:
                break
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def stuck_streaming(
    runtime: api_pb2_grpc.RuntimeServiceStub, pod: Pod
) -> AsyncIterator[None]:
    url = (
        await runtime.Exec(pb.ExecRequest(container_id=pod.container, cmd=["yes"], stdout=True))
    ).url
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    idle = []
    for _ in range(SLOWLORIS):
        _reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /exec/x HTTP/1.1\r\nHost: x\r\n")  # never finished
        idle.append(writer)
    # An exec of `yes` whose output nobody reads: the shim must stop reading dockerd.
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
    writer.write((head + "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n").encode())
    await reader.readuntil(b"\r\n\r\n")
    encoder = spdy.FrameEncoder()
    writer.write(encoder.encode(spdy.SynStream(1, {"streamtype": ["error"]})))
    writer.write(encoder.encode(spdy.SynStream(3, {"streamtype": ["stdout"]})))
    try:
        yield
    finally:
        for conn in [*idle, writer]:
            conn.close()


async def measure(endpoint: str, pid: int | None, seconds: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    logs = tempfile.mkdtemp(prefix="noisy-", dir="/tmp")
    async with grpc.aio.insecure_channel(endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        images = api_pb2_grpc.ImageServiceStub(channel)
        pod = Pod(runtime, logs)
        await pod.start()
        phases: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[None]]] = {
            "idle": contextlib.nullcontext,  # type: ignore[dict-item]
            "events not read": lambda: unread_events(endpoint, pod),
            "pulls stalled": lambda: stalled_pulls(images),
            "streaming stuck": lambda: stuck_streaming(runtime, pod),
        }
        try:
            for name, phase in phases.items():
                rows.append(await _phase(name, phase, runtime, pid, seconds))
            rows.append(
                await _all_at_once(
                    endpoint=endpoint,
                    runtime=runtime,
                    images=images,
                    pod=pod,
                    pid=pid,
                    seconds=seconds,
                )
            )
        finally:
            await pod.remove()
    return rows


async def _phase(
    name: str,
    phase: Callable[[], contextlib.AbstractAsyncContextManager[None]],
    runtime: api_pb2_grpc.RuntimeServiceStub,
    pid: int | None,
    seconds: float,
) -> dict[str, object]:
    async with phase():
        await asyncio.sleep(1)  # let the abuse settle in
        during = rss_mib(pid), open_fds(pid)
        samples = await timed(runtime, seconds)
    await asyncio.sleep(1)
    return _row(name, samples, during, pid)


async def _all_at_once(
    *,
    endpoint: str,
    runtime: api_pb2_grpc.RuntimeServiceStub,
    images: api_pb2_grpc.ImageServiceStub,
    pod: Pod,
    pid: int | None,
    seconds: float,
) -> dict[str, object]:
    async with (
        unread_events(endpoint, pod),
        stalled_pulls(images),
        stuck_streaming(runtime, pod),
    ):
        await asyncio.sleep(1)
        during = rss_mib(pid), open_fds(pid)
        samples = await timed(runtime, seconds)
    await asyncio.sleep(1)
    return _row("all at once", samples, during, pid)


def _row(
    name: str, samples: list[float], during: tuple[float, int], pid: int | None
) -> dict[str, object]:
    ms = [s * 1000 for s in samples]
    return {
        "phase": name,
        "calls": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "rss_mib_during": round(during[0], 1),
        "fds_during": during[1],
        "rss_mib_after": round(rss_mib(pid), 1),
        "fds_after": open_fds(pid),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="timing per phase")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with shim("noisy") as daemon:
        rows = asyncio.run(measure(daemon.endpoint, daemon.pid, args.seconds))
    headers = list(rows[0])
    print(table(headers, [[row[h] for h in headers] for row in rows]))
    write_json("noisy_neighbours", rows, args.out)


if __name__ == "__main__":
    main()
