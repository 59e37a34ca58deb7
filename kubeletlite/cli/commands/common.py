"""What the commands share: the one-line error, finding pods, reading manifests, output."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubeletlite.manifest import ManifestError
from kubeletlite.manifest.podfiles import LoadedPod, load_file, load_text
from kubeletlite.runtime import podconfig
from kubeletlite.runtime.api import RuntimeAPI
from kubeletlite.runtime.client import RuntimeClient
from kubeletlite.state import podinfo
from kubeletlite.state.store import StateStore

POD = ("pods", "pod", "po")
EVENTS = ("events", "event", "ev")
WATCH_PERIOD = 1.0  # seconds between reads of -w (bounded polling of runtime and state dir)


class CommandError(Exception):
    """A user-facing failure; the message is printed as is."""


@contextlib.asynccontextmanager
async def runtime_client(args: argparse.Namespace) -> AsyncIterator[RuntimeClient]:
    async with RuntimeClient(args.runtime_endpoint) as runtime:
        yield runtime


async def not_found(
    store: StateStore,
    kind: str,
    name: str,
    namespace: str,
    runtime: RuntimeAPI | None = None,
) -> str:
    """kubectl's not-found line, plus where a pod of that name does exist (in the runtime,
    or in the state directory's records of live pods)."""
    found = set(await asyncio.to_thread(_namespaces_with, store, name, namespace))
    if runtime is not None:
        sandboxes = await runtime.list_pod_sandboxes(
            {podconfig.MANAGED: "true", podconfig.POD_NAME: name}
        )
        found |= {s.metadata.namespace for s in sandboxes if s.metadata.namespace != namespace}
    elsewhere = sorted(found)
    message = f'{kind} "{name}" not found in namespace "{namespace}"'
    if elsewhere:
        quoted = ", ".join(f'"{n}"' for n in elsewhere)
        return f"{message}; it exists in namespace {quoted} (add -n {elsewhere[0]})"
    return message


def _namespaces_with(store: StateStore, name: str, namespace: str) -> list[str]:
    found = set()
    for record in store.records():
        meta = record.meta()
        if meta is None or meta.name != name or meta.namespace == namespace:
            continue
        if not meta.deleted_ns:
            found.add(meta.namespace)
    return sorted(found)


def load_manifests(filenames: Sequence[str]) -> list[LoadedPod]:
    pods: list[LoadedPod] = []
    problems: list[str] = []
    for name in filenames:
        try:
            loaded, warnings = (
                load_text(sys.stdin.read(), "<stdin>") if name == "-" else load_file(Path(name))
            )
        except ManifestError as exc:
            problems.extend(str(exc).splitlines())
            continue
        except OSError as exc:
            problems.append(f"{name}: {exc.strerror}")
            continue
        for warning in warnings:
            print(f"Warning: {warning}", file=sys.stderr)
        pods.extend(loaded)
    if problems:
        raise CommandError("\n".join(problems))
    return pods


def read_text(name: str) -> str:
    return sys.stdin.read() if name == "-" else Path(name).read_text()


def dump(document: dict[str, Any], output: str) -> None:
    if output == "json":
        print(json.dumps(document, indent=4))
    else:
        print(yaml.safe_dump(document, sort_keys=True, default_flow_style=False), end="")


def pick_container(pod: podinfo.PodInfo, name: str | None) -> podinfo.ContainerInfo:
    names = [c.name for c in pod.containers]
    if name is None:
        if len(pod.containers) != 1:
            raise CommandError(
                f"a container name must be specified for pod {pod.name}, "
                f"choose one of: [{' '.join(names)}]"
            )
        return pod.containers[0]
    for container in pod.containers:
        if container.name == name:
            return container
    raise CommandError(
        f"container {name} is not valid for pod {pod.name}; choose one of: [{' '.join(names)}]"
    )
