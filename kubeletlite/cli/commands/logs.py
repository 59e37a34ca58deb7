"""`logs`: a container's log file, filtered (--since, --tail), followed (-f), prefixed."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite import kubetime
from kubeletlite.cli.commands.common import CommandError, not_found, pick_container, runtime_client
from kubeletlite.runtime.api import RuntimeAPI
from kubeletlite.runtime.client import RuntimeCallError
from kubeletlite.state import podinfo, podlogs
from kubeletlite.state.store import StateStore


async def cmd_logs(args: argparse.Namespace) -> int:
    since_ns = _since(args)
    if args.all_containers and args.container:
        raise CommandError("--all-containers and -c cannot be used together")
    async with runtime_client(args) as runtime:
        store = StateStore(args.state_dir)
        pod = await podinfo.find_pod(runtime, store, args.namespace, args.pod)
        if pod is None or not pod.sandbox_id:
            raise CommandError(await not_found(store, "pods", args.pod, args.namespace, runtime))
        containers = (
            pod.containers if args.all_containers else [pick_container(pod, args.container)]
        )
        prefix = args.prefix or args.all_containers
        sources = [_log_source(pod, c, args.previous) for c in containers]
        async with asyncio.TaskGroup() as group:
            for container, path in sources:
                label = f"[pod/{pod.name}/{container.name}] " if prefix else ""
                if args.follow:
                    group.create_task(
                        _follow(
                            runtime,
                            container=container,
                            path=path,
                            args=args,
                            since_ns=since_ns,
                            label=label,
                        )
                    )
                else:
                    lines, _end = await asyncio.to_thread(podlogs.read_complete, path)
                    for line in podlogs.select(lines, since_ns, args.tail):
                        _write(line, args.timestamps, label)
    return 0


def _log_source(
    pod: podinfo.PodInfo, container: podinfo.ContainerInfo, previous: bool
) -> tuple[podinfo.ContainerInfo, str]:
    target = container.previous if previous else container
    if target is None:
        raise CommandError(
            f'previous terminated container "{container.name}" in pod "{pod.name}" not found'
        )
    if not target.log_path:
        raise CommandError(f'container "{container.name}" in pod "{pod.name}" has no log yet')
    return target, target.log_path


def _since(args: argparse.Namespace) -> int:
    if args.since and args.since_time:
        raise CommandError("--since and --since-time cannot be used together")
    try:
        if args.since:
            return time.time_ns() - kubetime.parse_duration(args.since)
        if args.since_time:
            return kubetime.parse_rfc3339(args.since_time)
    except ValueError as exc:
        flag = "--since" if args.since else "--since-time"
        raise CommandError(f"{flag}: {exc}") from exc
    return 0


async def _follow(
    runtime: RuntimeAPI,
    *,
    container: podinfo.ContainerInfo,
    path: str,
    args: argparse.Namespace,
    since_ns: int,
    label: str,
) -> None:
    """What is there (filtered by --since and --tail), then each new line until it exits."""

    async def running() -> bool:
        try:
            status = await runtime.container_status(container.container_id)
        except RuntimeCallError:
            return False
        return status.state == cri.CONTAINER_RUNNING

    lines, end = await asyncio.to_thread(podlogs.read_complete, path)
    for line in podlogs.select(lines, since_ns, args.tail):
        _write(line, args.timestamps, label)
    async for line in podlogs.follow(path, running, offset=end):
        _write(line, args.timestamps, label)


def _write(line: podlogs.LogLine, timestamps: bool, label: str = "") -> None:
    prefix = label.encode() + (line.timestamp.encode() + b" " if timestamps else b"")
    sys.stdout.buffer.write(prefix + line.text + b"\n")
    sys.stdout.buffer.flush()
