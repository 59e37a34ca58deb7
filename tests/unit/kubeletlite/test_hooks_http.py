"""The httpGet lifecycle handler against real HTTP servers on loopback addresses."""

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from kubeletlite import manifest as m
from kubeletlite.pods.hooks import MAX_REDIRECTS, USER_AGENT, HookResult, HookRunner, HookTarget

Respond = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    path: str
    query: str
    host: str  # the Host header as the server got it
    headers: list[tuple[str, str]]

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Server:
    """An HTTP(S) server on a loopback address, answering per path and recording requests."""

    def __init__(self, host: str, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.tls = tls
        self.seen: list[Seen] = []
        self.routes: dict[str, Respond] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, ssl_context=self.tls).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def reply(self, path: str, status: int = 200, location: str | None = None) -> None:
        async def respond(_: web.Request) -> web.StreamResponse:
            headers = {"Location": location} if location is not None else {}
            return web.Response(status=status, text=f"{status} {path}", headers=headers)

        self.routes[path] = respond

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                path=request.path,
                query=request.query_string,
                host=request.headers.get("Host", ""),
                headers=list(request.headers.items()),
            )
        )
        respond = self.routes.get(request.path)
        if respond is None:
            return web.Response(status=404, text="no such page")
        return await respond(request)

    @property
    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


@pytest.fixture
async def servers() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    started: list[Server] = []

    async def start(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Server:
        server = Server(host, tls)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


@pytest.fixture
async def server(servers: Callable[..., Awaitable[Server]]) -> Server:
    return await servers()


class NoRuntime:
    """httpGet never goes through the runtime."""

    async def exec_sync(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("an httpGet hook called the runtime")


@pytest.fixture
async def runner() -> AsyncIterator[HookRunner]:
    # As the agent makes it: no overall timeout, like the kubelet's lifecycle client.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        yield HookRunner(NoRuntime(), session)  # type: ignore[arg-type]


def target(
    port: int = 0,
    *,
    pod_ip: str = "127.0.0.1",
    host_network: bool = False,
) -> HookTarget:
    container = m.Container(
        name="c",
        image="busybox:1.36",
        image_pull_policy="IfNotPresent",
        ports=(m.ContainerPort(container_port=port or 1, name="http"),),
    )
    pod = m.Pod(
        name="name",
        namespace="ns",
        uid="uid",
        spec=m.PodSpec(containers=(container,), host_network=host_network),
    )
    return HookTarget(pod, container, "cid", pod_ip, asyncio.Event())


async def run(
    runner: HookRunner, action: m.HTTPGetAction, hook_target: HookTarget | None = None
) -> HookResult:
    port = action.port if isinstance(action.port, int) else 0
    async with asyncio.timeout(10):
        return await runner.run(action, hook_target or target(port))


def failure_prefix(path: str) -> str:
    return f'HTTP lifecycle hook ({path}) for Container "c" in Pod "name_ns(uid)" failed - error: '


# -- outcomes ---------------------------------------------------------------------------------


async def test_200_is_success(runner: HookRunner, server: Server) -> None:
    server.reply("/ready")
    result = await run(runner, m.HTTPGetAction(port=server.port, path="/ready"))
    assert result == HookResult(
        True, "", {"url": server.url("/ready"), "status": 200}, result.seconds
    )
    assert server.paths == ["/ready"]
    assert result.seconds >= 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_the_same_host_is_followed(
    runner: HookRunner, server: Server, status: int
) -> None:
    server.reply("/start", status, location="/final?from=start")
    server.reply("/final")
    result = await run(runner, m.HTTPGetAction(port=server.port, path="/start"))
    assert result.ok
    assert result.details["status"] == 200
    assert server.paths == ["/start", "/final"]
    assert server.seen[1].query == "from=start"
    # The redirected request carries the same headers.
    assert server.seen[1].header("User-Agent") == [USER_AGENT]


async def test_redirect_to_another_port_of_the_same_host_is_followed(
    runner: HookRunner, servers: Callable[..., Awaitable[Server]]
) -> None:
    # The kubelet's RedirectChecker compares host names only.
    first, second = await servers(), await servers()
    second.reply("/there")
    first.reply("/here", 302, location=second.url("/there"))
    result = await run(runner, m.HTTPGetAction(port=first.port, path="/here"))
    assert (result.ok, result.details["status"]) == (True, 200)
    assert (first.paths, second.paths) == (["/here"], ["/there"])


async def test_redirect_to_another_host_is_not_followed_and_counts_as_success(
    runner: HookRunner, servers: Callable[..., Awaitable[Server]]
) -> None:
    here, elsewhere = await servers("127.0.0.1"), await servers("127.0.0.2")
    elsewhere.reply("/away")
    here.reply("/start", 302, location=elsewhere.url("/away"))
    result = await run(runner, m.HTTPGetAction(port=here.port, path="/start"))
    assert result.ok
    assert result.details == {"url": here.url("/start"), "status": 302}
    assert here.paths == ["/start"]
    assert elsewhere.paths == []


async def test_other_3xx_answers_are_success(runner: HookRunner, server: Server) -> None:
    server.reply("/choices", 300, location="/elsewhere")  # not a redirect Go follows
    server.reply("/moved", 302)  # no Location: nothing to follow
    for path, status in [("/choices", 300), ("/moved", 302)]:
        result = await run(runner, m.HTTPGetAction(port=server.port, path=path))
        assert (result.ok, result.details["status"]) == (True, status)
    assert server.paths == ["/choices", "/moved"]


@pytest.mark.parametrize("status", [201, 204, 299])
async def test_any_2xx_is_success(runner: HookRunner, server: Server, status: int) -> None:
    server.reply("/ok", status)
    result = await run(runner, m.HTTPGetAction(port=server.port, path="/ok"))
    assert (result.ok, result.message) == (True, "")
    assert result.details["status"] == status


@pytest.mark.parametrize(
    ("status", "path"), [(404, "/missing"), (500, "/broken"), (403, "/forbidden"), (400, "/bad")]
)
async def test_error_status_is_a_failure_with_the_kubelets_message(
    runner: HookRunner, server: Server, status: int, path: str
) -> None:
    if status != 404:
        server.reply(path, status)
    result = await run(runner, m.HTTPGetAction(port=server.port, path=path))
    assert not result.ok
    assert result.message == failure_prefix(path) + f"HTTP status {status} from {server.url(path)}"
    assert result.details == {"url": server.url(path), "status": status}


async def test_connection_refused_is_a_failure(runner: HookRunner) -> None:
    with socket.socket() as sock:  # a port nobody listens on once this is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await run(runner, m.HTTPGetAction(port=port, path="/hook"))
    assert not result.ok
    url = f"http://127.0.0.1:{port}/hook"
    assert result.message.startswith(failure_prefix("/hook") + f'Get "{url}": ')
    assert result.details["url"] == url
    assert result.details["error"]


async def test_a_large_body_is_not_a_problem(runner: HookRunner, server: Server) -> None:
    async def big(_: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * (1 << 20))

    server.routes["/big"] = big
    result = await run(runner, m.HTTPGetAction(port=server.port, path="/big"))
    assert (result.ok, result.details["status"]) == (True, 200)


async def test_at_most_ten_redirects_are_followed(runner: HookRunner, server: Server) -> None:
    for n in range(MAX_REDIRECTS):
        server.reply(f"/r{n}", 302, location=f"/r{n + 1}")
    server.reply(f"/r{MAX_REDIRECTS}")
    result = await run(runner, m.HTTPGetAction(port=server.port, path="/r0"))
    assert (result.ok, result.details["status"]) == (True, 200)
    assert len(server.seen) == MAX_REDIRECTS + 1


async def test_an_endless_redirect_loop_fails(runner: HookRunner, server: Server) -> None:
    server.reply("/loop", 302, location="/loop")
    result = await run(runner, m.HTTPGetAction(port=server.port, path="/loop"))
    assert not result.ok
    assert result.message == (
        failure_prefix("/loop") + f'Get "{server.url("/loop")}": stopped after 10 redirects'
    )
    assert server.paths == ["/loop"] * (MAX_REDIRECTS + 1)


# -- the request ---------------------------------------------------------------------------------


async def test_default_headers(runner: HookRunner, server: Server) -> None:
    server.reply("/")
    assert (await run(runner, m.HTTPGetAction(port=server.port))).ok
    (seen,) = server.seen
    assert seen.header("User-Agent") == ["kube-lifecycle/1.35"]
    assert seen.header("Accept") == ["*/*"]
    assert seen.host == f"127.0.0.1:{server.port}"


async def test_path_defaults_to_the_root(runner: HookRunner, server: Server) -> None:
    server.reply("/")
    result = await run(runner, m.HTTPGetAction(port=server.port))
    assert result.ok
    assert result.details["url"] == server.url("/")
    assert server.paths == ["/"]


async def test_query_string_is_kept(runner: HookRunner, server: Server) -> None:
    server.reply("/hook")
    assert (await run(runner, m.HTTPGetAction(port=server.port, path="/hook?drain=1&t=5"))).ok
    assert (server.seen[0].path, server.seen[0].query) == ("/hook", "drain=1&t=5")


async def test_custom_headers_are_sent(runner: HookRunner, server: Server) -> None:
    server.reply("/")
    headers = (
        m.HTTPHeader("X-Token", "abc"),
        m.HTTPHeader("X-Multi", "one"),
        m.HTTPHeader("X-Multi", "two"),
        m.HTTPHeader("Accept", "application/json"),
        m.HTTPHeader("user-agent", "my-agent/2"),  # names are case-insensitive
    )
    assert (await run(runner, m.HTTPGetAction(port=server.port, headers=headers))).ok
    (seen,) = server.seen
    assert seen.header("X-Token") == ["abc"]
    assert seen.header("X-Multi") == ["one", "two"]
    assert seen.header("Accept") == ["application/json"]
    assert seen.header("User-Agent") == ["my-agent/2"]


async def test_a_host_header_overrides_the_host(runner: HookRunner, server: Server) -> None:
    server.reply("/")
    headers = (m.HTTPHeader("Host", "app.example.com"),)
    assert (await run(runner, m.HTTPGetAction(port=server.port, headers=headers))).ok
    (seen,) = server.seen
    assert seen.host == "app.example.com"
    assert seen.header("Host") == ["app.example.com"]


@pytest.mark.parametrize("name", ["Accept", "accept"])
async def test_an_empty_accept_header_removes_it(
    runner: HookRunner, server: Server, name: str
) -> None:
    server.reply("/")
    headers = (m.HTTPHeader(name, ""),)
    assert (await run(runner, m.HTTPGetAction(port=server.port, headers=headers))).ok
    assert server.seen[0].header("Accept") == []
    assert server.seen[0].header("User-Agent") == [USER_AGENT]


async def test_a_named_port_is_resolved_from_the_container(
    runner: HookRunner, server: Server
) -> None:
    server.reply("/named")
    action = m.HTTPGetAction(port="http", path="/named")
    result = await run(runner, action, target(server.port))
    assert result.ok
    assert result.details["url"] == server.url("/named")


async def test_a_numeric_string_port_is_used_as_a_number(
    runner: HookRunner, server: Server
) -> None:
    server.reply("/")
    result = await run(runner, m.HTTPGetAction(port=str(server.port)), target(1))
    assert result.ok


async def test_an_unknown_port_name_is_a_failure(runner: HookRunner) -> None:
    result = await run(runner, m.HTTPGetAction(port="admin", path="/x"), target(8080))
    assert not result.ok
    assert result.message.startswith(failure_prefix("/x"))
    assert "admin" in result.message


async def test_host_defaults_to_the_pod_ip(
    runner: HookRunner, servers: Callable[..., Awaitable[Server]]
) -> None:
    server = await servers("127.0.0.2")
    server.reply("/")
    hook_target = target(server.port, pod_ip="127.0.0.2")
    result = await run(runner, m.HTTPGetAction(port=server.port), hook_target)
    assert result.ok
    assert server.seen[0].host == f"127.0.0.2:{server.port}"


async def test_an_explicit_host_wins_over_the_pod_ip(
    runner: HookRunner, servers: Callable[..., Awaitable[Server]]
) -> None:
    server = await servers("127.0.0.2")
    server.reply("/")
    action = m.HTTPGetAction(port=server.port, host="127.0.0.2")
    assert (await run(runner, action, target(server.port, pod_ip="127.0.0.1"))).ok
    assert server.paths == ["/"]


async def test_host_network_pod_without_an_ip_uses_localhost(
    runner: HookRunner, server: Server
) -> None:
    server.reply("/")
    hook_target = target(server.port, pod_ip="", host_network=True)
    result = await run(runner, m.HTTPGetAction(port=server.port), hook_target)
    assert result.ok
    assert result.details["url"] == server.url("/")


async def test_pod_without_an_ip_fails(runner: HookRunner) -> None:
    result = await run(runner, m.HTTPGetAction(port=80, path="/x"), target(80, pod_ip=""))
    assert not result.ok
    assert result.message.startswith(failure_prefix("/x"))


async def test_https_with_a_self_signed_certificate_is_not_verified(
    runner: HookRunner, servers: Callable[..., Awaitable[Server]]
) -> None:
    # Issued by an unknown CA, for another name: the kubelet accepts it all the same.
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("hooks.example.test").configure_cert(context)
    server = await servers(tls=context)
    server.reply("/secure")
    action = m.HTTPGetAction(port=server.port, path="/secure", scheme="HTTPS")
    result = await run(runner, action)
    assert result.ok
    assert result.details["url"] == f"https://127.0.0.1:{server.port}/secure"
    assert server.paths == ["/secure"]
