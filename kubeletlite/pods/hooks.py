"""Lifecycle hook handlers: exec, httpGet and sleep, as the kubelet runs them.

One entry point, :meth:`HookRunner.run`, dispatches on the handler type and
returns a :class:`HookResult` instead of raising, so callers decide what a
failure means (kill the container after postStart, an event after preStop).

Deliberate differences from the kubelet, from the design document and the
known pain points:
- httpGet succeeds only on a status 200 <= code < 400 (the kubelet ignores
  the status);
- httpGet's host defaults to 127.0.0.1 for host-network pods, where the
  kubelet fails with "failed to find networking container".
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDict

from kubeletlite import manifest as m
from kubeletlite.runtime.api import RuntimeAPI
from kubeletlite.runtime.client import RuntimeCallError

log = logging.getLogger(__name__)

# The kubelet sends "kube-lifecycle/<major>.<minor>" of its own version; this
# kubelet-lite follows the Kubernetes release whose CRI it speaks.
USER_AGENT = "kube-lifecycle/1.35"
MAX_REDIRECTS = 10
MAX_BODY_BYTES = 10 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class HookTarget:
    """The container a hook runs against, and how to tell it has terminated."""

    pod: m.Pod
    container: m.Container
    container_id: str
    pod_ip: str
    terminated: asyncio.Event


@dataclass(frozen=True, slots=True)
class HookResult:
    ok: bool
    message: str = ""  # the kubelet's failure message; empty on success
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class HookRunner:
    def __init__(self, runtime: RuntimeAPI, http: aiohttp.ClientSession) -> None:
        self._runtime = runtime
        self._http = http

    async def run(self, handler: m.Handler, target: HookTarget) -> HookResult:
        started = time.monotonic()
        match handler:
            case m.ExecAction():
                result = await self._exec(handler, target)
            case m.HTTPGetAction():
                result = await self._http_get(handler, target)
            case m.SleepAction():
                result = await _sleep(handler, target)
        return HookResult(result.ok, result.message, result.details, time.monotonic() - started)

    async def _exec(self, action: m.ExecAction, target: HookTarget) -> HookResult:
        command = list(action.command)
        try:
            response = await self._runtime.exec_sync(target.container_id, command)
        except RuntimeCallError as exc:
            return _exec_failure(
                action, target, exc.details, output="", details={"error": exc.details}
            )
        output = (response.stdout + response.stderr).decode("utf-8", "replace")
        details = {"exitCode": response.exit_code, "output": output}
        if response.exit_code == 0:
            return HookResult(True, details=details)
        stderr = response.stderr.decode("utf-8", "replace")
        error = f"command '{' '.join(command)}' exited with {response.exit_code}: {stderr}"
        return _exec_failure(action, target, error, output, details)

    async def _http_get(self, action: m.HTTPGetAction, target: HookTarget) -> HookResult:
        try:
            url, headers = request_for(action, target)
        except ValueError as exc:
            return _http_failure(action, target, str(exc), {"error": str(exc)})
        try:
            status = await self._get_following_same_host(url, headers)
        except aiohttp.ClientError as exc:
            error = f"Get {_quote(url)}: {exc}"
            return _http_failure(action, target, error, {"url": url, "error": str(exc)})
        details = {"url": url, "status": status}
        if 200 <= status < 400:
            return HookResult(True, details=details)
        return _http_failure(action, target, f"HTTP status {status} from {url}", details)

    async def _get_following_same_host(self, url: str, headers: CIMultiDict[str]) -> int:
        """GET ``url``; follow redirects that stay on the same host, up to 10."""
        # The kubelet's RedirectChecker compares host names only: another port is the same host.
        origin = urlsplit(url).hostname
        for _ in range(MAX_REDIRECTS + 1):
            # aiohttp would add "Accept: */*" back when an empty Accept header removed it.
            async with self._http.get(
                url,
                headers=headers,
                skip_auto_headers=("Accept",),
                allow_redirects=False,
                ssl=False,
            ) as response:
                location = response.headers.get("Location")
                if (
                    response.content_length is not None
                    and response.content_length <= MAX_BODY_BYTES
                ):
                    await response.content.read(MAX_BODY_BYTES)
                if response.status not in _REDIRECTS or not location:
                    return response.status
                following = urljoin(url, location)
                if urlsplit(following).hostname != origin:
                    # Like the kubelet: a redirect elsewhere is the answer itself.
                    return response.status
                url = following
        # Go's redirect checker says so; aiohttp's TooManyRedirects prints as "0, message=''".
        raise aiohttp.ClientError(f"stopped after {MAX_REDIRECTS} redirects")


def default_host(target: HookTarget) -> str:
    """Where an httpGet hook without a host goes: the pod's IP, or 127.0.0.1 on the host network."""
    return "127.0.0.1" if target.pod.spec.host_network else target.pod_ip


def request_for(action: m.HTTPGetAction, target: HookTarget) -> tuple[str, CIMultiDict[str]]:
    """The URL and headers of an httpGet hook (the kubelet's NewRequestForHTTPGetAction).

    Header names are case-insensitive and repeated names are all sent, as Go's
    ``http.Header.Add`` does: a user's ``user-agent`` replaces the default one and
    an empty ``accept`` removes it.
    """
    host = action.host or default_host(target)
    if not host:
        raise ValueError("the pod has no IP address to send the request to")
    port = m.resolve_port(action, target.container)
    scheme = action.scheme.lower()
    path = action.path if action.path.startswith("/") else "/" + action.path
    bracketed = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{bracketed}:{port}{path}"
    headers: CIMultiDict[str] = CIMultiDict()
    for header in action.headers:
        headers.add(header.name, header.value)
    if "User-Agent" not in headers:
        headers["User-Agent"] = USER_AGENT
    if "Accept" not in headers:
        headers["Accept"] = "*/*"
    elif headers["Accept"] == "":
        del headers["Accept"]
    return url, headers


async def _sleep(action: m.SleepAction, target: HookTarget) -> HookResult:
    """Sleep, unless the container terminates first (the kubelet's runSleepHandler)."""
    try:
        async with asyncio.timeout(action.seconds):
            await target.terminated.wait()
    except TimeoutError:
        return HookResult(True, details={"seconds": action.seconds})
    return HookResult(
        False,
        message="container terminated before sleep hook finished",
        details={"seconds": action.seconds},
    )


def _exec_failure(
    action: m.ExecAction, target: HookTarget, error: str, output: str, details: dict[str, Any]
) -> HookResult:
    message = (
        f"Exec lifecycle hook ([{' '.join(action.command)}]) "
        f"for Container {_quote(target.container.name)} in Pod {_quote(target.pod.describe())} "
        f"failed - error: {error}, message: {_quote(output)}"
    )
    return HookResult(False, message, details)


def _http_failure(
    action: m.HTTPGetAction, target: HookTarget, error: str, details: dict[str, Any]
) -> HookResult:
    message = (
        f"HTTP lifecycle hook ({action.path}) for Container {_quote(target.container.name)} "
        f"in Pod {_quote(target.pod.describe())} failed - error: {error}"
    )
    return HookResult(False, message, details)


def _quote(text: str) -> str:
    """Go's ``%q``, which the kubelet's messages use (Python's ``!r`` quotes differently)."""
    return m.go_quote(text)


def describe_handler(handler: m.Handler, default_host: str = "<pod IP>") -> str:
    """A short human description, for timelines and logs."""
    match handler:
        case m.ExecAction(command=command):
            return f"exec {' '.join(command)}"
        case m.HTTPGetAction(scheme=scheme, host=host, port=port, path=path):
            return f"httpGet {scheme.lower()}://{host or default_host}:{port}{path}"
        case m.SleepAction(seconds=seconds):
            return f"sleep {seconds}s"
