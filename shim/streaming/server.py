"""The streaming HTTP server: ``/exec/TOKEN``, ``/attach/TOKEN``, ``/portforward/TOKEN``.

Owned by the daemon, on its event loop: :meth:`StreamingServer.start`
listens and publishes the base URL to the CRI handlers' :class:`StreamIssuer`;
:meth:`StreamingServer.close` stops listening and cancels every open session,
which kills the processes they exec'd. Each session is bounded by an idle
timeout, and the number of concurrent sessions by ``max_streams`` (beyond
it, 429 before the token is spent). A used, unknown or expired token gets
404 and nothing runs. Connections that have not become a session are
bounded too (:class:`_ConnectionGuard`): at most ``max_pending_connections``
at once, each closed ``header_timeout`` seconds after it was accepted, so
that a slow or silent client (slowloris) cannot hold the shim's file
descriptors, which the CRI socket and dockerd's need as well.

A request upgrades either to SPDY/3.1 (``Upgrade: SPDY/3.1``, what crictl
and the kubelet's clients send) or to WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from criapi.runtime.v1 import api_pb2 as cri
from shim.cri.streamtokens import Kind, StreamIssuer
from shim.engine.dockerapi import DockerAPI
from shim.errors import ShimError
from shim.streaming import portforward, remotecommand, websocket
from shim.streaming.session import Connection, SpdySession, SpdyStream
from shim.streaming.upgrade import UpgradedConnection

log = logging.getLogger(__name__)

STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's default
SPDY_UPGRADE = "SPDY/3.1"
PROTOCOL_HEADER = "X-Stream-Protocol-Version"
ACCEPTED_HEADER = "X-Accepted-Stream-Protocol-Versions"


@dataclass(frozen=True, slots=True)
class StreamingOptions:
    host: str = "127.0.0.1"
    port: int = 0
    base_url: str = ""  # advertised; default http(s)://HOST:PORT as bound
    tls_cert: str = ""
    tls_key: str = ""
    max_streams: int = 100
    idle_timeout: float = 4 * 3600.0  # the kubelet's default
    stream_creation_timeout: float = STREAM_CREATION_TIMEOUT
    # A client sends its request at once (crictl, the kubelet's proxy, client-go).
    header_timeout: float = 10.0
    max_pending_connections: int = 256


class StreamingServer:
    def __init__(self, docker: DockerAPI, issuer: StreamIssuer, options: StreamingOptions) -> None:
        self._docker = docker
        self._issuer = issuer
        self._options = options
        self._sessions: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._guard = _ConnectionGuard(options.header_timeout, options.max_pending_connections)
        self._closing = False
        app = web.Application()
        for kind in ("exec", "attach", "portforward"):
            app.router.add_route("*", f"/{kind}/{{token}}", self._route(kind))
        self._app = app

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> str:
        """Listen; returns (and publishes) the base URL."""
        options = self._options
        context = None
        if options.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(options.tls_cert, options.tls_key)
        # A connection that answered a request (a 404, say) waits this long for the next.
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, keepalive_timeout=5.0
        )
        await runner.setup()
        self._runner = runner
        handler_factory = runner.server
        assert handler_factory is not None
        self._guard.handler_factory = handler_factory
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            self._guard.protocol, options.host, options.port, ssl=context
        )
        # The bound address (port 0 picks one), whichever event loop serves it.
        host, port = self._listener.sockets[0].getsockname()[:2]
        scheme = "https" if context else "http"
        shown = f"[{host}]" if ":" in host else host
        self._issuer.base_url = options.base_url or f"{scheme}://{shown}:{port}"
        log.info("streaming server on %s", self._issuer.base_url)
        return self._issuer.base_url

    async def close(self) -> None:
        """Stop listening, end every session (killing what they exec'd), release the port."""
        self._closing = True
        self._issuer.base_url = ""
        if self._listener is not None:
            self._listener.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def _route(self, kind: Kind) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(kind, request)

        return handle

    async def _handle(self, kind: Kind, request: web.Request) -> web.StreamResponse:
        if self._closing:
            return web.Response(status=503, text="shutting down\n")
        if len(self._sessions) >= self._options.max_streams:
            return web.Response(
                status=429, text=f"too many streams (at most {self._options.max_streams})\n"
            )
        pending = self._issuer.tokens.consume(request.match_info["token"], kind)
        # Without a valid token nothing below runs.
        if pending is None:
            return web.Response(status=404, text="404 page not found\n")
        self._guard.admit(request.transport)
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            return await self._serve(kind, request, pending)
        except ShimError as exc:
            if request.transport is None or request.transport.is_closing():
                raise
            return web.Response(status=500, text=f"{exc.message}\n")
        finally:
            self._sessions.discard(task)

    async def _serve(self, kind: Kind, request: web.Request, pending: object) -> web.StreamResponse:
        if isinstance(pending, cri.PortForwardRequest):
            dial, pod = await self._pod_dialer(pending.pod_sandbox_id)
            if websocket.is_websocket(request) and websocket.wants_spdy_tunnel(request):
                ws, tunnel = await websocket.open_spdy_tunnel(request)
                await self._run_spdy(
                    tunnel,
                    portforward.PROTOCOL,
                    lambda session, _protocol: portforward.serve_spdy(session, dial, pod),
                    portforward.accept_stream,
                )
                return ws
            if websocket.is_websocket(request):
                ports = websocket.port_forward_ports(request)
                if ports is None:
                    return web.Response(status=400, text='query parameter "port" is required\n')
                return await websocket.serve_port_forward(
                    request, ports, dial, pod, self._options.idle_timeout
                )
            return await self._spdy(
                request,
                (portforward.PROTOCOL,),
                lambda session, _protocol: portforward.serve_spdy(session, dial, pod),
                accept=portforward.accept_stream,
            )
        assert isinstance(pending, cri.ExecRequest | cri.AttachRequest)
        if websocket.is_websocket(request):
            return await self._websocket_command(request, pending)

        async def serve(session: SpdySession, protocol: str) -> None:
            ctx = await _spdy_command_context(session, pending, protocol, self._options)
            if ctx is not None:
                await _run_command(self._docker, pending, ctx)

        return await self._spdy(request, remotecommand.SPDY_PROTOCOLS, serve)

    async def _spdy(
        self,
        request: web.Request,
        protocols: tuple[str, ...],
        serve: Callable[[SpdySession, str], Awaitable[None]],
        accept: Callable[[SpdyStream], bool] | None = None,
    ) -> web.StreamResponse:
        connection = request.headers.get("Connection", "").lower()
        if "upgrade" not in connection or request.headers.get("Upgrade", "") != SPDY_UPGRADE:
            return web.Response(
                status=400, text="unable to upgrade: missing upgrade headers in request\n"
            )
        offered = request.headers.getall(PROTOCOL_HEADER, [])
        protocol = remotecommand.negotiate(offered, protocols) if offered else protocols[-1]
        if protocol is None:
            response = web.Response(
                status=403,
                text=(
                    f"unable to upgrade: unable to negotiate protocol: client supports "
                    f"{offered}, server accepts {list(protocols)}\n"
                ),
            )
            for name in protocols:
                response.headers.add(ACCEPTED_HEADER, name)
            return response
        conn = UpgradedConnection(request)
        upgraded = web.StreamResponse(
            status=101,
            headers={"Connection": "Upgrade", "Upgrade": SPDY_UPGRADE, PROTOCOL_HEADER: protocol},
        )
        await upgraded.prepare(request)
        await self._run_spdy(conn, protocol, serve, accept)
        return upgraded

    async def _run_spdy(
        self,
        conn: Connection,
        protocol: str,
        serve: Callable[[SpdySession, str], Awaitable[None]],
        accept: Callable[[SpdyStream], bool] | None,
    ) -> None:
        idle = _IdleConnection(conn)
        session = SpdySession(idle, accept=accept)
        reader = asyncio.create_task(session.run())
        watchdog = asyncio.create_task(idle.expire(self._options.idle_timeout, session))
        try:
            await serve(session, protocol)
        finally:
            await session.close()
            for task in (reader, watchdog):
                task.cancel()
            await asyncio.gather(reader, watchdog, return_exceptions=True)

    async def _websocket_command(
        self, request: web.Request, pending: cri.ExecRequest | cri.AttachRequest
    ) -> web.StreamResponse:
        offered = websocket.offered(request)
        if offered and not any(p in websocket.EXEC_PROTOCOLS for p in offered):
            return web.Response(status=400, text="requested protocol(s) are not supported\n")
        ws, sock, ctx = await websocket.open_exec(
            request, pending.stdin, pending.stdout, pending.stderr, pending.tty
        )
        reader = asyncio.create_task(sock.run())
        watchdog = asyncio.create_task(sock.close_when_idle(self._options.idle_timeout))
        try:
            await _run_command(self._docker, pending, ctx)
        finally:
            await ws.close()
            for task in (reader, watchdog):
                task.cancel()
            await asyncio.gather(reader, watchdog, return_exceptions=True)
        return ws

    async def _pod_dialer(self, sandbox_id: str) -> tuple[portforward.Dialer, str]:
        inspect = await self._docker.inspect_container(sandbox_id)
        host_network = inspect["HostConfig"].get("NetworkMode") == "host"
        pid = None if host_network else int(inspect["State"].get("Pid") or 0)
        if pid == 0:
            raise ShimError(f"pod sandbox {sandbox_id} is not running")
        return portforward.netns_dialer(pid), str(inspect["Name"]).lstrip("/")


async def _run_command(
    docker: DockerAPI,
    pending: cri.ExecRequest | cri.AttachRequest,
    ctx: remotecommand.RemoteContext,
) -> None:
    if isinstance(pending, cri.ExecRequest):
        await remotecommand.serve_exec(docker, pending, ctx)
    else:
        await remotecommand.serve_attach(docker, pending, ctx)


async def _spdy_command_context(
    session: SpdySession,
    pending: cri.ExecRequest | cri.AttachRequest,
    protocol: str,
    options: StreamingOptions,
) -> remotecommand.RemoteContext | None:
    """Wait for the streams the request implies (the kubelet's waitForStreams)."""
    stderr = pending.stderr and not pending.tty
    resizable = protocol in (remotecommand.PROTOCOL_V4, remotecommand.PROTOCOL_V3)
    expected = 1 + pending.stdin + pending.stdout + stderr + (pending.tty and resizable)
    streams: dict[str, SpdyStream] = {}
    try:
        async with asyncio.timeout(options.stream_creation_timeout):
            while len(streams) < expected:
                stream = await session.incoming.get()
                if stream is None:
                    return None
                kind = stream.header("streamtype")
                if kind in ("error", "stdin", "stdout", "stderr", "resize"):
                    streams[kind] = stream
    except TimeoutError:
        log.info("timed out waiting for the client to create streams")
        return None
    if "error" not in streams:
        return None
    error = streams["error"]
    v4 = protocol == remotecommand.PROTOCOL_V4
    if protocol == remotecommand.PROTOCOL_V1 and "stdin" in streams:
        await streams["stdin"].close()  # what 1.0 kubelets did, kept for v1 clients

    async def write_status(status: remotecommand.Status) -> None:
        payload = remotecommand.encode_status(status, v4)
        with contextlib.suppress(ConnectionError):
            if payload:
                await error.write(payload)
            await error.close()

    return remotecommand.RemoteContext(
        stdin=streams.get("stdin"),
        stdout=streams.get("stdout"),
        stderr=streams.get("stderr"),
        resize=streams.get("resize"),
        write_status=write_status,
        gone=session.done,
    )


class _IdleConnection:
    """A connection that notes when bytes last moved, for the idle timeout."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._last = asyncio.get_running_loop().time()

    async def read(self) -> bytes:
        data = await self._conn.read()
        self._last = asyncio.get_running_loop().time()
        return data

    def write(self, data: bytes) -> None:
        self._conn.write(data)
        self._last = asyncio.get_running_loop().time()

    async def drain(self) -> None:
        await self._conn.drain()

    def close(self) -> None:
        self._conn.close()

    async def expire(self, idle_seconds: float, session: SpdySession) -> None:
        loop = asyncio.get_running_loop()
        while True:
            remaining = self._last + idle_seconds - loop.time()
            if remaining <= 0:
                log.info("closing a streaming session idle for %.0f s", idle_seconds)
                await session.close()
                return
            await asyncio.sleep(min(remaining, 60.0))


class _ConnectionGuard:
    """Accepts connections for aiohttp's handlers, bounding those not yet a session.

    Each accepted connection gets a timer; :meth:`admit` (a valid token)
    cancels it. When it fires first, the connection is closed, whatever the
    client has sent by then. Past ``max_pending`` such connections, a new
    one is closed at once.
    """

    def __init__(self, header_timeout: float, max_pending: int) -> None:
        self._timeout = header_timeout
        self._max = max_pending
        self._pending: dict[asyncio.BaseTransport, asyncio.TimerHandle] = {}
        self.handler_factory: Callable[[], asyncio.Protocol] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def protocol(self) -> asyncio.Protocol:
        assert self.handler_factory is not None
        return _GuardedProtocol(self.handler_factory(), self)

    def accept(self, transport: asyncio.BaseTransport) -> bool:
        if len(self._pending) >= self._max:
            log.warning("streaming: %d connections without a session; refusing one", self._max)
            return False
        loop = asyncio.get_running_loop()
        self._pending[transport] = loop.call_later(self._timeout, self._expire, transport)
        return True

    def admit(self, transport: asyncio.BaseTransport | None) -> None:
        timer = self._pending.pop(transport, None) if transport is not None else None
        if timer is not None:
            timer.cancel()

    def _expire(self, transport: asyncio.BaseTransport) -> None:
        if self._pending.pop(transport, None) is not None:
            log.info("streaming: closing a connection without a session after %gs", self._timeout)
            _drop(transport)


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's request handler, behind the guard's admission and timer."""

    def __init__(self, inner: asyncio.Protocol, guard: _ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.accept(transport):
            _drop(transport)
            return
        self._transport = transport
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.admit(self._transport)
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def _drop(transport: asyncio.BaseTransport) -> None:
    # uvloop's transports are not asyncio.Transport subclasses, but have abort().
    abort: Callable[[], None] | None = getattr(transport, "abort", None)
    (abort or transport.close)()
