"""kubelet-lite's own records: events, hook timelines and status snapshots.

What is needed to adopt a pod lives with its containers in the runtime
(CRI labels and annotations). What the kubelet would send to the API server
(events, the status it computed) lives here, one directory per pod under
the state directory (the layout is ``statedir``), so that it survives
restarts and other kubelet-lite commands (get, describe) can read it. Every
file holds a typed record (``records``, ``Event``, ``Mark``).

The methods block (small file I/O); async callers run them in a thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kubeletlite.state.records import DeletionRequest, PodMeta, PodStatus
from kubeletlite.state.statedir import PodFiles, StateLayout, pod_key


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


Row = TypeVar("Row", Event, Mark)


def _rows_as(kind: type[Row], rows: list[dict[str, Any]]) -> list[Row]:
    """Lines of an append-only file as records: keys a later version added are ignored,
    and a line that is not one record (a hand edit) is skipped, as a torn line is."""
    known = {f.name for f in dataclasses.fields(kind)}
    records = []
    for row in rows:
        with contextlib.suppress(TypeError):
            records.append(kind(**{k: v for k, v in row.items() if k in known}))
    return records


class PodRecord:
    """The files of one pod."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = PodFiles(directory)

    @property
    def key(self) -> str:
        return self.directory.name

    @property
    def lock_path(self) -> Path:
        """The supervisor lock: whoever holds its flock() supervises the pod."""
        return self.files.lock

    def init(self, meta: PodMeta) -> None:
        """Start the record of a pod; a record of a deleted pod with the same UID starts over."""
        self.directory.mkdir(parents=True, exist_ok=True)
        previous = self.meta()
        if previous is not None and not previous.deleted_ns:
            return
        for path in self.files.of_previous_life():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        created = dataclasses.replace(meta, created_ns=time.time_ns(), deleted_ns=0)
        self._write_json(self.files.meta, created.to_json())

    def meta(self) -> PodMeta | None:
        """None while there is no (whole) pod.json."""
        data = self._read_json(self.files.meta)
        return None if data is None else PodMeta.from_json(data)

    def is_deleted(self) -> bool:
        """Whether the pod's supervisor finished deleting it (a torn or absent file: not yet)."""
        meta = self.meta()
        return meta is not None and meta.deleted_ns != 0

    def mark_deleted(self) -> None:
        meta = self.meta() or PodMeta(namespace="", name="", uid="")
        self._write_json(
            self.files.meta, dataclasses.replace(meta, deleted_ns=time.time_ns()).to_json()
        )
        with contextlib.suppress(FileNotFoundError):
            self.files.deletion.unlink()

    def add_event(self, event: Event) -> None:
        self._append(self.files.events, asdict(event))

    def events(self) -> list[Event]:
        return _rows_as(Event, self._read_lines(self.files.events))

    def add_mark(self, mark: Mark) -> None:
        self._append(self.files.timeline, asdict(mark))

    def marks(self) -> list[Mark]:
        return _rows_as(Mark, self._read_lines(self.files.timeline))

    def write_status(self, status: PodStatus) -> None:
        self._write_json(self.files.status, status.to_json())

    def status(self) -> PodStatus | None:
        """None while no supervisor has written one (or it is unreadable)."""
        data = self._read_json(self.files.status)
        return None if data is None else PodStatus.from_json(data)

    def request_deletion(self, grace_seconds: int | None) -> None:
        request = DeletionRequest(grace_seconds=grace_seconds, time_ns=time.time_ns())
        self._write_json(self.files.deletion, request.to_json())

    def deletion(self) -> DeletionRequest | None:
        data = self._read_json(self.files.deletion)
        return None if data is None else DeletionRequest.from_json(data)

    def _append(self, path: Path, row: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, sort_keys=True) + "\n"
        # One write of a whole line in append mode: concurrent writers never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def _read_lines(self, path: Path) -> list[dict[str, Any]]:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return []
        rows = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict):
                    rows.append(row)
        return rows

    def _write_json(self, target: Path, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # One temporary file per writer: writers that share one would move each other's.
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(data, sort_keys=True))
        os.replace(temporary, target)

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None


class StateStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = StateLayout(root)

    def pod(self, namespace: str, name: str, uid: str) -> PodRecord:
        return PodRecord(self.layout.pod(namespace, name, uid).directory)

    def records(self) -> list[PodRecord]:
        pods = self.layout.pods
        if not pods.is_dir():
            return []
        return [PodRecord(p) for p in sorted(pods.iterdir()) if p.is_dir()]

    def find(self, namespace: str, name: str) -> list[PodRecord]:
        """Records of pods with this name, newest first (deleted ones included)."""
        prefix = f"{namespace}_{name}_"
        found = [r for r in self.records() if r.key.startswith(prefix)]
        return sorted(found, key=_created_ns, reverse=True)


def _created_ns(record: PodRecord) -> int:
    meta = record.meta()
    return 0 if meta is None else meta.created_ns


__all__ = ["Event", "Mark", "PodRecord", "StateStore", "pod_key"]
