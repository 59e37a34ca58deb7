"""`delete`: pods by name or by manifest, gracefully, or handed to a background process."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys

from kubeletlite.cli.commands.common import (
    POD,
    CommandError,
    load_manifests,
    not_found,
    runtime_client,
)
from kubeletlite.pods.agent import Agent
from kubeletlite.settings import DEFAULT_POD_LOGS_DIR, AgentOptions, AgentSettings
from kubeletlite.state import podinfo
from kubeletlite.state.store import StateStore


async def cmd_delete(args: argparse.Namespace) -> int:
    grace = grace_seconds(args)
    targets = await asyncio.to_thread(named_pods, args)
    if not args.wait:
        return await _delete_detached(args, targets, grace)
    settings = AgentSettings(
        args.runtime_endpoint,
        args.state_dir,
        DEFAULT_POD_LOGS_DIR,
        AgentOptions(container_events=False),
    )
    problems: list[str] = []
    async with Agent(settings) as agent:

        async def one(namespace: str, name: str) -> None:
            try:
                await agent.delete(namespace, name, grace)
            except LookupError:
                problems.append(
                    await not_found(agent.store, "pods", name, namespace, agent.runtime)
                )
                return
            print(f'pod "{name}" deleted')
            sys.stdout.flush()

        async with asyncio.TaskGroup() as group:
            for namespace, name in targets:
                group.create_task(one(namespace, name))
    if problems:
        raise CommandError("\n".join(problems))
    return 0


def grace_seconds(args: argparse.Namespace) -> int | None:
    if args.now and args.grace_period >= 0:
        raise CommandError("--now and --grace-period cannot be specified together")
    if args.now:
        return 1
    if args.force:
        if args.grace_period > 0:
            raise CommandError("--force with --grace-period above 0: leave one of them out")
        print(
            "Warning: Immediate deletion does not wait for preStop hooks or a grace period.",
            file=sys.stderr,
        )
        return 0
    return args.grace_period if args.grace_period >= 0 else None


def named_pods(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(namespace, name) of each pod named on the line or in the files of -f."""
    if args.filename and args.targets:
        raise CommandError("give either pod names or -f FILE, not both")
    if args.filename:
        return [(p.pod.namespace, p.pod.name) for p in load_manifests(args.filename)]
    words = list(args.targets)
    if not words:
        raise CommandError("name the pods to delete: delete pod NAME..., or delete -f FILE")
    names: list[str] = []
    if words[0] in POD:
        names = words[1:]
        if not names:
            raise CommandError("name the pods to delete: delete pod NAME...")
    else:
        for word in words:
            kind, slash, name = word.partition("/")
            if not slash or kind not in POD or not name:
                raise CommandError(
                    f'unknown resource "{word}": kubelet-lite deletes pods (pod NAME or pod/NAME)'
                )
            names.append(name)
    return [(args.namespace, name) for name in dict.fromkeys(names)]


async def _delete_detached(
    args: argparse.Namespace, targets: list[tuple[str, str]], grace: int | None
) -> int:
    """--wait=false: check the pods exist, hand each deletion to a process of its own."""
    problems: list[str] = []
    async with runtime_client(args) as runtime:
        store = StateStore(args.state_dir)
        live = {(p.namespace, p.name) for p in await podinfo.list_pods(runtime, store)}
    for namespace, name in targets:
        if (namespace, name) not in live:
            problems.append(await not_found(store, "pods", name, namespace))
            continue
        command = [
            sys.executable, "-m", "kubeletlite",
            "--runtime-endpoint", args.runtime_endpoint,
            "--state-dir", str(args.state_dir),
            "--log-level", args.log_level,
            "-n", namespace,
            "delete", "pod", name,
            "--grace-period", str(-1 if grace is None else grace),
        ]  # fmt: skip
        await asyncio.to_thread(_spawn_detached, command)
        print(f'pod "{name}" deleted')
    if problems:
        raise CommandError("\n".join(problems))
    return 0


def _spawn_detached(command: list[str]) -> None:
    """Its own session: it outlives this command and a Ctrl-C of the terminal."""
    subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
