"""What every service module shares: the Docker client, configuration, log
copiers and host policies, plus the typed lookups that keep CRI calls away
from Docker containers the shim does not own."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shim.config import ShimConfig
from shim.cri.streamtokens import StreamIssuer, TokenCache
from shim.engine.dockerapi import DockerAPI
from shim.engine.oomscore import OomScorePolicy
from shim.engine.privileged import PrivilegePolicy
from shim.errors import AlreadyExists, DockerAPIError, InvalidArgument, NotFound
from shim.logs.copier import LogManager
from shim.monitor.containercache import ContainerCache
from shim.monitor.dockerevents import DockerEvent
from shim.monitor.enginestate import EngineMonitor
from shim.monitor.eventhub import ContainerEventHub
from shim.monitor.imagecache import ImageRefs
from shim.monitor.listings import SharedListings
from shim.monitor.statscollector import StatsCollector
from shim.translate import dockerfilters, labels, naming

log = logging.getLogger(__name__)

JSON = dict[str, Any]

# Ids of the shim's own objects remembered at once; the oldest go first.
OWNED_IDS_LIMIT = 65536

# Docker container events after which a sandbox is no longer known to run.
_NOT_RUNNING_ACTIONS = frozenset({"die", "kill", "stop", "pause", "destroy"})
_ID = re.compile(r"[0-9a-f]{1,64}")
# dockerd's answer (a 500 in 20.10, a 400 later) to an id prefix several ids share.
_AMBIGUOUS = "multiple ids found with provided prefix"

# The filters the listing cache evaluates itself (dockerfilters.matches).
_CACHED_FILTERS = frozenset({"label", "status"})

_KIND_NAMES = {labels.TYPE_SANDBOX: "pod sandbox", labels.TYPE_CONTAINER: "container"}


@dataclass
class Backend:
    docker: DockerAPI
    config: ShimConfig
    logs: LogManager
    oom: OomScorePolicy
    privileges: PrivilegePolicy
    stats: StatsCollector
    events: ContainerEventHub
    # Image id -> reference, shared with the event hub's container statuses.
    image_refs: ImageRefs
    # Exec/Attach/PortForward URLs; the streaming server publishes its base URL here.
    streams: StreamIssuer = field(default_factory=lambda: StreamIssuer(TokenCache()))
    engine: EngineMonitor = field(init=False)
    # Full id -> kind of the objects this shim created or inspected. Labels never
    # change and ids are never reused, so stop and remove need no inspect for them.
    _owned: dict[str, str] = field(init=False, default_factory=dict)
    # Containers created by this process and not started yet: id -> (log file location,
    # tty), what StartContainer would otherwise inspect for.
    _fresh: dict[str, tuple[tuple[str, str] | None, bool]] = field(init=False, default_factory=dict)
    # Sandboxes this process started and has not seen stop: id -> the part of their
    # inspect document CreateContainer reads (labels, cgroup parent, running).
    _ready_sandboxes: dict[str, JSON] = field(init=False, default_factory=dict)
    # Every owned object's list entry, kept current by Docker's events (the daemon
    # runs its worker); listings go to dockerd only while it is not synced.
    listing_cache: ContainerCache = field(init=False)
    # Concurrent identical listings share one Docker call.
    _listings: SharedListings = field(init=False)

    def __post_init__(self) -> None:
        self.engine = EngineMonitor(self.docker, self.config.pod_network)
        self.listing_cache = ContainerCache(self.docker, self.config.instance)
        self._listings = SharedListings(self.docker.list_containers)

    def remember(self, object_id: str, kind: str) -> None:
        if len(self._owned) >= OWNED_IDS_LIMIT:
            del self._owned[next(iter(self._owned))]
        self._owned[object_id] = kind

    def forget(self, object_id: str) -> None:
        self._owned.pop(object_id, None)
        self._fresh.pop(object_id, None)
        self._ready_sandboxes.pop(object_id, None)

    def on_event(self, event: DockerEvent) -> None:
        """One Docker event, from the shim's one subscription (a ``dockerevents.Listener``)."""
        self.image_refs.on_event(event)
        self.listing_cache.on_event(event)
        if event.type == "container" and event.action in _NOT_RUNNING_ACTIONS:
            self._ready_sandboxes.pop(event.id, None)

    def on_connection(self, connected: bool) -> None:
        """Events may have been missed while the stream was down: trust nothing cached."""
        self.listing_cache.on_connection(connected)
        if not connected:
            self.image_refs.invalidate()
            self._ready_sandboxes.clear()

    def note_sandbox_ready(self, sandbox_id: str, docker_labels: JSON, cgroup_parent: str) -> None:
        if len(self._ready_sandboxes) >= OWNED_IDS_LIMIT:
            del self._ready_sandboxes[next(iter(self._ready_sandboxes))]
        self._ready_sandboxes[sandbox_id] = {
            "Id": sandbox_id,
            "Config": {"Labels": docker_labels},
            "HostConfig": {"CgroupParent": cgroup_parent},
            "State": {"Running": True},
        }

    def sandbox_not_ready(self, sandbox_id: str) -> None:
        self._ready_sandboxes.pop(sandbox_id, None)

    def ready_sandbox(self, sandbox_id: str) -> JSON | None:
        """What CreateContainer needs of a sandbox this process started and never saw stop."""
        return self._ready_sandboxes.get(sandbox_id)

    def note_created(
        self, container_id: str, log_location: tuple[str, str] | None, tty: bool
    ) -> None:
        if len(self._fresh) >= OWNED_IDS_LIMIT:
            del self._fresh[next(iter(self._fresh))]
        self._fresh[container_id] = (log_location, tty)

    def take_fresh(self, container_id: str) -> tuple[tuple[str, str] | None, bool] | None:
        """(log file location, tty) of a container created here, never started; once."""
        return self._fresh.pop(container_id, None)

    async def owned_id(self, object_id: str, kind: str, field: str) -> str | None:
        """Full id of our object of ``kind`` named by id or id prefix; None if absent.

        For stop and remove, which need nothing else: a full id seen before
        costs no inspect (if the object is gone since, Docker's 404 says so).
        """
        if self._owned.get(object_id) == kind:
            return object_id
        found = await self.find(object_id, kind, field)
        return None if found is None else str(found["Id"])

    async def sandbox(self, sandbox_id: str, field: str = "pod_sandbox_id") -> JSON:
        """Inspect document of a sandbox; NotFound for anything else, even a container."""
        found = await self.find(sandbox_id, labels.TYPE_SANDBOX, field)
        if found is None:
            raise NotFound(f"pod sandbox {sandbox_id!r} not found")
        return found

    async def container(self, container_id: str, field: str = "container_id") -> JSON:
        found = await self.find(container_id, labels.TYPE_CONTAINER, field)
        if found is None:
            raise NotFound(f"container {container_id!r} not found")
        return found

    async def find(self, object_id: str, kind: str, field: str) -> JSON | None:
        """Inspect an object of ``kind`` by full id or unique id prefix; None if absent.

        Docker also resolves names, and would happily inspect containers the
        shim never created, or another shim instance's; all are refused here so
        that a CRI id can only ever reach this shim's own sandboxes and containers.
        """
        if not object_id:
            raise InvalidArgument(f"{field}: required")
        if not _ID.fullmatch(object_id):
            # Only a Docker id or id prefix can name a CRI object; nothing else is asked.
            return None
        try:
            inspect = await self.docker.inspect_container(object_id)
        except DockerAPIError as exc:
            if exc.is_not_found:
                return None
            if _AMBIGUOUS in exc.message.lower():
                raise InvalidArgument(
                    f"{field}: {object_id!r} is a prefix of several ids; give more of the id"
                ) from exc
            raise
        docker_labels = inspect["Config"].get("Labels") or {}
        owned = docker_labels.get(labels.TYPE_KEY) == kind and self.in_scope(docker_labels)
        if not owned or not str(inspect["Id"]).startswith(object_id):
            return None
        self.remember(inspect["Id"], kind)
        if self.listing_cache.disagrees(inspect):
            # The inspect is newer than the event that says so: no later listing may
            # show the object as it was before what this answer reports.
            await self.changed(inspect["Id"])
        return inspect

    def in_scope(self, docker_labels: dict[str, str] | None) -> bool:
        return labels.in_scope(docker_labels, self.config.instance)

    async def list_owned(self, filters: dict[str, list[str]], fresh: bool = False) -> list[JSON]:
        """List containers matching ``filters`` among this shim instance's objects.

        From the listing cache when it is synced and the filters are ones it
        evaluates (``label``, ``status``); ``fresh`` asks dockerd in any case.
        """
        scope = labels.scope_filters(self.config.instance)
        filters = {**filters, "label": [*filters.get("label", []), *scope]}
        if not fresh and filters.keys() <= _CACHED_FILTERS:
            cached = await self.listing_cache.entries()
            if cached is not None:
                return [entry for entry in cached if dockerfilters.matches(entry, filters)]
        return await self._listings.run(filters)

    async def matching(self, query: dockerfilters.ListQuery) -> list[JSON]:
        """The owned objects a CRI list filter selects: dockerd's filters, then the rest."""
        return [entry for entry in await self.list_owned(query.filters) if query.keep(entry)]

    async def changed(self, *object_ids: str) -> None:
        """The shim has just changed these objects: the next listing must show it."""
        await self.listing_cache.refresh(object_ids)

    async def create_named(
        self, name: str, body: JSON, remove_stale: Callable[[str], Awaitable[None]]
    ) -> str:
        replaced: list[str] = []

        async def remove_and_note(stale: str) -> None:
            replaced.append(stale)
            await remove_stale(stale)

        try:
            created = await self._create_named(name, body, remove_and_note)
        finally:
            await self.changed(*replaced)
        self.remember(created, body["Labels"][labels.TYPE_KEY])
        await self.changed(created)
        return created

    async def _create_named(
        self, name: str, body: JSON, remove_stale: Callable[[str], Awaitable[None]]
    ) -> str:
        """Create a container under ``name``, recovering from a name conflict.

        A conflicting container that is ours and not running is debris of an
        earlier attempt: ``remove_stale`` removes it and the name is reused.
        A running one means the client asked twice for the same object, which
        is refused. If the name cannot be freed, a random suffix is added.
        The body carries this shim's instance label already (shim.translate.createspec).
        """
        try:
            return await self.docker.create_container(name, body)
        except DockerAPIError as exc:
            if not exc.is_conflict:
                raise
        try:
            holder = await self.docker.inspect_container(name)
        except DockerAPIError as exc:
            if not exc.is_not_found:
                raise
            return await self.docker.create_container(name, body)
        holder_labels = holder["Config"].get("Labels") or {}
        same_kind = holder_labels.get(labels.TYPE_KEY) == body["Labels"].get(labels.TYPE_KEY)
        ours = same_kind and self.in_scope(holder_labels)
        if ours and holder["State"].get("Running"):
            raise AlreadyExists(f"name {name!r} is in use by running container {holder['Id']}")
        if ours:
            try:
                await remove_stale(holder["Id"])
                return await self.docker.create_container(name, body)
            except DockerAPIError as exc:
                log.warning("could not reuse name %s: %s", name, exc.message)
        return await self.docker.create_container(naming.with_random_suffix(name), body)

    async def sandbox_containers(self, sandbox_id: str, running_only: bool = False) -> list[JSON]:
        filters: dict[str, list[str]] = {
            "label": [
                f"{labels.TYPE_KEY}={labels.TYPE_CONTAINER}",
                f"{labels.SANDBOX_ID_KEY}={sandbox_id}",
            ]
        }
        if running_only:
            filters["status"] = ["running"]
        # From dockerd: StopPodSandbox and RemovePodSandbox act on the answer.
        return await self.list_owned(filters, fresh=True)


async def ignore_not_found(call: Callable[[], Awaitable[None]]) -> None:
    """Run a stop/remove step that must succeed when its object is already gone."""
    try:
        await call()
    except DockerAPIError as exc:
        # 404: already removed; 304: already stopped.
        if exc.status not in (404, 304):
            raise


async def gather_all(calls: list[Awaitable[None]]) -> None:
    """Run independent Docker calls concurrently; the first failure is raised after all end."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
