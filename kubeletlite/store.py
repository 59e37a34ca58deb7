"""kubelet-lite's own records: events, hook timelines and status snapshots.

What is needed to adopt a pod lives with its containers in the runtime
(CRI labels and annotations). What the kubelet would send to the API server
(events, the status it computed) lives here, one directory per pod under
the state directory, so that it survives restarts and other kubelet-lite
commands (get, describe) can read it:

    <state>/pods/<namespace>_<name>_<uid>/
        pod.json         name, namespace, uid, source, created/deleted times
        events.jsonl     one Event per line, append-only
        timeline.jsonl   one Mark per line: container starts, hook begin/end, stops
        status.json      the supervisor's latest view (phase, container reasons)
        deletion.json    present while a deletion is in progress
        supervisor.lock  flock()ed by the one process supervising the pod
    <state>/volumes/     pods' emptyDir volumes and termination logs (``volumes.py``)

The names below are the whole layout; nothing else names these files.

The methods block (small file I/O); async callers run them in a thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str
    container: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    time_ns: int = field(default_factory=time.time_ns)


@dataclass(frozen=True, slots=True)
class Mark:
    """A point in a container's life: what happened, when, and how it ended.

    ``what`` is one of: created, started (StartContainer returned),
    postStart.begin/.end, preStop.begin/.end, stop.begin/.end (StopContainer),
    exited (seen terminated).
    """

    container: str
    container_id: str
    what: str
    ok: bool | None = None
    note: str = ""
    time_ns: int = field(default_factory=time.time_ns)


PODS_DIR = "pods"
VOLUMES_DIR = "volumes"
POD_FILE = "pod.json"
EVENTS_FILE = "events.jsonl"
TIMELINE_FILE = "timeline.jsonl"
STATUS_FILE = "status.json"
DELETION_FILE = "deletion.json"
LOCK_FILE = "supervisor.lock"


def pod_key(namespace: str, name: str, uid: str) -> str:
    return f"{namespace}_{name}_{uid}"


class PodRecord:
    """The files of one pod."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def key(self) -> str:
        return self.directory.name

    @property
    def lock_path(self) -> Path:
        """The supervisor lock: whoever holds its flock() supervises the pod."""
        return self.directory / LOCK_FILE

    def init(self, meta: dict[str, Any]) -> None:
        """Start the record of a pod; a record of a deleted pod with the same UID starts over."""
        self.directory.mkdir(parents=True, exist_ok=True)
        previous = self.meta()
        if previous and not previous.get("deleted_ns"):
            return
        for name in (EVENTS_FILE, TIMELINE_FILE, STATUS_FILE, DELETION_FILE):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()
        self._write_json(POD_FILE, {**meta, "created_ns": time.time_ns()})

    def meta(self) -> dict[str, Any]:
        return self._read_json(POD_FILE) or {}

    def is_deleted(self) -> bool:
        """Whether the pod's supervisor finished deleting it (a torn or absent file: not yet)."""
        return bool(self.meta().get("deleted_ns"))

    def mark_deleted(self) -> None:
        meta = self.meta()
        meta["deleted_ns"] = time.time_ns()
        self._write_json(POD_FILE, meta)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / DELETION_FILE).unlink()

    def add_event(self, event: Event) -> None:
        self._append(EVENTS_FILE, asdict(event))

    def events(self) -> list[Event]:
        return [Event(**row) for row in self._read_lines(EVENTS_FILE)]

    def add_mark(self, mark: Mark) -> None:
        self._append(TIMELINE_FILE, asdict(mark))

    def marks(self) -> list[Mark]:
        return [Mark(**row) for row in self._read_lines(TIMELINE_FILE)]

    def write_status(self, status: dict[str, Any]) -> None:
        self._write_json(STATUS_FILE, status)

    def status(self) -> dict[str, Any]:
        return self._read_json(STATUS_FILE) or {}

    def request_deletion(self, grace_seconds: int | None) -> None:
        self._write_json(DELETION_FILE, {"grace_seconds": grace_seconds, "time_ns": time.time_ns()})

    def deletion(self) -> dict[str, Any] | None:
        return self._read_json(DELETION_FILE)

    def _append(self, name: str, row: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, sort_keys=True) + "\n"
        # One write of a whole line in append mode: concurrent writers never interleave.
        fd = os.open(self.directory / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def _read_lines(self, name: str) -> list[dict[str, Any]]:
        try:
            text = (self.directory / name).read_text()
        except FileNotFoundError:
            return []
        rows = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
        return rows

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / name
        # One temporary file per writer: writers that share one would move each other's.
        temporary = target.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(data, sort_keys=True))
        os.replace(temporary, target)

    def _read_json(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.directory / name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None


class StateStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def pod(self, namespace: str, name: str, uid: str) -> PodRecord:
        return PodRecord(self.root / PODS_DIR / pod_key(namespace, name, uid))

    def records(self) -> list[PodRecord]:
        pods = self.root / PODS_DIR
        if not pods.is_dir():
            return []
        return [PodRecord(p) for p in sorted(pods.iterdir()) if p.is_dir()]

    def find(self, namespace: str, name: str) -> list[PodRecord]:
        """Records of pods with this name, newest first (deleted ones included)."""
        prefix = f"{namespace}_{name}_"
        found = [r for r in self.records() if r.key.startswith(prefix)]
        return sorted(found, key=lambda r: r.meta().get("created_ns", 0), reverse=True)
