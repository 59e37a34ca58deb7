"""Copying container output from dockerd into CRI-format log files.

dockerd keeps each container's output in its json-file log. For every
container started through the CRI, a copier follows that log (with
timestamps) and appends each message to the file the kubelet asked for
(sandbox ``log_directory`` joined with the container's ``log_path``), in
the CRI format ``crictl logs`` and the kubelet read (``shim.criolog``).

No line is lost across a restart of the shim: dockerd still holds every
message, and on start-up each copier resumes from the newest timestamp
already in its file (dockerd's ``since`` is inclusive, so the lines at that
exact timestamp are remembered and skipped). Containers that exited while
the shim was down get a one-off catch-up copy.

File writes are blocking system calls, so they run in a worker thread,
batched: one thread hop writes every line that arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shim import criolog, labels
from shim.docker import DockerClient, LogFrame
from shim.errors import DockerAPIError, FailedPrecondition, ShimError

log = logging.getLogger(__name__)

# Enough to hold the resume window of even a chatty container.
TAIL_BYTES = 4 * 1024 * 1024
# How often a copier re-attaches when dockerd ends a stream of a container
# that is still running (a dropped connection, not an exit).
MAX_REATTACH = 5
QUEUE_LINES = 10_000
CATCH_UP_CONCURRENCY = 4


class LogFile:
    """An append-only CRI log file. Blocking: call through ``asyncio.to_thread``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handle: int | None = None

    def open(self) -> criolog.ResumePoint | None:
        """Open for appending and tell where a previous copy of this log ended."""
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o755, exist_ok=True)
        self._drop_torn_tail()
        self._handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return self._resume_point_of(self.path) or self._rotated_resume_point()

    def write(self, lines: Iterable[criolog.LogLine]) -> None:
        data = b"".join(line.encode() for line in lines)
        if self._handle is not None and data:
            os.write(self._handle, data)

    def reopen(self) -> None:
        """Start a new file at the same path (after a rotation renamed the old one)."""
        handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self.close()
        self._handle = handle

    def close(self) -> None:
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None

    def _drop_torn_tail(self) -> None:
        """A crash mid-write can leave half a line; cut it so it is copied again whole."""
        try:
            with open(self.path, "rb+") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size == 0:
                    return
                handle.seek(max(size - TAIL_BYTES, 0))
                tail = handle.read()
                if tail.endswith(b"\n"):
                    return
                cut = tail.rfind(b"\n")
                handle.truncate(size - len(tail) + cut + 1 if cut >= 0 else 0)
        except FileNotFoundError:
            return

    @staticmethod
    def _tail(path: str) -> bytes:
        try:
            with open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(size - TAIL_BYTES, 0))
                return handle.read()
        except FileNotFoundError:
            return b""

    def _rotated_resume_point(self) -> criolog.ResumePoint | None:
        """After a rotation the current file may be empty; the newest rotated one tells."""
        candidates = [
            p for p in glob.glob(glob.escape(self.path) + ".*") if not p.endswith((".gz", ".tmp"))
        ]
        if not candidates:
            return None
        return self._resume_point_of(max(candidates, key=os.path.getmtime))

    def _resume_point_of(self, path: str) -> criolog.ResumePoint | None:
        return criolog.resume_point(criolog.parse_tail(self._tail(path)))


@dataclass
class _Reopen:
    done: asyncio.Future[None]


_Item = criolog.LogLine | _Reopen | None


@dataclass
class Copier:
    """Copies one container's output into its CRI log file."""

    docker: DockerClient
    container_id: str
    path: str
    tty: bool
    follow: bool
    # Bounded: a slow disk slows the reading of dockerd's log instead of filling memory.
    _queue: asyncio.Queue[_Item] = field(default_factory=lambda: asyncio.Queue(QUEUE_LINES))
    _recent: criolog.RecentLines = field(default_factory=criolog.RecentLines)
    _resume: criolog.ResumePoint | None = None

    async def run(self) -> None:
        file = LogFile(self.path)
        self._resume = await asyncio.to_thread(file.open)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._write(file))
                group.create_task(self._read())
        finally:
            self._refuse_pending_reopens()
            await asyncio.to_thread(file.close)

    async def reopen(self) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Reopen(done))
        await done

    def _refuse_pending_reopens(self) -> None:
        """A reopen asked for as the copy ended would otherwise wait forever."""
        pending = []
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        _refuse(pending)

    async def _read(self) -> None:
        try:
            for _ in range(MAX_REATTACH):
                await self._copy_stream()
                if not self.follow or not await self._still_running():
                    return
                log.debug("log stream of %s ended while it runs; re-attaching", self.container_id)
                self._resume = self._recent.resume_point() or self._resume
        finally:
            await self._queue.put(None)

    async def _copy_stream(self) -> None:
        since = self._resume.since if self._resume else None
        try:
            async for frame in self.docker.log_frames(
                self.container_id, tty=self.tty, since=since, follow=self.follow
            ):
                line = _line(frame)
                if self._resume and self._resume.already_written(line):
                    continue
                self._recent.add(line)
                await self._queue.put(line)
        except DockerAPIError as exc:
            if not exc.is_not_found:
                log.warning("reading logs of %s failed: %s", self.container_id, exc.message)

    async def _still_running(self) -> bool:
        try:
            inspect = await self.docker.inspect_container(self.container_id)
        except ShimError:
            return False
        return bool(inspect["State"].get("Running"))

    async def _write(self, file: LogFile) -> None:
        """Write what arrived, in order: lines in one thread hop per run of lines."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            lines: list[criolog.LogLine] = []
            for index, item in enumerate(batch):
                if isinstance(item, criolog.LogLine):
                    lines.append(item)
                    continue
                if lines:
                    await asyncio.to_thread(file.write, lines)
                    lines = []
                if item is None:
                    _refuse(batch[index + 1 :])
                    return
                # Lines that came after the reopen request belong in the new file.
                await self._reopen(file, item)
            if lines:
                await asyncio.to_thread(file.write, lines)

    async def _reopen(self, file: LogFile, request: _Reopen) -> None:
        try:
            await asyncio.to_thread(file.reopen)
        except OSError as exc:
            request.done.set_exception(FailedPrecondition(f"cannot reopen {file.path}: {exc}"))
        else:
            request.done.set_result(None)


def _refuse(items: list[_Item]) -> None:
    for item in items:
        if isinstance(item, _Reopen) and not item.done.done():
            item.done.set_exception(FailedPrecondition("the container's output has ended"))


def _line(frame: LogFrame) -> criolog.LogLine:
    return criolog.LogLine(
        timestamp=frame.timestamp, stream=frame.stream, partial=frame.partial, text=frame.text
    )


class LogManager:
    """Owns every copier task; the daemon closes it on shutdown."""

    def __init__(self, docker: DockerClient, scope: Sequence[str] = ()) -> None:
        self._docker = docker
        # Label filters of the shim instance: resume only its own containers' logs.
        self._scope = list(scope)
        self._copiers: dict[str, Copier] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    def follow(self, container_id: str, path: str, tty: bool, follow: bool = True) -> None:
        """Start copying a container's output, unless a copier already runs."""
        task = self._tasks.get(container_id)
        if task is not None and not task.done():
            return
        copier = Copier(self._docker, container_id, path, tty, follow)
        task = asyncio.create_task(self._run(copier), name=f"logs-{container_id[:12]}")
        self._copiers[container_id] = copier
        self._tasks[container_id] = task

    async def reopen(self, container_id: str) -> None:
        task = self._tasks.get(container_id)
        copier = self._copiers.get(container_id)
        if task is None or task.done() or copier is None:
            raise FailedPrecondition(f"container {container_id} has no log being written")
        await copier.reopen()

    async def forget(self, container_id: str) -> None:
        task = self._tasks.pop(container_id, None)
        self._copiers.pop(container_id, None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def resume_all(self) -> None:
        """Re-attach copiers after a (re)start of the shim, in the background."""
        task = asyncio.create_task(self._resume_all(), name="logs-resume")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        tasks = [*self._tasks.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._copiers.clear()

    async def _run(self, copier: Copier) -> None:
        # A background task's boundary: a failure is logged, never lost or fatal.
        try:
            await copier.run()
        except Exception:
            log.exception("log copier of %s (%s) failed", copier.container_id, copier.path)

    async def _resume_all(self) -> None:
        try:
            await self._resume_each()
        except Exception:
            log.exception("resuming container logs failed")

    async def _resume_each(self) -> None:
        try:
            entries = await self._docker.list_containers(
                {
                    "label": [
                        f"{labels.TYPE_KEY}={labels.TYPE_CONTAINER}",
                        labels.LOG_PATH_KEY,
                        *self._scope,
                    ]
                }
            )
        except ShimError as exc:
            log.warning("cannot list containers to resume their logs: %s", exc.message)
            return
        limit = asyncio.Semaphore(CATCH_UP_CONCURRENCY)
        async with asyncio.TaskGroup() as group:
            for entry in entries:
                path = (entry.get("Labels") or {}).get(labels.LOG_PATH_KEY, "")
                if not path or entry.get("State") == "created":
                    continue
                group.create_task(self._resume_one(entry["Id"], path, limit))

    async def _resume_one(self, container_id: str, path: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                inspect = await self._docker.inspect_container(container_id)
            except ShimError:
                return
            running = bool(inspect["State"].get("Running"))
            tty = bool(inspect["Config"].get("Tty"))
            self.follow(container_id, path, tty, follow=running)
            if not running:
                # Exited while the shim was away: copy what is missing, one at a time.
                await asyncio.gather(self._tasks[container_id], return_exceptions=True)
