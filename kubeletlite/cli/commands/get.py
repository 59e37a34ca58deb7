"""`get pods` and `get events`: tables, v1 documents, names; -w polls for changes."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from kubeletlite import kubetime
from kubeletlite.cli import podobject, selector, views
from kubeletlite.cli.commands.common import (
    EVENTS,
    POD,
    WATCH_PERIOD,
    CommandError,
    dump,
    not_found,
    runtime_client,
)
from kubeletlite.state import podinfo
from kubeletlite.state.store import Event, StateStore


async def cmd_get(args: argparse.Namespace) -> int:
    if args.resource in EVENTS:
        return await _get_events(args)
    if args.for_object:
        raise CommandError("--for applies to events: kubeletlite get events --for pod/NAME")
    matches = _selector(args.selector)
    node = socket.gethostname()

    async with runtime_client(args) as runtime:
        store = StateStore(args.state_dir)

        async def listing() -> list[podinfo.PodInfo]:
            only = None if args.all_namespaces else args.namespace
            pods = await podinfo.list_pods(runtime, store, only)
            return [
                p
                for p in pods
                if (not args.names or p.name in args.names) and matches(podobject.labels(p))
            ]

        pods = await listing()
        missing = [n for n in args.names if n not in {p.name for p in pods}]
        _print_pods(args, pods, node, header=True)
        if not pods and not args.names and not args.watch:
            where = "any" if args.all_namespaces else args.namespace
            print(f"No resources found in {where} namespace.", file=sys.stderr)
        if missing:
            lines = [await not_found(store, "pods", n, args.namespace, runtime) for n in missing]
            raise CommandError("\n".join(lines))
        if args.watch:
            await _watch_pods(args, listing, pods, node)
    return 0


def _selector(text: str | None) -> selector.Requirement:
    if not text:
        return lambda _labels: True
    try:
        return selector.parse(text)
    except selector.SelectorError as exc:
        raise CommandError(f"-l: {exc}") from exc


def _print_pods(
    args: argparse.Namespace, pods: list[podinfo.PodInfo], node: str, header: bool
) -> None:
    single = len(args.names) == 1 and len(pods) == 1 and not args.watch
    match args.output:
        case "json" | "yaml":
            if single:
                document = podobject.pod_object(pods[0], node)
            elif header:
                document = podobject.pod_list(pods, node)
            else:
                for pod in pods:
                    dump(podobject.pod_object(pod, node), args.output)
                return
            dump(document, args.output)
        case "name":
            for pod in pods:
                print(f"pod/{pod.name}")
        case _:
            if pods:
                print(
                    views.pods_table(
                        pods,
                        time.time_ns(),
                        args.all_namespaces,
                        wide=args.output == "wide",
                        show_labels=args.show_labels,
                        node=node,
                        header=header,
                    )
                )
    sys.stdout.flush()


async def _watch_pods(
    args: argparse.Namespace,
    listing: Callable[[], Coroutine[Any, Any, list[podinfo.PodInfo]]],
    pods: list[podinfo.PodInfo],
    node: str,
) -> None:
    """Print a pod again whenever what the output shows of it changes, until interrupted."""

    def shown(pod: podinfo.PodInfo) -> str:
        if args.output in ("json", "yaml"):
            return json.dumps(podobject.pod_object(pod, node), sort_keys=True)
        row = views.pod_row(pod, 0, args.all_namespaces, show_labels=args.show_labels)
        return "\x00".join(row[:-1] if not args.all_namespaces else row)

    seen = {p.uid: p for p in pods}
    last = {p.uid: shown(p) for p in pods}
    while True:
        await asyncio.sleep(WATCH_PERIOD)
        current = await listing()
        changed = [p for p in current if last.get(p.uid) != shown(p)]
        # A pod gone is printed once more as it was last seen, terminating (as kubectl
        # prints the object of a DELETED watch event).
        uids = {p.uid for p in current}
        gone = [
            dataclasses.replace(p, terminating=True) for p in seen.values() if p.uid not in uids
        ]
        seen = {p.uid: p for p in current}
        last = {p.uid: shown(p) for p in current}
        if changed or gone:
            _print_pods(args, changed + gone, node, header=False)


async def _get_events(args: argparse.Namespace) -> int:
    if args.names or args.selector or args.show_labels or args.output not in (None, "json", "yaml"):
        raise CommandError("get events takes -n, -A, --for pod/NAME, -w and -o json|yaml")
    only = _for_pod(args.for_object) if args.for_object else None
    store = StateStore(args.state_dir)

    def collect() -> list[tuple[str, str, str, Event]]:
        rows = []
        for record in store.records():
            meta = record.meta()
            if meta is None:
                continue
            namespace, name = meta.namespace, meta.name
            if not args.all_namespaces and namespace != args.namespace:
                continue
            if only is not None and name != only:
                continue
            rows += [(namespace, name, meta.uid, e) for e in record.events()]
        return sorted(rows, key=lambda row: row[3].time_ns)

    rows = await asyncio.to_thread(collect)
    if not rows and not args.watch and args.output is None:
        where = "any" if args.all_namespaces else args.namespace
        print(f"No resources found in {where} namespace.", file=sys.stderr)
    _print_events(args, rows, header=True)
    seen = {_event_key(row) for row in rows}
    while args.watch:
        await asyncio.sleep(WATCH_PERIOD)
        fresh = [row for row in await asyncio.to_thread(collect) if _event_key(row) not in seen]
        seen.update(_event_key(row) for row in fresh)
        _print_events(args, fresh, header=False)
    return 0


def _event_key(row: tuple[str, str, str, Event]) -> tuple[str, int, str]:
    return row[2], row[3].time_ns, row[3].reason


def _print_events(
    args: argparse.Namespace, rows: list[tuple[str, str, str, Event]], header: bool
) -> None:
    if args.output is not None:
        documents = [_event_object(*row) for row in rows]
        if header and not args.watch:
            dump(
                {
                    "apiVersion": "v1",
                    "items": documents,
                    "kind": "List",
                    "metadata": {"resourceVersion": ""},
                },
                args.output,
            )
        else:
            for document in documents:
                dump(document, args.output)
    elif rows:
        table = [(namespace, name, event) for namespace, name, _uid, event in rows]
        print(views.events_table(table, time.time_ns(), args.all_namespaces, header=header))
    sys.stdout.flush()


def _event_object(namespace: str, pod: str, uid: str, event: Event) -> dict[str, Any]:
    """A v1.Event as the kubelet would post it."""
    involved: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod,
        "namespace": namespace,
        "uid": uid,
    }
    if event.container:
        involved["fieldPath"] = f"spec.containers{{{event.container}}}"
    when = kubetime.rfc3339(event.time_ns)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{pod}.{event.time_ns:x}",
            "namespace": namespace,
            "creationTimestamp": when,
        },
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "type": event.type,
        "count": 1,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "source": {"component": "kubelet-lite", "host": socket.gethostname()},
    }


def _for_pod(text: str) -> str:
    kind, _, name = text.partition("/")
    if kind not in POD or not name:
        raise CommandError(f"--for {text}: use pod/NAME")
    return name
