"""The only module that talks to the Docker Engine, through aiodocker.

Everything above this module sees plain JSON dicts and the shim's own
exceptions: aiodocker's ``DockerError`` becomes :class:`DockerAPIError`, and
a call that outlives its deadline becomes :class:`DeadlineExceeded`.

Deadlines: aiodocker leaves most calls unbounded, so every request here runs
under ``asyncio.timeout_at`` with the earlier of the client's RPC deadline
and ``call_timeout``. The two streams that are unbounded by nature (log
following and image pulls) are bounded differently: their first response
by the same deadline, then by the caller (a no-progress watchdog for pulls,
the container's life for logs).
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from shim.deadline import deadline_for, run_until
from shim.engine.dockerapi import ExecOutput, LogFrame
from shim.engine.stdcopy import STDOUT, Demuxer
from shim.errors import DOCKER_UNREACHABLE, DeadlineExceeded, DockerAPIError

JSON = dict[str, Any]
T = TypeVar("T")

# How long StopContainer may overrun its grace period while dockerd sends
# SIGKILL and reaps the process.
STOP_MARGIN_SECONDS = 10.0
# Largest output ExecSync keeps, both streams together: the kubelet refuses a
# reply over 16 MiB, and the reply's framing needs a little room.
EXEC_OUTPUT_LIMIT = 16 * 1024 * 1024 - 64 * 1024

# Output already buffered from dockerd is sent on as one frame of up to this size.
HIJACK_BATCH = 256 * 1024
# Output read from dockerd but not yet sent on; beyond it the socket is paused.
HIJACK_BUFFER = 1024 * 1024
# Coalescing of flowing output (see _OutputQueue.read).
HIJACK_COALESCE = 64 * 1024
HIJACK_LINGER = 0.001
HIJACK_FLOWING = 0.005

# A removal another request runs is watched every 10 ms, backing off to 200 ms.
REMOVAL_POLL_FIRST = 0.01
REMOVAL_POLL_MAX = 0.2

_STREAM_NAMES = {1: "stdout", 2: "stderr"}
# What dockerd can resolve as a container id, id prefix or name. Anything else
# would be read as another API path ("." is the container list itself), so it
# is answered as "no such container" without asking.
_CONTAINER_REF = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_FRAME_HEADER = struct.Struct(">BxxxL")


class _OutputQueue:
    """Payload parser installed on a hijacked connection: demultiplexed output, bounded.

    Replaces aiodocker's parser, which copies every frame and pauses the
    socket at 128 KiB: slices here are views into what was received, and
    the socket pauses once ``limit`` bytes wait unread.
    """

    def __init__(self, protocol: Any, tty: bool, limit: int) -> None:
        self._protocol = protocol
        self._demuxer = Demuxer(tty)
        self._limit = limit
        self._chunks: deque[tuple[int, bytes | memoryview]] = deque()
        self._size = 0
        self._eof = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._last_read = float("-inf")

    def push(self, stream: int, data: bytes) -> None:
        """Output the previous parser had already decoded."""
        self._chunks.append((stream, data))
        self._size += len(data)

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        for chunk in self._demuxer.feed(data):
            self._chunks.append(chunk)
            self._size += len(chunk[1])
        if self._size > self._limit and not self._protocol._reading_paused:
            self._protocol.pause_reading()
        self._wake()
        return False, b""

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException, exc_cause: object = None) -> None:
        self._exception = exc
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _linger(self) -> None:
        # The socket is paused meanwhile, so what dockerd sends gathers in the
        # kernel and arrives in one large read instead of one per frame.
        pause = not self._protocol._reading_paused
        if pause:
            self._protocol.pause_reading()
        try:
            await asyncio.sleep(HIJACK_LINGER)
        finally:
            if pause and self._size <= self._limit and self._protocol._reading_paused:
                self._protocol.resume_reading()

    async def read(self, batch: int) -> tuple[int, bytes] | None:
        """The next output, joined with what follows of the same stream up to ``batch`` bytes.

        While output flows without a pause (the last read was under
        ``HIJACK_FLOWING`` ago), a small batch first waits ``HIJACK_LINGER``:
        dockerd sends a frame per write of the process (often 4-32 KiB), and
        each frame handled alone costs a read, a write and a wake-up of the
        client. Output after a pause (a shell's echo) goes on at once.
        """
        loop = asyncio.get_running_loop()
        while not self._chunks and not self._eof:
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        flowing = loop.time() - self._last_read < HIJACK_FLOWING
        if flowing and self._size < HIJACK_COALESCE and not self._eof:
            await self._linger()
        self._last_read = loop.time()
        if not self._chunks:
            if self._exception is not None:
                raise self._exception
            return None
        stream, first = self._chunks.popleft()
        parts, size = [first], len(first)
        while self._chunks and size < batch and self._chunks[0][0] == stream:
            chunk = self._chunks.popleft()[1]
            parts.append(chunk)
            size += len(chunk)
        self._size -= size
        if self._size <= self._limit and self._protocol._reading_paused:
            self._protocol.resume_reading()
        return stream, b"".join(parts)


class HijackedStream:
    """An exec's or attach's upgraded connection: write stdin, read output frames.

    Output comes demultiplexed as (1 stdout | 2 stderr, bytes); with a TTY
    everything is stdout. ``close_stdin`` half-closes, so the process reads
    EOF while its output still flows.
    """

    def __init__(self, stream: Stream, tty: bool) -> None:
        self._stream = stream
        self.tty = tty
        self._output = self._take_over_output(tty)

    def _take_over_output(self, tty: bool) -> _OutputQueue:
        # Runs right after the upgrade, before the loop can deliver more bytes:
        # what aiodocker's parser already holds moves over in order.
        response = self._stream._resp
        connection = None if response is None else response.connection
        protocol = None if connection is None else connection.protocol
        assert protocol is not None, "the hijacked connection is gone"
        output = _OutputQueue(protocol, tty, HIJACK_BUFFER)
        queue = self._stream._queue
        if queue is not None:
            for message, _ in queue._buffer:
                output.push(STDOUT if tty else message.stream, message.data)
            queue._buffer.clear()
            if queue.is_eof():
                output.feed_eof()
        previous = protocol._payload_parser
        protocol.set_parser(output, None)
        leftover = getattr(previous, "_buf", b"")
        if leftover:
            output.feed_data(bytes(leftover))
        if protocol._reading_paused:
            protocol.resume_reading()
        return output

    async def read(self) -> tuple[int, bytes] | None:
        """The next output, with what else of the same stream is already buffered
        (up to ``HIJACK_BATCH`` bytes): fewer, larger frames for the client."""
        with _translated("read exec output"):
            return await self._output.read(HIJACK_BATCH)

    async def write(self, data: bytes) -> None:
        with _translated("write exec input"):
            await self._stream.write_in(data)

    def close_stdin(self) -> None:
        transport = self._transport()
        if transport is not None and transport.can_write_eof() and not transport.is_closing():
            transport.write_eof()

    async def close(self) -> None:
        await self._stream.close()

    def _transport(self) -> asyncio.WriteTransport | None:
        response = self._stream._resp
        connection = None if response is None else response.connection
        transport = None if connection is None else connection.transport
        # uvloop's transports are not subclasses of asyncio's: check what is used.
        return transport if hasattr(transport, "write_eof") else None


class DockerClient:
    """Typed, deadline-bounded facade over :class:`aiodocker.Docker`."""

    def __init__(self, url: str, call_timeout: float) -> None:
        self._call_timeout = call_timeout
        self.endpoint = url
        # aiodocker leaves a connector it was given open; this one is ours to close.
        self._connector: aiohttp.BaseConnector | None = None
        if url.startswith("unix://"):
            # Each running container holds one log-following connection;
            # aiohttp's default cap of 100 connections would then starve
            # ordinary calls, so the local socket gets an uncapped pool.
            connector = aiohttp.UnixConnector(url.removeprefix("unix://"), limit=0)
            self._connector = connector
            self._docker = aiodocker.Docker(url="unix://localhost", connector=connector)
        else:
            self._docker = aiodocker.Docker(url=url)

    async def close(self) -> None:
        await self._docker.close()
        if self._connector is not None:
            await self._connector.close()

    async def _call(self, op: str, coro: Awaitable[T], within: float | None = None) -> T:
        """Await ``coro`` under the call deadline (or ``within`` seconds), translating failures."""
        when = deadline_for(self._call_timeout if within is None else within)
        try:
            with _translated(op):
                async with asyncio.timeout_at(when):
                    return await coro
        except TimeoutError as exc:
            raise DeadlineExceeded(f"{op}: dockerd did not answer before the deadline") from exc

    # -- system -------------------------------------------------------------

    async def ping(self) -> str:
        """Check that dockerd answers; return its version (``Server`` header, "" if none)."""

        async def request() -> str:
            async with self._docker._query("_ping", versioned_api=False) as response:
                await response.read()
                return _engine_version(response.headers.get("Server", ""))

        return await self._call("ping", request())

    async def version(self) -> JSON:
        return dict(await self._call("version", self._docker.version()))

    async def info(self) -> JSON:
        return dict(await self._call("info", self._docker.system.info()))

    async def disk_usage(self) -> JSON:
        result: JSON = await self._call("system df", self._docker._query_json("system/df"))
        return result

    async def network_exists(self, name: str) -> bool:
        try:
            await self._call("inspect network", self._docker._query_json(f"networks/{name}"))
        except DockerAPIError as exc:
            if exc.is_not_found:
                return False
            raise
        return True

    # -- containers ---------------------------------------------------------

    async def create_container(self, name: str, body: JSON) -> str:
        result: JSON = await self._call(
            "create container",
            self._docker._query_json("containers/create", "POST", params={"name": name}, data=body),
        )
        return str(result["Id"])

    async def start_container(self, container_id: str) -> None:
        await self._call("start container", self._docker.containers.container(container_id).start())

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        container = self._docker.containers.container(container_id)
        await self._call(
            "stop container",
            container.stop(t=grace_seconds, timeout=None),
            within=grace_seconds + STOP_MARGIN_SECONDS,
        )

    async def remove_container(self, container_id: str) -> None:
        container = self._docker.containers.container(container_id)
        try:
            await self._call("remove container", container.delete(force=True, v=True))
        except DockerAPIError as exc:
            if not (exc.is_conflict and "already in progress" in exc.message):
                raise
            # Another request is removing it (one whose client gave up goes on in
            # dockerd): this removal is done once that one is.
            await self._until_removed(container_id)

    async def _until_removed(self, container_id: str) -> None:
        delay = REMOVAL_POLL_FIRST
        try:
            async with asyncio.timeout_at(deadline_for(self._call_timeout)):
                while True:
                    try:
                        await self.inspect_container(container_id)
                    except DockerAPIError as exc:
                        if exc.is_not_found:
                            return
                        raise
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, REMOVAL_POLL_MAX)
        except TimeoutError as exc:
            raise DeadlineExceeded(
                f"remove container: the removal of {container_id} already in progress "
                "did not end before the deadline"
            ) from exc

    async def inspect_container(self, container_id: str) -> JSON:
        if not _CONTAINER_REF.fullmatch(container_id):
            raise DockerAPIError(404, f"No such container: {container_id}")
        container = self._docker.containers.container(container_id)
        return await self._call("inspect container", container.show())

    async def list_containers(self, filters: Mapping[str, Sequence[str]]) -> list[JSON]:
        params = {"all": "true", "filters": json.dumps({k: list(v) for k, v in filters.items()})}
        result: list[JSON] = await self._call(
            "list containers", self._docker._query_json("containers/json", params=params)
        )
        return result

    async def update_container(self, container_id: str, body: JSON) -> None:
        await self._call(
            "update container",
            self._docker._query_json(f"containers/{container_id}/update", "POST", data=body),
        )

    # -- exec ---------------------------------------------------------------

    async def exec_create(
        self,
        container_id: str,
        cmd: Sequence[str],
        tty: bool = False,
        *,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
    ) -> str:
        container = self._docker.containers.container(container_id)
        execution = await self._call(
            "create exec",
            container.exec(list(cmd), stdin=stdin, stdout=stdout, stderr=stderr, tty=tty),
        )
        return execution.id

    async def exec_attach(self, exec_id: str, tty: bool) -> HijackedStream:
        """Start an exec and take over its connection (stdin in, output out)."""
        stream = Exec(self._docker, exec_id, tty=tty).start(detach=False)
        return await self._hijack("start exec", stream, tty)

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        await self._call(
            "resize exec", self._docker.containers.exec(exec_id).resize(h=height, w=width)
        )

    async def container_attach(
        self, container_id: str, tty: bool, *, stdin: bool, stdout: bool, stderr: bool
    ) -> HijackedStream:
        """Attach to a running container's stdio (no past output)."""
        container = self._docker.containers.container(container_id)
        stream = container.attach(stdin=stdin, stdout=stdout, stderr=stderr, logs=False)
        return await self._hijack("attach", stream, tty)

    async def container_resize(self, container_id: str, height: int, width: int) -> None:
        container = self._docker.containers.container(container_id)
        await self._call("resize container", container.resize(h=height, w=width))

    async def _hijack(self, op: str, stream: Stream, tty: bool) -> HijackedStream:
        # Only the upgrade is bounded by the call deadline; the session lives
        # as long as its client and process do.
        try:
            await self._call(op, stream.__aenter__())
        except BaseException:
            await stream.close()
            raise
        return HijackedStream(stream, tty)

    async def exec_run(
        self,
        exec_id: str,
        deadline: float | None,
        until: Awaitable[object] | None = None,
        limit: int = EXEC_OUTPUT_LIMIT,
    ) -> ExecOutput:
        """Start an exec and collect its output until it ends, ``until`` completes
        (the output so far is returned), or ``deadline`` passes (TimeoutError).

        At most ``limit`` bytes of stdout and stderr together are kept, in
        arrival order; the rest is read (so the process is not blocked) and counted.
        """
        chunks: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        kept = dropped = 0
        stream = self._docker.containers.exec(exec_id).start(detach=False)

        async def copy() -> None:
            nonlocal kept, dropped
            while (message := await stream.read_out()) is not None:
                buffer = chunks.setdefault(message.stream, bytearray())
                piece = message.data[: max(limit - kept, 0)]
                buffer.extend(piece)
                kept += len(piece)
                dropped += len(message.data) - len(piece)

        with _translated("run exec"):
            async with asyncio.timeout_at(deadline), stream:
                await run_until(copy(), until)
        return ExecOutput(stdout=bytes(chunks[1]), stderr=bytes(chunks[2]), dropped=dropped)

    async def exec_inspect(self, exec_id: str) -> JSON:
        return await self._call("inspect exec", self._docker.containers.exec(exec_id).inspect())

    # -- logs ---------------------------------------------------------------

    async def log_frames(
        self, container_id: str, *, tty: bool, since: str | None, follow: bool
    ) -> AsyncIterator[LogFrame]:
        """Yield the container's log messages, oldest first.

        ``since`` is a Unix time with nanoseconds ("1700000000.123456789");
        dockerd then returns messages at or after it.
        """
        params: JSON = {
            "stdout": "true",
            "stderr": "true",
            "timestamps": "true",
            "follow": "true" if follow else "false",
        }
        if since is not None:
            params["since"] = since
        async with self._stream(f"containers/{container_id}/logs", params) as response:
            frames = _raw_lines(response) if tty else _multiplexed_frames(response)
            with _translated("follow logs"):
                async for stream_id, payload in frames:
                    frame = _parse_log_message(stream_id, payload)
                    if frame is not None:
                        yield frame

    # -- events -------------------------------------------------------------

    async def events(
        self, filters: Mapping[str, Sequence[str]], on_open: Callable[[], None]
    ) -> AsyncIterator[JSON]:
        """dockerd's event stream, one decoded event per item, until dockerd closes it.

        ``on_open`` is called once dockerd has accepted the subscription.
        """
        params = {"filters": json.dumps({k: list(v) for k, v in filters.items()})}
        async with self._stream("events", params) as response:
            on_open()
            with _translated("follow events"):
                while line := await response.content.readline():
                    if line.strip():
                        yield json.loads(line)

    @asynccontextmanager
    async def _stream(self, path: str, params: JSON) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a long-lived GET whose headers must arrive within the call deadline."""
        cm = self._docker._query(path, params=params, timeout=None)
        response = await self._call(f"GET {path}", cm.__aenter__())
        try:
            yield response
        finally:
            await cm.__aexit__(None, None, None)

    # -- images -------------------------------------------------------------

    async def list_images(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[JSON]:
        params: JSON = {"digests": "true"}
        if filters:
            params["filters"] = json.dumps({k: list(v) for k, v in filters.items()})
        result: list[JSON] = await self._call(
            "list images", self._docker._query_json("images/json", params=params)
        )
        return result

    async def inspect_image(self, ref: str) -> JSON | None:
        """The image's inspect document, or None when dockerd has no such image."""
        try:
            return await self._call("inspect image", self._docker.images.inspect(ref))
        except DockerAPIError as exc:
            if exc.is_not_found:
                return None
            raise

    async def pull_image(
        self, ref: str, auth: JSON | None, on_progress: Callable[[JSON], None]
    ) -> None:
        """Pull ``ref``; ``on_progress`` sees every progress message as it arrives.

        Errors the engine reports inside the progress stream are raised as
        :class:`DockerAPIError` with status 0. The caller bounds the pull.
        """
        with _translated("pull image"):
            progress = self._docker.images.pull(ref, auth=auth, stream=True, timeout=None)
            async for item in progress:
                on_progress(item)

    async def remove_image(self, ref: str) -> None:
        await self._call("remove image", self._docker.images.delete(ref, noprune=False))


@contextmanager
def _translated(op: str) -> Iterator[None]:
    """aiodocker's and aiohttp's failures as the shim's own errors."""
    try:
        yield
    except DockerError as exc:
        # An error inside a progress stream has no HTTP status; its errorDetail may carry one.
        detail = getattr(exc, "error_detail", None) or {}
        code = detail.get("code")
        status = exc.status or (code if isinstance(code, int) else 0)
        raise DockerAPIError(status, _clean_message(exc.message)) from exc
    except aiohttp.ClientError as exc:
        raise DockerAPIError(DOCKER_UNREACHABLE, f"{op}: {exc}") from exc


_SERVER_HEADER = re.compile(r"Docker/(\S+)")


def _engine_version(server: str) -> str:
    """The version in dockerd's ``Server: Docker/20.10.24+dfsg1 (linux)`` header."""
    match = _SERVER_HEADER.match(server)
    return match.group(1) if match else ""


_CONTROL_CHARS = re.compile(r"[\x00-\x1f]+")


def _clean_message(message: str) -> str:
    return _CONTROL_CHARS.sub(" ", message).strip()


async def _multiplexed_frames(
    response: aiohttp.ClientResponse,
) -> AsyncIterator[tuple[int, bytes]]:
    """Split dockerd's stdcopy framing: an 8-byte header (stream id, length), then data."""
    content = response.content
    while True:
        try:
            header = await content.readexactly(_FRAME_HEADER.size)
        except asyncio.IncompleteReadError:
            return
        stream_id, length = _FRAME_HEADER.unpack(header)
        try:
            payload = await content.readexactly(length)
        except asyncio.IncompleteReadError:
            return
        yield stream_id, payload


async def _raw_lines(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[int, bytes]]:
    """TTY containers have one raw stream; each line is one message."""
    while line := await response.content.readline():
        yield 1, line


def _parse_log_message(stream_id: int, payload: bytes) -> LogFrame | None:
    """One dockerd log message: "<timestamp> <text>[\\n]"."""
    stamp, sep, rest = payload.partition(b" ")
    if not sep:
        return None
    partial = not rest.endswith(b"\n")
    text = rest if partial else rest[:-1]
    if text.endswith(b"\r"):
        text = text[:-1]
    return LogFrame(
        stream=_STREAM_NAMES.get(stream_id, "stdout"),
        timestamp=stamp.decode("ascii", "replace"),
        text=text,
        partial=partial,
    )
