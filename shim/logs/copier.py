"""Copying container output from dockerd into CRI-format log files.

dockerd keeps each container's output in its json-file log. For every
container started through the CRI, a copier follows that log (with
timestamps) and appends each message to the file the kubelet asked for
(sandbox ``log_directory`` joined with the container's ``log_path``), in
the CRI format ``crictl logs`` and the kubelet read (``cricommon.criolog``).

No line is lost or copied twice across a restart of the shim: dockerd
still holds every message, and on start-up each copier resumes a little
before the newest timestamp already in its file (``resume.LogCursor``:
dockerd's ``since`` is inclusive, and the lines found written are skipped,
each once). Containers that exited while the shim was down get a one-off
catch-up copy.

File writes are blocking system calls, so they run in a worker thread,
batched: one thread hop writes every line that arrived meanwhile.

A copier holds an exclusive lock (flock) on its file: a second shim on the
same dockerd (one not scoped with ``--instance``, or a restarted shim whose
predecessor still runs) leaves a log another process writes alone instead of
writing every line twice. The kernel drops the lock of a killed process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from shim import hostfs
from shim.deadline import detached_context
from shim.engine.dockerapi import DockerAPI, LogFrame
from shim.errors import DockerAPIError, FailedPrecondition, ShimError
from shim.logs import resume
from shim.translate import labelrecord, labels

log = logging.getLogger(__name__)

# Enough to hold the resume window of even a chatty container.
TAIL_BYTES = 4 * 1024 * 1024
# How often a copier re-attaches when dockerd ends a stream of a container
# that is still running (a dropped connection, not an exit).
MAX_REATTACH = 5
QUEUE_LINES = 10_000
CATCH_UP_CONCURRENCY = 4
# How long ContainerStatus waits for an exited container's last output to be copied.
EXIT_FLUSH_SECONDS = 2.0


class LogFileBusy(Exception):
    """Another copier (a second shim's, on the same dockerd) is writing this log file."""


class LogFile:
    """An append-only CRI log file at ``root/relative``; blocking, so call it through a thread.

    ``root`` is the sandbox's log directory, which the kubelet made; nothing
    below it is trusted (a container may mount it), so no symlink there is
    followed, and only a regular file with one link is ever written to.
    """

    def __init__(self, root: str, relative: str) -> None:
        self.root = root
        self.relative = relative
        self.path = os.path.join(root, relative)
        self._dirs, self._name = hostfs.split_relative(relative)
        self._handle: int | None = None
        self.resume: resume.ResumePoint | None = None

    @property
    def is_open(self) -> bool:
        return self._handle is not None

    def open(self) -> resume.ResumePoint | None:
        """Open (creating it) for appending and tell where a previous copy of this log ended.

        Raises :class:`hostfs.UnsafePath` for a symlink, special file or
        foreign file at the path, and :class:`LogFileBusy` for a file another
        process writes; changes nothing then.
        """
        with hostfs.directory_below(self.root, self._dirs, create=True) as parent:
            handle = hostfs.open_regular(self._name, os.O_RDWR | os.O_APPEND | os.O_CREAT, parent)
            try:
                # Before reading or cutting the tail: another writer may be mid-line.
                _lock(handle, self.relative)
                self._drop_torn_tail(handle)
                self.resume = _resume_point_of(handle) or self._rotated_resume_point(parent)
            except BaseException:
                os.close(handle)
                raise
        self._handle = handle
        return self.resume

    def write(self, lines: Iterable[resume.LogLine]) -> None:
        data = b"".join(line.encode() for line in lines)
        view = memoryview(data)
        while self._handle is not None and view:
            written = os.write(self._handle, view)
            view = view[written:]

    def reopen(self) -> None:
        """Start a new file at the same path (after a rotation renamed the old one)."""
        with hostfs.directory_below(self.root, self._dirs, create=True) as parent:
            handle = hostfs.open_regular(self._name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, parent)
            try:
                if self._handle is not None and _same_file(handle, self._handle):
                    # Nothing was rotated: keep writing (and holding the lock) as before.
                    os.close(handle)
                    return
                _lock(handle, self.relative)
            except BaseException:
                os.close(handle)
                raise
        self.close()
        self._handle = handle

    def close(self) -> None:
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None

    def _drop_torn_tail(self, handle: int) -> None:
        """A crash mid-write can leave half a line; cut it so it is copied again whole.

        Only a file that reads as a CRI log is ever cut: anything else was not
        written by the shim and is refused instead, unchanged.
        """
        size = os.fstat(handle).st_size
        if size == 0:
            return
        tail = _tail(handle)
        cut = tail.rfind(b"\n")
        complete, torn = tail[: cut + 1], tail[cut + 1 :]
        if cut >= 0:
            ours = bool(resume.parse_tail(complete))
        else:
            ours = len(tail) == size and _TORN_START.match(torn) is not None
        if not ours:
            raise hostfs.UnsafePath(f"{self.relative!r} exists and is not a CRI log file")
        if torn:
            os.ftruncate(handle, size - len(torn))

    def _rotated_resume_point(self, parent: int) -> resume.ResumePoint | None:
        """After a rotation the current file may be empty; the newest rotated one tells."""
        newest: tuple[float, bytes, bool] | None = None
        for entry in os.listdir(parent):
            if not entry.startswith(self._name + ".") or entry.endswith((".gz", ".tmp")):
                continue
            try:
                handle = hostfs.open_regular(entry, os.O_RDONLY, parent)
            except (OSError, hostfs.UnsafePath):
                continue
            try:
                mtime = os.fstat(handle).st_mtime
                if newest is None or mtime > newest[0]:
                    newest = (mtime, _tail(handle), _is_whole(handle))
            finally:
                os.close(handle)
        return _resume_point_after(newest[1], newest[2]) if newest else None


def _lock(handle: int, relative: str) -> None:
    """Take the file's one writer lock, without waiting; the lock goes with the handle."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise LogFileBusy(f"{relative!r} is being written by another log copier") from exc


def _same_file(a: int, b: int) -> bool:
    first, second = os.fstat(a), os.fstat(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _tail(handle: int) -> bytes:
    size = os.fstat(handle).st_size
    start = max(size - TAIL_BYTES, 0)
    return os.pread(handle, size - start, start)


def _is_whole(handle: int) -> bool:
    """Whether :func:`_tail` reads the whole file."""
    return os.fstat(handle).st_size <= TAIL_BYTES


def _resume_point_of(handle: int) -> resume.ResumePoint | None:
    return _resume_point_after(_tail(handle), _is_whole(handle))


def _resume_point_after(tail: bytes, whole: bool) -> resume.ResumePoint | None:
    return resume.resume_point(resume.parse_tail(tail), whole=whole)


# The start of a CRI line torn anywhere in its timestamp ("2026-", "2026-01-0"...).
_TORN_START = re.compile(rb"[0-9]{1,4}(-|$)")


@dataclass
class _Reopen:
    done: asyncio.Future[None]


_Item = resume.LogLine | _Reopen | None


@dataclass
class Copier:
    """Copies one container's output into its CRI log file."""

    docker: DockerAPI
    container_id: str
    file: LogFile
    tty: bool
    follow: bool
    # Bounded: a slow disk slows the reading of dockerd's log instead of filling memory.
    _queue: asyncio.Queue[_Item] = field(default_factory=lambda: asyncio.Queue(QUEUE_LINES))
    _cursor: resume.LogCursor = field(default_factory=resume.LogCursor)
    _reader_done: bool = False
    _finished: bool = False

    @property
    def path(self) -> str:
        return self.file.path

    async def run(self) -> None:
        try:
            if not self.file.is_open:
                await asyncio.to_thread(self.file.open)
            self._cursor = resume.LogCursor(self.file.resume)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._write())
                group.create_task(self._read())
        except* OSError as failures:
            # dockerd still holds the output; a later resume copies it again.
            log.warning(
                "writing the log of %s to %s failed, copying stops: %s",
                self.container_id[:12],
                self.path,
                "; ".join(str(exc) for exc in failures.exceptions),
            )
        except* hostfs.UnsafePath as refusals:
            log.warning(
                "not writing the log of %s: %s",
                self.container_id[:12],
                "; ".join(str(exc) for exc in refusals.exceptions),
            )
        except* LogFileBusy as busy:
            # That process copies it; dockerd keeps the output for whoever resumes next.
            log.info(
                "not copying the log of %s: %s",
                self.container_id[:12],
                "; ".join(str(exc) for exc in busy.exceptions),
            )
        finally:
            self._finished = True
            self._refuse_pending_reopens()
            self.file.close()

    def has_finished(self) -> bool:
        return self._finished

    async def reopen(self) -> None:
        if self.has_finished():
            raise FailedPrecondition("the container's output has ended")
        request = _Reopen(asyncio.get_running_loop().create_future())
        await self._queue.put(request)
        if self.has_finished():
            # The copy ended while this request waited for room: nobody will answer it.
            _refuse([request])
        await request.done

    def _refuse_pending_reopens(self) -> None:
        """A reopen asked for as the copy ended would otherwise wait forever."""
        pending = []
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        _refuse(pending)

    async def _read(self) -> None:
        try:
            for _ in range(MAX_REATTACH):
                await self._copy_stream(self.follow)
                if not self.follow or not await self._still_running():
                    break
                log.debug("log stream of %s ended while it runs; re-attaching", self.container_id)
            if self.follow:
                # dockerd can end a follow before sending the last message it stored
                # (output without a trailing newline): one final read copies the rest.
                await self._copy_stream(follow=False)
        finally:
            self._end_of_input()

    def _end_of_input(self) -> None:
        """Tell the writer the input ended, without waiting: the writer may be gone."""
        self._reader_done = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def _copy_stream(self, follow: bool) -> None:
        since = self._cursor.next_read()
        try:
            async for frame in self.docker.log_frames(
                self.container_id, tty=self.tty, since=since, follow=follow
            ):
                line = _line(frame)
                if self._cursor.admit(line):
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

    async def _write(self) -> None:
        """Write what arrived, in order: lines in one thread hop per run of lines."""
        while True:
            if self._reader_done and self._queue.empty():
                # The end marker found no room; everything before it is written.
                return
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            lines: list[resume.LogLine] = []
            for index, item in enumerate(batch):
                if isinstance(item, resume.LogLine):
                    lines.append(item)
                    continue
                if lines:
                    await asyncio.to_thread(self.file.write, lines)
                    lines = []
                if item is None:
                    _refuse(batch[index + 1 :])
                    return
                # Lines that came after the reopen request belong in the new file.
                await self._reopen(item)
            if lines:
                await asyncio.to_thread(self.file.write, lines)

    async def _reopen(self, request: _Reopen) -> None:
        try:
            await asyncio.to_thread(self.file.reopen)
        except (OSError, hostfs.UnsafePath, LogFileBusy) as exc:
            request.done.set_exception(FailedPrecondition(f"cannot reopen {self.file.path}: {exc}"))
        else:
            request.done.set_result(None)


def _refuse(items: list[_Item]) -> None:
    for item in items:
        if isinstance(item, _Reopen) and not item.done.done():
            item.done.set_exception(FailedPrecondition("the container's output has ended"))


def _line(frame: LogFrame) -> resume.LogLine:
    return resume.LogLine(
        timestamp=frame.timestamp, stream=frame.stream, partial=frame.partial, text=frame.text
    )


def location(docker_labels: Mapping[str, str] | None) -> tuple[str, str] | None:
    """(sandbox log directory, relative log path) of a container, from its labels.

    Containers created before the directory was recorded only protect the
    last component of their path.
    """
    path = (docker_labels or {}).get(labels.LOG_PATH_KEY, "")
    if not path:
        return None
    root = labelrecord.container(docker_labels).log_directory
    prefix = os.path.join(root, "") if root else ""
    if prefix and path.startswith(prefix) and len(path) > len(prefix):
        return root, path[len(prefix) :]
    return os.path.dirname(path) or "/", os.path.basename(path)


class LogManager:
    """Owns every copier task; the daemon closes it on shutdown."""

    def __init__(self, docker: DockerAPI, scope: Sequence[str] = ()) -> None:
        self._docker = docker
        # Label filters of the shim instance: resume only its own containers' logs.
        self._scope = list(scope)
        self._copiers: dict[str, Copier] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def open(self, root: str, relative: str) -> LogFile:
        """Create or open a container's log file now, so that it exists once this returns."""
        file = LogFile(root, relative)
        opening = asyncio.ensure_future(asyncio.to_thread(file.open))
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The thread finishes anyway; its file must not leak.
            opening.add_done_callback(lambda done: _close_quietly(done, file))
            raise
        except (hostfs.UnsafePath, LogFileBusy) as exc:
            raise FailedPrecondition(f"log_path: refusing {file.path}: {exc}") from exc
        except OSError as exc:
            raise FailedPrecondition(f"log_path: cannot open {file.path}: {exc}") from exc
        return file

    def follow(self, container_id: str, file: LogFile, tty: bool, follow: bool = True) -> None:
        """Start copying a container's output, unless a copier already runs.

        The copier outlives the RPC that starts it, so it runs in a context
        without that RPC's deadline.
        """
        task = self._tasks.get(container_id)
        if task is not None and not task.done():
            file.close()
            return
        copier = Copier(self._docker, container_id, file, tty, follow)
        log.debug("copying the output of %s into %s", container_id[:12], file.path)
        task = asyncio.create_task(
            self._run(copier), name=f"logs-{container_id[:12]}", context=detached_context()
        )
        self._copiers[container_id] = copier
        self._tasks[container_id] = task

    async def settled(self, container_id: str, within: float = EXIT_FLUSH_SECONDS) -> None:
        """Wait, at most ``within`` seconds, until an exited container's copier is done.

        An exit is reported only once the output is in the CRI file, as containerd
        waits for a task's I/O before it publishes the exit: a client that reads the
        log when it sees EXITED finds every line. The copier is never cancelled here.
        """
        task = self._tasks.get(container_id)
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=within)

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
        task = asyncio.create_task(
            self._resume_all(), name="logs-resume", context=detached_context()
        )
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
                where = location(entry.get("Labels"))
                if where is None or entry.get("State") == "created":
                    continue
                group.create_task(self._resume_one(entry["Id"], where, limit))

    async def _resume_one(
        self, container_id: str, where: tuple[str, str], limit: asyncio.Semaphore
    ) -> None:
        async with limit:
            try:
                inspect = await self._docker.inspect_container(container_id)
            except ShimError:
                return
            running = bool(inspect["State"].get("Running"))
            tty = bool(inspect["Config"].get("Tty"))
            try:
                file = LogFile(*where)
            except hostfs.UnsafePath as exc:
                log.warning("not resuming the log of %s: %s", container_id[:12], exc)
                return
            self.follow(container_id, file, tty, follow=running)
            if not running:
                # Exited while the shim was away: copy what is missing, one at a time.
                await asyncio.gather(self._tasks[container_id], return_exceptions=True)


def _close_quietly(done: asyncio.Future[resume.ResumePoint | None], file: LogFile) -> None:
    if not done.cancelled():
        done.exception()
    file.close()
