"""Reading containers' figures from the host: cgroup files, /proc, writable layers.

Docker's own stats API costs about a second per container (it waits for two
samples) and its size fields walk every layer; the kubelet polls every 10 s.
So the shim reads the cgroup files itself: where a container's cgroup is
comes from Docker's inspect once per container (cached while the container
lives), and every later sample is a handful of small file reads, done for
all containers of a request in one worker thread, off the event loop.

Kept per container, and dropped with it: the cgroup paths, the previous CPU
sample (usage_nano_cores is the rate between two samples, as the kubelet
expects) and the writable layer's size, recomputed only when older than
``layer_max_age``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from shim.engine.dockerapi import JSON, DockerAPI
from shim.errors import DockerAPIError
from shim.monitor import cgroupstats
from shim.monitor.cgroupstats import CgroupSample, InterfaceSample
from shim.translate import labels

log = logging.getLogger(__name__)

CGROUP_ROOT = "/sys/fs/cgroup"
PROC_ROOT = "/proc"
LAYER_MAX_AGE_SECONDS = 60.0
# Bounds on what one request may cost: bytes read per file, entries walked per layer.
MAX_FILE_BYTES = 64 * 1024
MAX_LAYER_ENTRIES = 200_000
# Concurrent inspects when many new containers appear at once.
INSPECT_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class Target:
    """What the shim needs, from one inspect, to sample a container for its whole life."""

    id: str
    kind: str
    docker_labels: dict[str, str]
    files: dict[str, str]
    pid: int
    upper_dir: str


@dataclass(frozen=True, slots=True)
class LayerUsage:
    mountpoint: str
    used_bytes: int
    inodes_used: int


@dataclass(frozen=True, slots=True)
class Reading:
    target: Target
    timestamp: int
    cgroup: CgroupSample
    nano_cores: int | None
    layer: LayerUsage | None = None
    interfaces: list[InterfaceSample] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Raw:
    files: dict[str, str | None]
    net_dev: str | None
    layer: LayerUsage | None


class StatsCollector:
    def __init__(
        self,
        docker: DockerAPI,
        *,
        cgroup_root: str = CGROUP_ROOT,
        proc_root: str = PROC_ROOT,
        layer_max_age: float = LAYER_MAX_AGE_SECONDS,
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._docker = docker
        self._cgroup_root = cgroup_root
        self._proc_root = proc_root
        self._layer_max_age = layer_max_age
        self._clock = clock
        self._monotonic = monotonic
        self._host: tuple[int, str] | None = None
        self._targets: dict[str, Target] = {}
        self._cpu: dict[str, tuple[int, int]] = {}
        self._layers: dict[str, tuple[float, LayerUsage]] = {}

    def forget(self, object_id: str) -> None:
        """Drop everything kept for a container that is gone."""
        self._targets.pop(object_id, None)
        self._cpu.pop(object_id, None)
        self._layers.pop(object_id, None)

    def prune(self, kind: str, present: Iterable[str]) -> None:
        """Forget containers of ``kind`` absent from a complete listing."""
        keep = set(present)
        for object_id in [i for i, t in self._targets.items() if t.kind == kind]:
            if object_id not in keep:
                self.forget(object_id)

    @property
    def tracked(self) -> int:
        return len(self._targets)

    async def collect(
        self, inspects_or_entries: Sequence[JSON], *, layers: bool, network: bool
    ) -> list[Reading]:
        """One reading per running container; ones that vanished meanwhile are left out."""
        targets = await self._resolve(inspects_or_entries)
        stale = set()
        if layers:
            now = self._monotonic()
            stale = {
                t.id
                for t in targets
                if t.id not in self._layers or now - self._layers[t.id][0] > self._layer_max_age
            }
        raws = await asyncio.to_thread(self._read_all, targets, stale, network)
        return [self._reading(t, raw, layers) for t, raw in zip(targets, raws, strict=True)]

    def _reading(self, target: Target, raw: _Raw, layers: bool) -> Reading:
        version = self._host[0] if self._host else 1
        timestamp = self._clock()
        sample = cgroupstats.sample(version, raw.files)
        cores = None
        if sample.cpu_ns is not None:
            current = (timestamp, sample.cpu_ns)
            cores = cgroupstats.nano_cores(self._cpu.get(target.id), current)
            self._cpu[target.id] = current
        layer = None
        if layers:
            if raw.layer is not None:
                self._layers[target.id] = (self._monotonic(), raw.layer)
            cached = self._layers.get(target.id)
            layer = cached[1] if cached else None
        interfaces = cgroupstats.net_dev(raw.net_dev) if raw.net_dev is not None else []
        return Reading(target, timestamp, sample, cores, layer, interfaces)

    async def _resolve(self, docs: Sequence[JSON]) -> list[Target]:
        host = await self._host_cgroups()
        missing = [doc for doc in docs if doc["Id"] not in self._targets]
        if missing:
            limit = asyncio.Semaphore(INSPECT_CONCURRENCY)
            found = await asyncio.gather(*(self._target(doc, host, limit) for doc in missing))
            for target in found:
                if target is not None:
                    self._targets[target.id] = target
        return [self._targets[doc["Id"]] for doc in docs if doc["Id"] in self._targets]

    async def _target(
        self, doc: JSON, host: tuple[int, str], limit: asyncio.Semaphore
    ) -> Target | None:
        inspect = doc
        if "HostConfig" not in doc or "State" not in doc or "GraphDriver" not in doc:
            async with limit:
                try:
                    inspect = await self._docker.inspect_container(doc["Id"])
                except DockerAPIError as exc:
                    if exc.is_not_found:
                        return None
                    raise
        state = inspect.get("State") or {}
        if not state.get("Running"):
            return None
        version, driver = host
        parent = (inspect.get("HostConfig") or {}).get("CgroupParent") or ""
        path = cgroupstats.cgroup_dir(driver, parent, inspect["Id"])
        docker_labels = dict((inspect.get("Config") or {}).get("Labels") or {})
        return Target(
            id=inspect["Id"],
            kind=docker_labels.get(labels.TYPE_KEY, ""),
            docker_labels=docker_labels,
            files=cgroupstats.cgroup_files(self._cgroup_root, version, path),
            pid=int(state.get("Pid") or 0),
            upper_dir=str(
                ((inspect.get("GraphDriver") or {}).get("Data") or {}).get("UpperDir") or ""
            ),
        )

    async def _host_cgroups(self) -> tuple[int, str]:
        """(cgroup version, driver) of dockerd, asked once."""
        if self._host is None:
            info = await self._docker.info()
            version = 2 if str(info.get("CgroupVersion", "1")) == "2" else 1
            self._host = (version, str(info.get("CgroupDriver") or "cgroupfs"))
        return self._host

    # -- in the worker thread ---------------------------------------------------

    def _read_all(self, targets: Sequence[Target], layers: set[str], network: bool) -> list[_Raw]:
        return [
            _Raw(
                files={role: _read(path) for role, path in t.files.items()},
                net_dev=_read(f"{self._proc_root}/{t.pid}/net/dev") if network and t.pid else None,
                layer=_layer_usage(t.upper_dir) if t.id in layers and t.upper_dir else None,
            )
            for t in targets
        ]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read(MAX_FILE_BYTES)
    except OSError:
        return None


def _layer_usage(upper_dir: str) -> LayerUsage | None:
    """Disk blocks and inodes below a writable layer, bounded, never following a symlink."""
    used = inodes = 0
    pending = [upper_dir]
    try:
        while pending and inodes < MAX_LAYER_ENTRIES:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    used += info.st_blocks * 512
                    inodes += 1
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(entry.path)
    except OSError as exc:
        log.debug("cannot measure writable layer %s: %s", upper_dir, exc)
        return None
    return LayerUsage(mountpoint=upper_dir, used_bytes=used, inodes_used=inodes)
