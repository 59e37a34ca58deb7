"""The shim's sandboxes and containers as ``GET /containers/json`` lists them, kept in
memory and current through dockerd's events, so that listing them costs no Docker call.

One full listing seeds the cache each time the event stream (re)connects. After
that, a container event about a shim-owned object updates it: what the event
itself says (start, die, pause, unpause, destroy of a known object) is applied at
once; anything else (a new object, whose image id the event lacks) marks the
object dirty, and the worker re-lists the dirty ids, all of them in one call
(events that arrive meanwhile wait for the next call, so bursts coalesce; past
:data:`DIRTY_LIMIT` dirty ids it re-seeds instead). The shim's own writes
(create, start, stop, remove) re-list what they changed before their RPC
returns (:meth:`ContainerCache.refresh`).

The guarantee, in place of :mod:`shim.monitor.listings`' "at or after the caller's
arrival": an answer of :meth:`ContainerCache.entries` reflects everything that
happened before the caller arrived of the following: a change made through the
shim whose RPC returned; a Docker event the shim received (a reader waits for
its re-listing, at most :data:`CATCH_UP_SECONDS`); a state an inspect showed (a
status RPC that finds the cache behind re-lists the object before answering).
While the cache is not synced (never seeded, stream lost, a refresh failed, or
that wait ran out) it answers None and the caller lists through dockerd. Each
re-listing is stamped when it starts, and a result older than what an object
already shows is dropped: concurrent refreshes never move an object back in time.

The worker runs as the daemon's task, never an RPC's, under the shim's own
Docker deadline; a reader only waits for it, so giving up cancels nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from criapi.runtime.v1 import api_pb2 as cri
from cricommon.retrydelay import RetryDelay
from shim.deadline import rpc_deadline
from shim.errors import ShimError
from shim.monitor.dockerevents import DockerEvent
from shim.translate import convert, labels

log = logging.getLogger(__name__)

JSON = dict[str, Any]

# Docker container actions that change what a list entry shows that the shim reads
# (its existence and its State; a rename changes only Names, and die follows stop and oom).
CHANGING_ACTIONS = frozenset({"create", "start", "restart", "die", "destroy", "pause", "unpause"})
# The State a known entry has after these actions: applied from the event itself.
STATE_AFTER = {
    "start": "running",
    "restart": "running",
    "unpause": "running",
    "pause": "paused",
    "die": "exited",
}
# Dirty ids re-listed in one call; more than this at once re-seeds instead.
DIRTY_LIMIT = 256
# Longest a reader waits for events already received to be applied before it lists itself.
CATCH_UP_SECONDS = 2.0
# Ids of removed objects remembered (with the stamp of their removal), oldest first out.
TOMBSTONE_LIMIT = 65536
RETRY_INITIAL_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


class ContainerSource(Protocol):
    """What the cache needs of Docker (``shim.engine.docker.DockerClient`` in the daemon)."""

    async def list_containers(self, filters: Mapping[str, Sequence[str]]) -> list[JSON]: ...


class ContainerCache:
    """A :class:`shim.monitor.dockerevents.Listener`; :meth:`run` is its worker."""

    def __init__(
        self,
        docker: ContainerSource,
        instance: str = "",
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._docker = docker
        self._instance = instance
        self._sleep = sleep
        # id -> list entry, oldest first (Docker lists newest first: readers reverse).
        self._entries: dict[str, JSON] = {}
        # id -> stamp of the listing its entry (or its removal) comes from.
        self._stamps: dict[str, int] = {}
        # Stamp of the last seed: an id without a stamp of its own is that old.
        self._floor = 0
        self._counter = itertools.count(1)
        self._synced = False
        self._seed_wanted = False
        self._connected = False
        # Dirty ids, and the number of the last event that made one dirty.
        self._dirty: set[str] = set()
        self._marked = 0
        # Events up to this number are applied (or superseded by a seed).
        self._applied = 0
        self._wake = asyncio.Event()
        self._caught_up = asyncio.Event()
        # id -> (entry, image map, message): conversions reused until the entry changes.
        self._messages: dict[str, tuple[JSON, object, Any]] = {}

    @property
    def synced(self) -> bool:
        return self._synced

    # -- Listener ---------------------------------------------------------------------

    def on_connection(self, connected: bool) -> None:
        self._connected = connected
        # Events may have been missed while the stream was down: re-seed on its return.
        self._synced = False
        self._seed_wanted = connected
        self._dirty.clear()
        self._release_readers()
        self._wake.set()

    def on_event(self, event: DockerEvent) -> None:
        if event.type != "container" or event.action not in CHANGING_ACTIONS:
            return
        kind = event.attributes.get(labels.TYPE_KEY)
        if kind not in (labels.TYPE_SANDBOX, labels.TYPE_CONTAINER):
            return
        if not labels.in_scope(event.attributes, self._instance):
            return
        if self._synced and self._applied_from_event(event):
            return
        self._marked += 1
        if len(self._dirty) >= DIRTY_LIMIT:
            # Too many to re-list one by one: readers go to dockerd until a re-seed.
            self._dirty.clear()
            self._unsync()
        else:
            self._dirty.add(event.id)
            self._wake.set()

    def _applied_from_event(self, event: DockerEvent) -> bool:
        """Apply what the event itself says of a known object; False if it needs a re-listing.

        Only a new object (its image id is not in the event) or one the cache
        does not know needs dockerd, so readers seldom wait for one.
        """
        current = self._entries.get(event.id)
        if event.action == "create":
            return current is not None  # already re-listed by the create that made it
        if event.action == "destroy":
            self._apply([], next(self._counter), queried=[event.id])
            return True
        state = STATE_AFTER.get(event.action)
        if state is None or current is None:
            return False
        if event.action == "die" and current.get("State") == "created":
            return False  # a start that failed: dockerd says what it became
        self._apply([{**current, "State": state}], next(self._counter), queried=[event.id])
        return True

    # -- readers ----------------------------------------------------------------------

    async def entries(self) -> list[JSON] | None:
        """Every shim-owned object's list entry, newest first; None when not synced."""
        target = self._marked
        if not self._behind(target):
            return list(reversed(self._entries.values())) if self._synced else None
        try:
            async with asyncio.timeout(CATCH_UP_SECONDS):
                while self._behind(target):
                    self._caught_up.clear()
                    await self._caught_up.wait()
        except TimeoutError:
            log.warning("container cache is behind dockerd's events; listing from dockerd")
            return None
        return list(reversed(self._entries.values())) if self._synced else None

    def _behind(self, target: int) -> bool:
        """Whether events up to ``target`` still wait to be applied to a synced cache."""
        return self._synced and self._applied < target

    def disagrees(self, inspect: JSON) -> bool:
        """Whether a synced cache shows the object of this inspect document otherwise."""
        if not self._synced:
            return False
        entry = self._entries.get(inspect["Id"])
        return entry is None or entry.get("State") != inspect["State"].get("Status")

    def container(self, entry: JSON, image_refs: Mapping[str, str]) -> cri.Container:
        """``convert.container``, reused while the entry and the image map are the same."""
        hit = self._messages.get(entry["Id"])
        if hit is not None and hit[0] is entry and hit[1] is image_refs:
            message: cri.Container = hit[2]
            return message
        message = convert.container(entry, image_refs)
        if self._entries.get(entry["Id"]) is entry:
            self._messages[entry["Id"]] = (entry, image_refs, message)
        return message

    def pod_sandbox(self, entry: JSON) -> cri.PodSandbox:
        """``convert.pod_sandbox``, reused while the entry is the same."""
        hit = self._messages.get(entry["Id"])
        if hit is not None and hit[0] is entry:
            message: cri.PodSandbox = hit[2]
            return message
        message = convert.pod_sandbox(entry)
        if self._entries.get(entry["Id"]) is entry:
            self._messages[entry["Id"]] = (entry, None, message)
        return message

    # -- writers ----------------------------------------------------------------------

    async def refresh(self, ids: Collection[str]) -> None:
        """Re-list ``ids`` now: the shim changed them and its caller must see it.

        Never fails the write that asks: on an error the cache stops answering
        (callers list through Docker) until the worker has re-seeded it.
        """
        wanted = [i for i in ids if i]
        if not wanted:
            return
        try:
            with rpc_deadline(None):
                await self._refresh(wanted)
        except ShimError as exc:
            log.warning("container cache refresh failed (%s); re-seeding", exc.message)
            self._unsync()
        except Exception:
            # A bug must cost a re-seed, never the write that asked, nor a stale answer.
            log.exception("container cache refresh failed; re-seeding")
            self._unsync()
        except asyncio.CancelledError:
            # The caller gave up mid-way: nothing says whether the write is shown.
            self._unsync()
            raise

    async def _refresh(self, ids: list[str]) -> None:
        stamp = next(self._counter)
        listed = await self._docker.list_containers(self._filters({"id": ids}))
        self._apply(listed, stamp, queried=ids)

    def _filters(self, extra: Mapping[str, list[str]]) -> dict[str, list[str]]:
        return {"label": [labels.TYPE_KEY, *labels.scope_filters(self._instance)], **extra}

    def _apply(self, listed: list[JSON], stamp: int, queried: Collection[str]) -> None:
        found = {entry["Id"]: entry for entry in listed}
        for object_id in queried:
            if stamp <= self._stamps.get(object_id, self._floor):
                continue  # a listing that started later has already shown it
            entry = found.get(object_id)
            self._stamps[object_id] = stamp
            if entry is None:
                self._entries.pop(object_id, None)
                self._messages.pop(object_id, None)
                self._forget_oldest_tombstones()
            else:
                self._entries[object_id] = entry

    def _forget_oldest_tombstones(self) -> None:
        while len(self._stamps) > len(self._entries) + TOMBSTONE_LIMIT:
            oldest = next(i for i in self._stamps if i not in self._entries)
            del self._stamps[oldest]

    def _unsync(self) -> None:
        self._synced = False
        self._seed_wanted = True
        self._release_readers()
        self._wake.set()

    def _release_readers(self) -> None:
        self._caught_up.set()

    # -- the worker -------------------------------------------------------------------

    async def run(self) -> None:
        """Seed and refresh until cancelled (the daemon owns this task)."""
        retry = RetryDelay(RETRY_INITIAL_SECONDS, RETRY_MAX_SECONDS)
        with rpc_deadline(None):
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    await self._catch_up()
                    retry.reset()
                except Exception as exc:
                    message = exc.message if isinstance(exc, ShimError) else repr(exc)
                    delay = retry.take()
                    log.warning("container cache: %s; retrying in %.1fs", message, delay)
                    self._unsync()
                    await self._sleep(delay)

    async def _catch_up(self) -> None:
        while self._connected and (self._seed_wanted or self._dirty):
            upto = self._marked
            if self._seed_wanted:
                await self._seed()
            else:
                ids, self._dirty = self._dirty, set()
                await self._refresh(list(ids))
            self._applied = max(self._applied, upto)
            self._caught_up.set()

    async def _seed(self) -> None:
        self._seed_wanted = False
        # Events from now on are re-listed after the seed: none is lost in between.
        self._dirty.clear()
        stamp = next(self._counter)
        listed = await self._docker.list_containers(self._filters({}))
        if self._seed_wanted or not self._connected:
            return  # the stream dropped meanwhile: this listing proves nothing
        fresh: dict[str, JSON] = {}
        for entry in reversed(listed):
            object_id = entry["Id"]
            if self._stamps.get(object_id, 0) > stamp:
                # Re-listed by a refresh that started after this seed: keep that.
                current = self._entries.get(object_id)
                if current is not None:
                    fresh[object_id] = current
                continue
            fresh[object_id] = entry
        for object_id, current in self._entries.items():
            if object_id not in fresh and self._stamps.get(object_id, 0) > stamp:
                fresh[object_id] = current
        self._entries = fresh
        self._stamps = {i: s for i, s in self._stamps.items() if s > stamp}
        self._floor = stamp
        self._messages = {i: m for i, m in self._messages.items() if fresh.get(i) is m[0]}
        self._synced = True
        log.debug("container cache seeded with %d objects", len(fresh))
