"""Events and timeline marks of one pod: logged, counted and persisted.

Each event is one log line (with pod and container as structured fields in
JSON logs), a Prometheus count by reason, and a line in the pod's record in
the state directory (which ``describe`` reads back).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
from typing import Any, TextIO

from kubeletlite import manifest as m
from kubeletlite import metrics
from kubeletlite.state.records import DeletionRequest, PodMeta, PodStatus
from kubeletlite.state.store import Event, Mark, PodRecord

log = logging.getLogger("kubeletlite.events")


class AlreadySupervised(Exception):
    """Another kubelet-lite process supervises this pod."""


class Recorder:
    def __init__(self, pod: m.Pod, record: PodRecord) -> None:
        self.pod = pod
        self.record = record
        self._lock: TextIO | None = None

    async def init(self) -> None:
        meta = PodMeta(
            namespace=self.pod.namespace,
            name=self.pod.name,
            uid=self.pod.uid,
            source=self.pod.source,
        )
        await asyncio.to_thread(self.record.init, meta)

    async def event(
        self,
        kind: str,
        reason: str,
        message: str,
        container: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        event = Event(kind, reason, message, container, details or {})
        subject = self.pod.describe() + (f"/{container}" if container else "")
        log.info(
            "%s %s: %s",
            reason,
            subject,
            message,
            extra={"pod": self.pod.describe(), "container": container or "", "reason": reason},
        )
        metrics.EVENTS.labels(reason).inc()
        await asyncio.to_thread(self.record.add_event, event)

    async def mark(
        self, container: str, container_id: str, what: str, ok: bool | None = None, note: str = ""
    ) -> None:
        mark = Mark(container=container, container_id=container_id, what=what, ok=ok, note=note)
        await asyncio.to_thread(self.record.add_mark, mark)

    async def marks(self) -> list[Mark]:
        return await asyncio.to_thread(self.record.marks)

    async def deletion(self) -> DeletionRequest | None:
        return await asyncio.to_thread(self.record.deletion)

    async def publish(self, status: PodStatus) -> None:
        await asyncio.to_thread(self.record.write_status, status)

    async def deleted(self) -> None:
        await asyncio.to_thread(self.record.mark_deleted)

    # -- one supervisor per pod ---------------------------------------------------------

    async def claim(self) -> None:
        """Take the pod's supervisor lock; the kernel drops it if the process dies."""
        self._lock = await asyncio.to_thread(self._acquire)

    def _acquire(self) -> TextIO:
        self.record.directory.mkdir(parents=True, exist_ok=True)
        # Held open for as long as this process supervises the pod.
        handle = open(self.record.lock_path, "a+")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            pod = f"{self.pod.namespace}/{self.pod.name}"
            raise AlreadySupervised(
                f"pod {pod} is supervised by another kubelet-lite process"
            ) from exc
        return handle

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def is_supervised(record: PodRecord) -> bool:
    """Whether a live process holds the pod's supervisor lock (blocking: run in a thread)."""
    path = record.lock_path
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
