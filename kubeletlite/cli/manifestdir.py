"""The manifest folder of a running `serve`: registered by serve, found and written by apply.

Each `serve` process leaves a file in the state directory (``statedir``) naming its folder and
holds an flock on it while it lives (the kernel drops the lock when it dies),
so `apply` finds the folders of live serves only. `apply` writes each pod of
a manifest as ``<namespace>_<name>.yaml`` (neither may contain ``_``), through
a hidden temporary file and a rename, so serve never reads half a file.
Blocking file I/O: async callers run these in a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from kubeletlite.manifest import ManifestError, podfiles
from kubeletlite.state.records import ServeRegistration
from kubeletlite.state.statedir import StateLayout


class ApplyError(Exception):
    """Why a manifest cannot be applied; one line."""


@dataclass(frozen=True, slots=True)
class Applied:
    namespace: str
    name: str
    path: Path
    outcome: str  # created | configured | unchanged


@contextlib.contextmanager
def registered(state_dir: Path, manifest_dir: Path) -> Iterator[None]:
    """Register this process as the serve of ``manifest_dir`` while the block runs."""
    layout = StateLayout(state_dir)
    layout.serve.mkdir(parents=True, exist_ok=True)
    path = layout.serve_registration(os.getpid())
    handle: TextIO = open(path, "w")  # noqa: SIM115 (held open: the lock lives with it)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        registration = ServeRegistration(str(manifest_dir.resolve()), os.getpid())
        handle.write(json.dumps(registration.to_json()))
        handle.flush()
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        handle.close()


def live_manifest_dirs(state_dir: Path) -> list[Path]:
    """The folders of the serves running on this state directory."""
    folders: set[Path] = set()
    for path in sorted(StateLayout(state_dir).serve.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            if not _held(path):
                continue
            data = json.loads(path.read_text())
            registration = ServeRegistration.from_json(data if isinstance(data, dict) else {})
            if registration.manifest_dir:
                folders.add(Path(registration.manifest_dir))
    return sorted(folders)


def _held(path: Path) -> bool:
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    # Nobody holds it: a serve that died without cleaning up.
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return False


def manifest_dir(state_dir: Path) -> Path:
    found = live_manifest_dirs(state_dir)
    if not found:
        raise ApplyError(
            f"no kubeletlite serve is running with state directory {state_dir}: start one with "
            f"'kubeletlite --state-dir {state_dir} serve --manifest-dir DIR', or copy the file "
            "into its manifest directory"
        )
    if len(found) > 1:
        listed = ", ".join(str(f) for f in found)
        raise ApplyError(f"several serves run on {state_dir} ({listed}): copy the file into one")
    return found[0]


def apply(text: str, source: str, directory: Path) -> list[Applied]:
    """Validate every pod of ``text`` (ManifestError), then write each into ``directory``."""
    loaded, _warnings = podfiles.load_text(text, source)
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    owners = _owners(directory)
    results = []
    for item, document in zip(loaded, documents, strict=True):
        pod = item.pod
        target = directory / f"{pod.namespace}_{pod.name}.yaml"
        owner = owners.get((pod.namespace, pod.name))
        if owner is not None and owner != target:
            raise ApplyError(
                f"pod {pod.namespace}/{pod.name} is defined in {owner}: edit that file instead"
            )
        results.append(_write(pod.namespace, pod.name, target, document))
    return results


def _owners(directory: Path) -> dict[tuple[str, str], Path]:
    """Which file of the folder defines each pod (files that do not load are skipped)."""
    owners: dict[tuple[str, str], Path] = {}
    for path in podfiles.manifest_files(directory):
        with contextlib.suppress(ManifestError, OSError, ValueError):
            for item in podfiles.load_file(path)[0]:
                owners[(item.pod.namespace, item.pod.name)] = path
    return owners


def _write(namespace: str, name: str, target: Path, document: dict[str, Any]) -> Applied:
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    try:
        before: str | None = target.read_text()
    except FileNotFoundError:
        before = None
    if before == body:
        return Applied(namespace, name, target, "unchanged")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(body)
    os.replace(temporary, target)
    return Applied(namespace, name, target, "created" if before is None else "configured")
