"""A recording in-memory Docker Engine behind ``shim.engine.dockerapi.DockerAPI``.

State is kept as dockerd keeps it, in dockerd's own JSON shapes: containers
(name, Config with labels, HostConfig, State with running/exit code and
timestamps), images (tags, digests), execs (running, exit code, pid), the
hijacked exec/attach sessions (:class:`FakeSession`: stdin written, sizes,
closed) and the lifecycle events in order (``history``, and dockerd-shaped to
``events`` subscribers). Like the real client, every call but the streams
is bounded by the RPC's deadline and the client's call timeout
(``shim.deadline``), and failures are ``DockerAPIError`` with dockerd's HTTP
status. Tests script what images pull like (:class:`PullScript`) and what
exec'd commands do (:class:`ExecScript`); ``hang`` makes chosen calls wait
forever (until their deadline or cancellation). Every call is recorded, and
so is every call that was cancelled or ran out of time.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from shim.deadline import deadline_for, run_until
from shim.engine.docker import EXEC_OUTPUT_LIMIT
from shim.engine.dockerapi import ExecOutput, LogFrame
from shim.errors import DeadlineExceeded, DockerAPIError
from shim.monitor.dockerevents import DockerEvent
from tests.support.scripts import ExecScript

JSON = dict[str, Any]
T = TypeVar("T")
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass
class PullScript:
    """How a pull goes: progress messages ``every`` seconds, then the outcome."""

    progress: int = 3
    every: float = 0.1
    stall: bool = False  # after the progress messages, never finish
    error: DockerAPIError | None = None  # raised after the progress messages
    image: JSON | None = None  # the image it leaves (default: one tagged with the ref)


@dataclass
class Call:
    method: str
    args: tuple[Any, ...]
    outcome: str = "pending"  # "ok", "error", "cancelled", "deadline"


@dataclass
class _Exec:
    container_id: str
    cmd: list[str]
    script: ExecScript
    running: bool = False
    exit_code: int | None = None
    tty: bool = False
    streams: frozenset[int] = frozenset({1, 2})  # what exec_create asked to be attached
    session: FakeSession | None = None


class FakeSession:
    """A hijacked exec/attach connection (``shim.engine.dockerapi.Hijacked``), in memory.

    It yields ``frames`` in order, then runs ``finish`` (the process ending)
    and reports the end; what the client writes is kept in ``stdin``.
    """

    def __init__(
        self,
        frames: Sequence[tuple[int, bytes]],
        finish: Callable[[], Awaitable[None]],
    ) -> None:
        self._frames = deque(frames)
        self._finish: Callable[[], Awaitable[None]] | None = finish
        self.stdin = bytearray()
        self.stdin_closed = False
        self.closed = False
        self.sizes: list[tuple[int, int]] = []  # (height, width), as resized

    async def read(self) -> tuple[int, bytes] | None:
        if self.closed:
            raise DockerAPIError(500, "read on a closed connection")
        if self._frames:
            return self._frames.popleft()
        if self._finish is not None:
            finish, self._finish = self._finish, None
            await finish()
        return None

    async def write(self, data: bytes) -> None:
        if self.closed or self.stdin_closed:
            raise DockerAPIError(500, "write on a closed connection")
        self.stdin += data

    def close_stdin(self) -> None:
        self.stdin_closed = True

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeDocker:
    call_timeout: float = 120.0
    endpoint: str = "fake://docker"
    containers: dict[str, JSON] = field(default_factory=dict)
    images: dict[str, JSON] = field(default_factory=dict)  # by image id
    networks: set[str] = field(default_factory=lambda: {"bridge"})
    execs: dict[str, _Exec] = field(default_factory=dict)
    exec_scripts: dict[tuple[str, ...], ExecScript] = field(default_factory=dict)
    pulls: dict[str, PullScript] = field(default_factory=dict)
    logs: dict[str, list[LogFrame]] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)  # methods that never answer
    fail: dict[str, DockerAPIError] = field(default_factory=dict)  # method -> next error
    # Whether runc may give a container a negative oom_score_adj (needs CAP_SYS_RESOURCE).
    negative_oom_allowed: bool = True
    calls: list[Call] = field(default_factory=list)
    history: list[tuple[str, str]] = field(default_factory=list)  # (what, container name)
    attachments: dict[str, list[FakeSession]] = field(default_factory=dict)  # container id ->
    # Receive each container event as dockerd's stream carries it (``dockerevents.Listener``).
    listeners: list[Any] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _subscribers: list[asyncio.Queue[JSON]] = field(default_factory=list)

    # -- test helpers -----------------------------------------------------------------

    def add_image(self, *tags: str, user: str = "") -> str:
        image_id = f"sha256:{secrets.token_hex(32)}"
        digests = [f"{tag.rsplit(':', 1)[0]}@sha256:{secrets.token_hex(32)}" for tag in tags]
        self.images[image_id] = {
            "Id": image_id,
            "RepoTags": list(tags),
            "RepoDigests": digests,
            "Size": 1234,
            "Created": "2024-01-01T00:00:00Z",
            "Config": {"User": user},
        }
        return image_id

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def named(self, name: str) -> JSON | None:
        return next((c for c in self.containers.values() if c["Name"] == "/" + name), None)

    # -- plumbing ---------------------------------------------------------------------

    def _emit(self, action: str, container: JSON) -> None:
        """Record a lifecycle event; listeners and subscribers get it as dockerd sends it."""
        name = container["Name"][1:]
        self.history.append((action, name))
        now = time.time_ns()
        attributes = {
            **(container["Config"].get("Labels") or {}),
            "name": name,
            "image": container["Config"].get("Image", ""),
        }
        event = DockerEvent("container", action, container["Id"], now, attributes)
        for listener in list(self.listeners):
            listener.on_event(event)
        raw = {
            "Type": "container",
            "Action": action,
            "Actor": {"ID": container["Id"], "Attributes": attributes},
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
        for queue in self._subscribers:
            queue.put_nowait(raw)

    async def _call(self, method: str, args: tuple[Any, ...], work: Awaitable[T]) -> T:
        """Run ``work`` as the real client runs a request: recorded, under the deadline."""
        call = Call(method, args)
        self.calls.append(call)
        try:
            async with asyncio.timeout_at(deadline_for(self.call_timeout)):
                if method in self.hang:
                    await asyncio.Event().wait()
                error = self.fail.pop(method, None)
                if error is not None:
                    raise error
                result = await work
        except TimeoutError as exc:
            call.outcome = "deadline"
            raise DeadlineExceeded(f"{method}: dockerd did not answer before the deadline") from exc
        except asyncio.CancelledError:
            call.outcome = "cancelled"
            raise
        except DockerAPIError:
            call.outcome = "error"
            raise
        finally:
            if asyncio.iscoroutine(work):
                work.close()  # never awaited when the call failed first
        call.outcome = "ok"
        return result

    def _find(self, ref: str) -> JSON:
        found = self.containers.get(ref) or self.named(ref)
        if found is None:
            matches = [c for c in self.containers.values() if c["Id"].startswith(ref)]
            found = matches[0] if len(matches) == 1 else None
        if found is None:
            raise DockerAPIError(404, f"No such container: {ref}")
        return found

    def _image(self, ref: str) -> JSON | None:
        bare = ref.removeprefix("docker.io/library/").removeprefix("docker.io/")
        for image in self.images.values():
            names = [*image["RepoTags"], *image["RepoDigests"]]
            if ref in names or bare in names or image["Id"] == ref:
                return image
            if image["Id"].removeprefix("sha256:").startswith(ref.removeprefix("sha256:")):
                return image
        return None

    # -- system -----------------------------------------------------------------------

    async def close(self) -> None:
        self.calls.append(Call("close", (), "ok"))

    async def ping(self) -> str:
        # Like dockerd's Server header, the engine version (as version() reports it).
        return await self._call("ping", (), _done("fake-27.0"))

    async def version(self) -> JSON:
        return await self._call(
            "version", (), _done({"Version": "fake-27.0", "ApiVersion": "1.45"})
        )

    async def info(self) -> JSON:
        info = {
            "Runtimes": {"runc": {}},
            "CgroupDriver": "cgroupfs",
            "DockerRootDir": "/var/lib/docker",
            "Driver": "overlay2",
        }
        return await self._call("info", (), _done(info))

    async def disk_usage(self) -> JSON:
        return await self._call("disk_usage", (), _done({"LayersSize": 0, "Containers": []}))

    async def network_exists(self, name: str) -> bool:
        return await self._call("network_exists", (name,), _done(name in self.networks))

    # -- containers -------------------------------------------------------------------

    async def create_container(self, name: str, body: JSON) -> str:
        async def create() -> str:
            if self.named(name) is not None:
                raise DockerAPIError(409, f'Conflict. The container name "/{name}" is in use')
            image = self._image(body.get("Image", ""))
            if image is None:
                raise DockerAPIError(404, f"No such image: {body.get('Image')}")
            container_id = f"{next(self._ids):04d}{secrets.token_hex(30)}"
            config = {k: v for k, v in body.items() if k != "HostConfig"}
            config.setdefault("Labels", {})
            self.containers[container_id] = {
                "Id": container_id,
                "Name": "/" + name,
                "Created": _docker_now(),
                "Image": image["Id"],
                "Config": config,
                "HostConfig": dict(body.get("HostConfig") or {}),
                "State": {
                    "Status": "created",
                    "Running": False,
                    "Pid": 0,
                    "ExitCode": 0,
                    "Error": "",
                    "OOMKilled": False,
                    "StartedAt": ZERO_TIME,
                    "FinishedAt": ZERO_TIME,
                },
                "NetworkSettings": {"Networks": {}},
            }
            self._emit("create", self.containers[container_id])
            return container_id

        return await self._call("create_container", (name, body), create())

    async def start_container(self, container_id: str) -> None:
        async def start() -> None:
            container = self._find(container_id)
            state = container["State"]
            if state["Running"]:
                raise DockerAPIError(304, "container already started")
            oom = int(container["HostConfig"].get("OomScoreAdj") or 0)
            if oom < 0 and not self.negative_oom_allowed:
                state.update(ExitCode=128, Error="oom_score_adj: permission denied")
                raise DockerAPIError(
                    500, "failed to create task: write /proc/self/oom_score_adj: permission denied"
                )
            state.update(Status="running", Running=True, Pid=4242, StartedAt=_docker_now())
            mode = container["HostConfig"].get("NetworkMode", "")
            if mode not in ("host", "none") and not mode.startswith("container:"):
                container["NetworkSettings"]["Networks"] = {
                    mode or "bridge": {"IPAddress": f"172.17.0.{len(self.containers) + 1}"}
                }
            self._emit("start", container)

        await self._call("start_container", (container_id,), start())

    def _exit(self, container: JSON, code: int) -> None:
        state = container["State"]
        if state["Running"]:
            state.update(
                Status="exited", Running=False, Pid=0, ExitCode=code, FinishedAt=_docker_now()
            )
            self._emit("die", container)

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        async def stop() -> None:
            container = self._find(container_id)
            if not container["State"]["Running"]:
                raise DockerAPIError(304, "container already stopped")
            self._exit(container, 143)

        await self._call("stop_container", (container_id, grace_seconds), stop())

    async def remove_container(self, container_id: str) -> None:
        async def remove() -> None:
            container = self._find(container_id)
            self._exit(container, 137)
            del self.containers[container["Id"]]
            self._emit("destroy", container)

        await self._call("remove_container", (container_id,), remove())

    async def inspect_container(self, container_id: str) -> JSON:
        async def inspect() -> JSON:
            return _copy(self._find(container_id))

        return await self._call("inspect_container", (container_id,), inspect())

    async def list_containers(self, filters: Mapping[str, Sequence[str]]) -> list[JSON]:
        async def listing() -> list[JSON]:
            return [_list_entry(c) for c in self.containers.values() if _passes(c, filters)]

        return await self._call("list_containers", (dict(filters),), listing())

    async def update_container(self, container_id: str, body: JSON) -> None:
        async def update() -> None:
            self._find(container_id)["HostConfig"].update(body)

        await self._call("update_container", (container_id, body), update())

    # -- exec -------------------------------------------------------------------------

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
        async def create() -> str:
            container = self._find(container_id)
            if not container["State"]["Running"]:
                raise DockerAPIError(409, f"Container {container_id} is not running")
            exec_id = secrets.token_hex(32)
            script = self.exec_scripts.get(tuple(cmd), ExecScript())
            streams = frozenset(n for n, wanted in ((1, stdout), (2, stderr)) if wanted)
            self.execs[exec_id] = _Exec(
                container["Id"], list(cmd), script, tty=tty, streams=streams
            )
            return exec_id

        return await self._call("exec_create", (container_id, tuple(cmd)), create())

    async def exec_run(
        self, exec_id: str, deadline: float | None, until: Awaitable[object] | None = None
    ) -> ExecOutput:
        """As the real one: output until the exec ends; TimeoutError at ``deadline``; the
        output so far (none, here) once ``until`` returns, the exec then forgotten as
        dockerd forgets the execs of an exited container."""
        execution = self.execs[exec_id]
        call = Call("exec_run", (exec_id,))
        self.calls.append(call)
        execution.running = True
        finished = False

        async def run() -> None:
            nonlocal finished
            await asyncio.sleep(execution.script.takes)
            finished = True

        try:
            async with asyncio.timeout_at(deadline):
                await run_until(run(), until)
        except TimeoutError:
            call.outcome = "deadline"
            raise
        except asyncio.CancelledError:
            call.outcome = "cancelled"
            raise
        execution.running = False
        if not finished:
            call.outcome = "stopped"
            del self.execs[exec_id]
            return ExecOutput(stdout=b"", stderr=b"")
        execution.exit_code = execution.script.exit_code
        call.outcome = "ok"
        return ExecOutput(
            stdout=execution.script.stdout[:EXEC_OUTPUT_LIMIT],
            stderr=execution.script.stderr[:EXEC_OUTPUT_LIMIT],
        )

    async def exec_inspect(self, exec_id: str) -> JSON:
        async def inspect() -> JSON:
            execution = self.execs.get(exec_id)
            if execution is None:
                raise DockerAPIError(404, f"No such exec instance: {exec_id}")
            return {
                "Running": execution.running,
                "ExitCode": execution.exit_code,
                "Pid": execution.script.pid if execution.running else 0,
            }

        return await self._call("exec_inspect", (exec_id,), inspect())

    # -- streaming sessions -----------------------------------------------------------

    async def exec_attach(self, exec_id: str, tty: bool) -> FakeSession:
        """Start the exec: its scripted output, then its end (``takes`` seconds in all)."""

        async def attach() -> FakeSession:
            execution = self._exec(exec_id)
            if execution.running or execution.exit_code is not None:
                raise DockerAPIError(409, f"exec {exec_id} has already been started")
            script = execution.script
            output = [(1, script.stdout), (1 if execution.tty else 2, script.stderr)]
            frames = [(n, data) for n, data in output if data and (n in execution.streams)]

            async def finish() -> None:
                await asyncio.sleep(script.takes)
                execution.running = False
                execution.exit_code = script.exit_code

            execution.running = True
            execution.session = FakeSession(frames, finish)
            return execution.session

        return await self._call("exec_attach", (exec_id, tty), attach())

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        async def resize() -> None:
            execution = self._exec(exec_id)
            if execution.session is None or not execution.running:
                raise DockerAPIError(409, f"exec {exec_id} is not running")
            execution.session.sizes.append((height, width))

        await self._call("exec_resize", (exec_id, height, width), resize())

    async def container_attach(
        self, container_id: str, tty: bool, *, stdin: bool, stdout: bool, stderr: bool
    ) -> FakeSession:
        """A session on a running container's stdio: no past output; ends when it exits."""

        async def attach() -> FakeSession:
            container = self._find(container_id)
            if not container["State"]["Running"]:
                raise DockerAPIError(409, f"container {container_id} is not running")

            async def finish() -> None:
                while container["State"]["Running"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

            session = FakeSession([], finish)
            self.attachments.setdefault(container["Id"], []).append(session)
            return session

        args = (container_id, tty, stdin, stdout, stderr)
        return await self._call("container_attach", args, attach())

    async def container_resize(self, container_id: str, height: int, width: int) -> None:
        async def resize() -> None:
            container = self._find(container_id)
            if not container["State"]["Running"]:
                raise DockerAPIError(409, f"container {container_id} is not running")
            for session in self.attachments.get(container["Id"], []):
                session.sizes.append((height, width))

        await self._call("container_resize", (container_id, height, width), resize())

    def _exec(self, exec_id: str) -> _Exec:
        execution = self.execs.get(exec_id)
        if execution is None:
            raise DockerAPIError(404, f"No such exec instance: {exec_id}")
        return execution

    # -- events -----------------------------------------------------------------------

    async def events(
        self, filters: Mapping[str, Sequence[str]], on_open: Callable[[], None]
    ) -> AsyncIterator[JSON]:
        """Container events from the subscription on (the fake emits no image events)."""
        self.calls.append(Call("events", (dict(filters),), "ok"))
        queue: asyncio.Queue[JSON] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            on_open()
            while True:
                event = await queue.get()
                if "container" in filters.get("type", ["container"]):
                    yield event
        finally:
            self._subscribers.remove(queue)

    # -- logs -------------------------------------------------------------------------

    async def log_frames(
        self, container_id: str, *, tty: bool, since: str | None, follow: bool
    ) -> AsyncIterator[LogFrame]:
        self.calls.append(Call("log_frames", (container_id, since, follow), "ok"))
        for frame in self.logs.get(container_id, []):
            yield frame
        if follow:
            container = self.containers.get(container_id)
            while container is not None and container["State"]["Running"]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    # -- images -----------------------------------------------------------------------

    async def list_images(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[JSON]:
        return await self._call(
            "list_images", (filters,), _done([*map(_copy, self.images.values())])
        )

    async def inspect_image(self, ref: str) -> JSON | None:
        async def inspect() -> JSON | None:
            image = self._image(ref)
            return None if image is None else _copy(image)

        return await self._call("inspect_image", (ref,), inspect())

    async def pull_image(
        self, ref: str, auth: JSON | None, on_progress: Callable[[JSON], None]
    ) -> None:
        """Unbounded, as the real stream is: the caller's watchdog bounds it."""
        call = Call("pull_image", (ref, auth))
        self.calls.append(call)
        script = self.pulls.get(ref, PullScript())
        try:
            for step in range(script.progress):
                await asyncio.sleep(script.every)
                on_progress({"status": "Downloading", "progressDetail": {"current": step}})
            if script.stall:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            call.outcome = "cancelled"
            raise
        if script.error is not None:
            call.outcome = "error"
            raise script.error
        if script.image is not None:
            self.images[script.image["Id"]] = script.image
        elif self._image(ref) is None:
            self.add_image(ref.removeprefix("docker.io/library/"))
        call.outcome = "ok"

    async def remove_image(self, ref: str) -> None:
        async def remove() -> None:
            image = self._image(ref)
            if image is None:
                raise DockerAPIError(404, f"No such image: {ref}")
            self.images.pop(image["Id"], None)

        await self._call("remove_image", (ref,), remove())


async def _done(value: T) -> T:
    return value


def _copy(document: JSON) -> JSON:
    """A deep copy, as every answer from dockerd is a fresh document."""
    return copy.deepcopy(document)


def _docker_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _list_entry(container: JSON) -> JSON:
    """A ``GET /containers/json`` entry: the list's shape, not inspect's."""
    return {
        "Id": container["Id"],
        "Names": [container["Name"]],
        "Image": container["Config"].get("Image", ""),
        "ImageID": container["Image"],
        "Labels": dict(container["Config"].get("Labels") or {}),
        "State": container["State"]["Status"],
        "Created": 0,
    }


def _passes(container: JSON, filters: Mapping[str, Sequence[str]]) -> bool:
    labels = container["Config"].get("Labels") or {}
    for wanted in filters.get("label", []):
        key, sep, value = wanted.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    statuses = filters.get("status")
    if statuses and container["State"]["Status"] not in statuses:
        return False
    ids = filters.get("id")
    return not ids or any(container["Id"].startswith(i) for i in ids)
