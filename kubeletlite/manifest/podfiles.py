"""Manifest files → validated pods, each with the document it came from.

The document is stored with the pod's sandbox (``kubelet-lite.io/manifest``)
so that any later kubelet-lite process, even one that never saw the file,
can rebuild the exact pod: adopt it, describe it, run its preStop.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubeletlite import manifest as m

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Characters a YAML reader refuses or folds (C1 controls, NEL, the Unicode line and
# paragraph separators, the BOM) stay escaped; all others are written as they are,
# since a YAML reader decodes a JSON "\ud83d\ude80" pair as two lone surrogates.
_YAML_UNSAFE = re.compile(
    r"[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


@dataclass(frozen=True, slots=True)
class LoadedPod:
    pod: m.Pod
    manifest_json: str  # the user's document, UID pinned


def load_text(text: str, source: str) -> tuple[list[LoadedPod], list[str]]:
    """Validate every document (all errors at once: ManifestError) and pair pods with documents."""
    result = m.load_pods(text, source)
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(documents) != len(result.pods):
        raise AssertionError("every valid document yields exactly one pod")
    loaded = [
        LoadedPod(pod=pod, manifest_json=pinned_document(document, pod.uid))
        for pod, document in zip(result.pods, documents, strict=True)
    ]
    return loaded, list(result.warnings)


def load_file(path: Path) -> tuple[list[LoadedPod], list[str]]:
    """Blocking: read and load one manifest file."""
    return load_text(path.read_text(), str(path))


def pinned_document(document: dict[str, Any], uid: str) -> str:
    """The document as JSON with its UID set; loading it as YAML gives the same document."""
    pinned = json.loads(json.dumps(document, default=_json_value))
    pinned.setdefault("metadata", {})["uid"] = uid
    text = json.dumps(pinned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _json_value(value: object) -> object:
    """YAML's extra scalar types (an unquoted date in an ignored field, say), as JSON."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"cannot store {type(value).__name__} in a manifest")


def from_stored(manifest_json: str, source: str) -> LoadedPod:
    """Rebuild a pod from the manifest stored with its sandbox."""
    loaded, _ = load_text(manifest_json, source)
    return loaded[0]


def manifest_files(directory: Path) -> list[Path]:
    """The files a manifest directory holds, as the kubelet reads them (hidden ones skipped)."""
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and path.suffix in MANIFEST_SUFFIXES and not path.name.startswith(".")
    )
