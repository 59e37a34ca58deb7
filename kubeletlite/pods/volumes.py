"""Host directories behind a pod's volumes, and termination-message files.

Blocking file-system work: callers run these functions in a thread.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from kubeletlite import manifest as m
from kubeletlite.state import statedir

# emptyDir with medium Memory lives on the node's shared-memory tmpfs.
MEMORY_ROOT = Path("/dev/shm/kubelet-lite")


class VolumeError(Exception):
    """A volume cannot be set up (kubelet event reason: FailedMount)."""


def prepare(pod: m.Pod, pods_root: str) -> dict[str, str]:
    """Make every volume's host path ready; return volume name → host path."""
    paths = {}
    for volume in pod.spec.volumes:
        match volume.source:
            case m.HostPathVolume(path=path, type=kind):
                _check_host_path(volume.name, path, kind)
                paths[volume.name] = path
            case m.EmptyDirVolume(medium=medium):
                root = MEMORY_ROOT if medium == "Memory" else Path(pods_root)
                directory = statedir.pod_volumes(root, pod.uid).empty_dir(volume.name)
                directory.mkdir(parents=True, exist_ok=True)
                directory.chmod(0o777)  # as the kubelet: writable by any user in the pod
                paths[volume.name] = str(directory)
    return paths


def termination_log_path(pod_uid: str, container: str, attempt: int, pods_root: str) -> Path:
    """Where one container attempt's termination message is kept on the host."""
    return statedir.pod_volumes(pods_root, pod_uid).termination_log(container, attempt)


def termination_log(pod: m.Pod, container: m.Container, attempt: int, pods_root: str) -> str:
    """A fresh, world-writable file for the container's termination message."""
    path = termination_log_path(pod.uid, container.name, attempt, pods_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    path.chmod(0o666)
    return str(path)


def read_termination_message(path: Path, limit: int = 4096) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def remove_pod_directories(pod_uid: str, pods_root: str, pod_log_directory: str) -> None:
    volumes = (statedir.pod_volumes(root, pod_uid).directory for root in (pods_root, MEMORY_ROOT))
    for directory in (*volumes, Path(pod_log_directory)):
        shutil.rmtree(directory, ignore_errors=True)


def _check_host_path(name: str, path: str, kind: str) -> None:
    """Apply the hostPath ``type`` rules before any container mounts it."""
    target = Path(path)
    match kind:
        case "DirectoryOrCreate":
            target.mkdir(mode=0o755, parents=True, exist_ok=True)
        case "FileOrCreate":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch(mode=0o644, exist_ok=True)
        case "Directory":
            _expect(name, path, target.is_dir(), "a directory")
        case "File":
            _expect(name, path, target.is_file(), "a file")
        case "Socket":
            _expect(name, path, _mode_is(target, stat.S_ISSOCK), "a socket")
        case "CharDevice":
            _expect(name, path, _mode_is(target, stat.S_ISCHR), "a character device")
        case "BlockDevice":
            _expect(name, path, _mode_is(target, stat.S_ISBLK), "a block device")
        case _:
            # "" : no check; the runtime creates a missing directory.
            pass


def _mode_is(target: Path, predicate: object) -> bool:
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    return bool(predicate(mode))  # type: ignore[operator]


def _expect(name: str, path: str, ok: bool, what: str) -> None:
    if not ok:
        raise VolumeError(f'volume "{name}": hostPath {path} is not {what}')
