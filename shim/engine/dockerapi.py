"""What the shim needs from the Docker Engine, as a protocol.

:class:`shim.engine.docker.DockerClient` (aiodocker) implements it; the fast tests'
recording fake (``tests/support/fakedocker.py``) implements it too, so every
service module can be exercised without dockerd. Service modules depend on
this protocol, never on the concrete client.

Contract, whoever implements it: documents are dockerd's JSON, failures are
:class:`shim.errors.DockerAPIError` (with dockerd's HTTP status) or
:class:`shim.errors.DeadlineExceeded`, and every call but the streams
(``log_frames``, ``events``, ``pull_image`` and the sessions of ``exec_attach`` and
``container_attach`` past their upgrade) ends within the RPC's deadline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LogFrame:
    """One log message as dockerd stored it."""

    stream: str  # "stdout" | "stderr"
    timestamp: str  # RFC 3339 with nanoseconds, as dockerd wrote it
    text: bytes  # without the trailing newline
    partial: bool  # dockerd split an overlong line; more follows


@dataclass(frozen=True, slots=True)
class ExecOutput:
    stdout: bytes
    stderr: bytes
    dropped: int = 0  # bytes past the limit, not kept


class Hijacked(Protocol):
    """An exec's or attach's upgraded connection (``shim.engine.docker.HijackedStream``)."""

    async def read(self) -> tuple[int, bytes] | None:
        """The next output as (1 stdout | 2 stderr, bytes); None once it ended."""
        ...

    async def write(self, data: bytes) -> None: ...
    def close_stdin(self) -> None: ...  # half-close: the process reads EOF
    async def close(self) -> None: ...


class DockerAPI(Protocol):
    @property
    def endpoint(self) -> str: ...

    async def close(self) -> None: ...

    # -- system
    async def ping(self) -> str: ...  # the engine version ("" if dockerd does not say)
    async def version(self) -> JSON: ...
    async def info(self) -> JSON: ...
    async def disk_usage(self) -> JSON: ...
    async def network_exists(self, name: str) -> bool: ...

    # -- containers
    async def create_container(self, name: str, body: JSON) -> str: ...
    async def start_container(self, container_id: str) -> None: ...
    async def stop_container(self, container_id: str, grace_seconds: int) -> None: ...
    async def remove_container(self, container_id: str) -> None: ...
    async def inspect_container(self, container_id: str) -> JSON: ...
    async def list_containers(self, filters: Mapping[str, Sequence[str]]) -> list[JSON]: ...
    async def update_container(self, container_id: str, body: JSON) -> None: ...

    # -- exec
    async def exec_create(
        self,
        container_id: str,
        cmd: Sequence[str],
        tty: bool = False,
        *,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
    ) -> str: ...
    async def exec_run(
        self, exec_id: str, deadline: float | None, until: Awaitable[object] | None = None
    ) -> ExecOutput:
        """Output until the exec ends; TimeoutError once ``deadline`` (loop time) passes.

        When ``until`` completes first, the output read so far is returned (dockerd
        may never end the stream of an exec whose container exited).
        """
        ...

    async def exec_inspect(self, exec_id: str) -> JSON: ...

    # -- streaming sessions (only their upgrade is bounded by the deadline)
    async def exec_attach(self, exec_id: str, tty: bool) -> Hijacked:
        """Start an exec and take over its connection."""
        ...

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None: ...
    async def container_attach(
        self, container_id: str, tty: bool, *, stdin: bool, stdout: bool, stderr: bool
    ) -> Hijacked:
        """Attach to a running container's stdio (no past output)."""
        ...

    async def container_resize(self, container_id: str, height: int, width: int) -> None: ...

    # -- logs
    def log_frames(
        self, container_id: str, *, tty: bool, since: str | None, follow: bool
    ) -> AsyncIterator[LogFrame]: ...

    # -- events
    def events(
        self, filters: Mapping[str, Sequence[str]], on_open: Callable[[], None]
    ) -> AsyncIterator[JSON]: ...

    # -- images
    async def list_images(
        self, filters: Mapping[str, Sequence[str]] | None = None
    ) -> list[JSON]: ...
    async def inspect_image(self, ref: str) -> JSON | None: ...
    async def pull_image(
        self, ref: str, auth: JSON | None, on_progress: Callable[[JSON], None]
    ) -> None: ...
    async def remove_image(self, ref: str) -> None: ...
