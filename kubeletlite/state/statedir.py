"""Where kubelet-lite keeps its files: the state directory's whole layout, in one place.

    <state>/pods/<namespace>_<name>_<uid>/   one directory per pod (``store.PodRecord``)
        pod.json         records.PodMeta: name, namespace, uid, source, created/deleted times
        events.jsonl     one store.Event per line, append-only
        timeline.jsonl   one store.Mark per line: container starts, hook begin/end, stops
        status.json      records.PodStatus: the supervisor's latest view
        deletion.json    records.DeletionRequest: present while a deletion is in progress
        supervisor.lock  flock()ed by the one process supervising the pod
    <state>/serve/<pid>.json   records.ServeRegistration: a running `serve`'s manifest folder,
                               flock()ed while it runs (``manifestdir``)
    <state>/volumes/<uid>/     one pod's volumes (``volumes``), removed with the pod:
        empty-dir/<volume>/                    an emptyDir (medium Memory: the same
                                               under /dev/shm/kubelet-lite/<uid>/)
        containers/<container>/termination-log-<attempt>

Nothing else names these files. Pure: paths only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PODS_DIR = "pods"
SERVE_DIR = "serve"
VOLUMES_DIR = "volumes"

POD_FILE = "pod.json"
EVENTS_FILE = "events.jsonl"
TIMELINE_FILE = "timeline.jsonl"
STATUS_FILE = "status.json"
DELETION_FILE = "deletion.json"
LOCK_FILE = "supervisor.lock"


def pod_key(namespace: str, name: str, uid: str) -> str:
    return f"{namespace}_{name}_{uid}"


@dataclass(frozen=True, slots=True)
class PodFiles:
    """The files of one pod's directory."""

    directory: Path

    @property
    def meta(self) -> Path:
        return self.directory / POD_FILE

    @property
    def events(self) -> Path:
        return self.directory / EVENTS_FILE

    @property
    def timeline(self) -> Path:
        return self.directory / TIMELINE_FILE

    @property
    def status(self) -> Path:
        return self.directory / STATUS_FILE

    @property
    def deletion(self) -> Path:
        return self.directory / DELETION_FILE

    @property
    def lock(self) -> Path:
        return self.directory / LOCK_FILE

    def of_previous_life(self) -> tuple[Path, ...]:
        """What a re-created pod with the same UID must not inherit."""
        return (self.events, self.timeline, self.status, self.deletion)


@dataclass(frozen=True, slots=True)
class PodVolumes:
    """One pod's directory of volumes and termination logs."""

    directory: Path

    def empty_dir(self, volume: str) -> Path:
        return self.directory / "empty-dir" / volume

    def termination_log(self, container: str, attempt: int) -> Path:
        return self.directory / "containers" / container / f"termination-log-{attempt}"


def pod_volumes(volumes_root: str | Path, pod_uid: str) -> PodVolumes:
    """``volumes_root`` is ``StateLayout.volumes`` (or the shared-memory root)."""
    return PodVolumes(Path(volumes_root) / pod_uid)


@dataclass(frozen=True, slots=True)
class StateLayout:
    root: Path

    @property
    def pods(self) -> Path:
        return self.root / PODS_DIR

    def pod(self, namespace: str, name: str, uid: str) -> PodFiles:
        return PodFiles(self.pods / pod_key(namespace, name, uid))

    @property
    def serve(self) -> Path:
        return self.root / SERVE_DIR

    def serve_registration(self, pid: int) -> Path:
        return self.serve / f"{pid}.json"

    @property
    def volumes(self) -> Path:
        return self.root / VOLUMES_DIR
