"""kubelet-lite's command line, in kubectl's idiom.

    kubeletlite run -f pod.yaml             supervise in the foreground until the pods complete
    kubeletlite serve --manifest-dir DIR    static pods from a directory
    kubeletlite apply -f pod.yaml           hand a manifest to the running serve
    kubeletlite get pods [NAME...] [-o wide|json|yaml|name] [-w] [-l SELECTOR]
    kubeletlite get events [--for pod/NAME] [-w]
    kubeletlite describe pod NAME
    kubeletlite logs POD [-c CONTAINER] [-p] [--tail N] [--since 5m] [-f]
    kubeletlite delete pod NAME... | -f FILE [--grace-period N] [--now] [--force] [--wait=false]
    kubeletlite timeline POD [-o text|svg|html]
    kubeletlite completion bash|zsh

Global flags (--runtime-endpoint, --state-dir, --log-level, --log-format,
-n) go before or after the command. A command is registered in
build_parser (its parser gets the global flags by itself) and in COMMANDS.

Failures print one line, `error: ...` (a manifest with several problems
prints one line per problem), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from criapi.runtime.v1 import api_pb2 as cri
from cricommon import logsetup, metrics
from kubeletlite import (
    __version__,
    cliflags,
    completion,
    criconfig,
    kubetime,
    manifestdir,
    podinfo,
    podlogs,
    podobject,
    selector,
    timeline,
    timeline_svg,
    views,
)
from kubeletlite.agent import Agent, AgentSettings
from kubeletlite.cri import RuntimeCallError, RuntimeClient
from kubeletlite.loader import LoadedPod, load_file, load_text
from kubeletlite.manifest import ManifestError
from kubeletlite.node import DEFAULT_POD_LOGS_DIR, AgentOptions
from kubeletlite.pullprogress import PullProgress
from kubeletlite.recorder import AlreadySupervised
from kubeletlite.store import Event, StateStore

EXIT_FAILED = 1
EXIT_USAGE = 2
WATCH_PERIOD = 1.0  # seconds between reads of -w (bounded polling of runtime and state dir)
POD = ("pods", "pod", "po")
EVENTS = ("events", "event", "ev")


class CommandError(Exception):
    """A user-facing failure; the message is printed as is."""


class CommandParser(argparse.ArgumentParser):
    """A command's parser: it takes the global flags too, as kubectl does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cliflags.add_global(self, None)


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    defaults = cliflags.defaults(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(
        prog="kubeletlite",
        description="Run Kubernetes Pod manifests through a CRI runtime, as the kubelet does.",
    )
    parser.add_argument("--version", action="version", version=f"kubeletlite {__version__}")
    cliflags.add_global(parser, defaults)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )

    run = commands.add_parser(
        "run", help="start pods from manifests and supervise them until they complete"
    )
    _filename(run, "manifest file ('-' for stdin); repeatable", required=True)
    _agent_options(run)

    serve = commands.add_parser(
        "serve", help="keep the pods of a manifest directory running (static pods)"
    )
    completion.attach(
        serve.add_argument(
            "--manifest-dir", required=True, type=Path, help="directory of Pod manifests"
        ),
        completion.DIRECTORY,
    )
    _agent_options(serve)

    apply = commands.add_parser(
        "apply", help="hand a manifest to the running serve (written into its manifest directory)"
    )
    _filename(apply, "manifest file ('-' for stdin); repeatable", required=True)

    get = commands.add_parser("get", help="list pods or events")
    get.add_argument("resource", choices=POD + EVENTS, metavar="{pods,events}")
    completion.attach(
        get.add_argument("names", nargs="*", metavar="NAME", help="only these pods"),
        completion.PODS,
    )
    get.add_argument(
        "-o",
        "--output",
        choices=("wide", "json", "yaml", "name"),
        help="output format (default: a table)",
    )
    get.add_argument(
        "-w", "--watch", action="store_true", help="after listing, print changes until interrupted"
    )
    get.add_argument("-l", "--selector", help="label selector, e.g. app=web,tier!=db")
    get.add_argument("--show-labels", action="store_true", help="add a LABELS column")
    get.add_argument(
        "--for", dest="for_object", metavar="pod/NAME", help="events: only those of this pod"
    )
    _namespace(get, all_namespaces=True)

    describe = commands.add_parser(
        "describe", help="show a pod's containers, hook timeline and events"
    )
    describe.add_argument("resource", choices=POD, metavar="pod")
    completion.attach(describe.add_argument("name"), completion.PODS)

    _logs_parser(commands)

    delete = commands.add_parser("delete", help="delete pods gracefully (preStop, then stop)")
    completion.attach(
        delete.add_argument(
            "targets", nargs="*", metavar="pod NAME", help="pod NAME..., or pod/NAME..."
        ),
        completion.PODS,
    )
    _filename(delete, "delete the pods of this manifest file; repeatable", required=False)
    delete.add_argument(
        "--grace-period",
        type=int,
        default=-1,
        help="seconds instead of the pod's terminationGracePeriodSeconds (negative: the pod's)",
    )
    delete.add_argument(
        "--now", action="store_true", help="signal for immediate shutdown (--grace-period=1)"
    )
    delete.add_argument(
        "--force", action="store_true", help="do not wait for a grace period (--grace-period=0)"
    )
    delete.add_argument(
        "--wait",
        type=_boolean,
        nargs="?",
        const=True,
        default=True,
        metavar="true|false",
        help="wait until the pods are gone (default true; --wait=false returns at once)",
    )

    show = commands.add_parser(
        "timeline", help="draw each container's life (hooks, stop, grace period) on one time axis"
    )
    completion.attach(show.add_argument("pod"), completion.PODS)
    show.add_argument(
        "-o",
        "--output",
        choices=("text", "svg", "html"),
        default="text",
        help="a terminal chart (80 columns), or a self-contained SVG or HTML page",
    )

    shells = commands.add_parser("completion", help="print a shell completion script")
    shells.add_argument("shell", choices=completion.SHELLS)
    return parser


def _logs_parser(commands: Any) -> None:
    logs = commands.add_parser("logs", help="print a container's log")
    completion.attach(logs.add_argument("pod"), completion.PODS)
    completion.attach(
        logs.add_argument(
            "-c", "--container", help="container name (needed when the pod has several)"
        ),
        completion.CONTAINERS,
    )
    logs.add_argument(
        "-p",
        "--previous",
        action="store_true",
        help="the log of the container's previous instance (before its last restart)",
    )
    logs.add_argument("--tail", type=int, default=-1, help="only the last N lines (-1: all)")
    logs.add_argument("--since", help="only lines newer than this duration, e.g. 5s, 2m, 1h")
    logs.add_argument("--since-time", help="only lines at or after this RFC 3339 time")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the container exits"
    )
    logs.add_argument(
        "--timestamps", action="store_true", help="prefix each line with when it was written"
    )
    logs.add_argument("--all-containers", action="store_true", help="every container's log")
    logs.add_argument(
        "--prefix",
        action="store_true",
        help="prefix each line with [pod/NAME/CONTAINER] (default with --all-containers)",
    )


def _filename(parser: argparse.ArgumentParser, text: str, required: bool) -> None:
    completion.attach(
        parser.add_argument(
            "-f",
            "--filename",
            action="append",
            required=required,
            default=[],
            metavar="FILE",
            help=text,
        ),
        completion.FILE,
    )


def _boolean(text: str) -> bool:
    """kubectl's --flag=true|false."""
    if text.lower() in ("true", "t", "1"):
        return True
    if text.lower() in ("false", "f", "0"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


def _agent_options(parser: argparse.ArgumentParser) -> None:
    defaults = AgentOptions()
    parser.add_argument(
        "--pod-logs-dir",
        default=os.environ.get("KUBELETLITE_POD_LOGS_DIR", DEFAULT_POD_LOGS_DIR),
        help="root of container log files [env KUBELETLITE_POD_LOGS_DIR; default %(default)s]",
    )
    parser.add_argument(
        "--parallel-start",
        action="store_true",
        help="start every container at once instead of waiting for the previous postStart",
    )
    parser.add_argument(
        "--hook-timeout",
        type=float,
        default=0.0,
        help="fail a hook running longer than this many seconds (default 0: never, as the kubelet)",
    )
    parser.add_argument(
        "--hook-warn-after",
        type=float,
        default=defaults.hook_warn_after,
        help="record a HookStillRunning event after this many seconds (default %(default)s)",
    )
    parser.add_argument(
        "--relist-period",
        type=float,
        default=defaults.relist_period,
        help="seconds between reads of the runtime's state (default %(default)s)",
    )
    parser.add_argument(
        "--backoff-initial",
        type=float,
        default=defaults.backoff_initial,
        help="first crash-loop back-off in seconds (default %(default)s)",
    )
    parser.add_argument(
        "--backoff-max",
        type=float,
        default=defaults.backoff_max,
        help="longest crash-loop back-off in seconds (default %(default)s)",
    )
    parser.add_argument(
        "--metrics-address",
        default=os.environ.get("KUBELETLITE_METRICS_ADDRESS", ""),
        help="serve Prometheus metrics on HOST:PORT, loopback only "
        "[env KUBELETLITE_METRICS_ADDRESS]",
    )


def _namespace(parser: argparse.ArgumentParser, all_namespaces: bool = False) -> None:
    """-n is a global flag every command has; this adds -A to the commands that list."""
    if all_namespaces:
        parser.add_argument(
            "-A", "--all-namespaces", action="store_true", help="pods of every namespace"
        )


# -- commands ------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> AgentSettings:
    for name in ("relist_period", "hook_warn_after", "backoff_initial", "backoff_max"):
        if getattr(args, name) <= 0:
            raise CommandError(f"--{name.replace('_', '-')} must be positive")
    options = AgentOptions(
        relist_period=args.relist_period,
        hook_timeout=args.hook_timeout or None,
        hook_warn_after=args.hook_warn_after,
        parallel_start=args.parallel_start,
        backoff_initial=args.backoff_initial,
        backoff_max=args.backoff_max,
    )
    return AgentSettings(args.runtime_endpoint, args.state_dir, args.pod_logs_dir, options)


@contextlib.asynccontextmanager
async def _node_agent(args: argparse.Namespace) -> AsyncIterator[Agent]:
    """The agent of `run` and `serve`: metrics listener up, runtime checked."""
    with _metrics(args.metrics_address):
        async with Agent(_settings(args)) as agent:
            await _check_runtime(agent.runtime)
            yield agent


async def cmd_run(args: argparse.Namespace) -> int:
    pods = await asyncio.to_thread(_load, args.filename)
    stop = _stop_on_signals()
    async with _node_agent(args) as agent, _pull_progress(agent.store, pods):
        phases = await agent.run_pods(pods, stop)
    for name, phase in phases.items():
        print(f"pod/{name} {phase}")
    return 0 if all(phase == "Succeeded" for phase in phases.values()) else EXIT_FAILED


async def cmd_serve(args: argparse.Namespace) -> int:
    if not args.manifest_dir.is_dir():
        raise CommandError(f"--manifest-dir {args.manifest_dir}: not a directory")
    stop = _stop_on_signals()
    async with _node_agent(args) as agent:
        with manifestdir.registered(args.state_dir, args.manifest_dir):
            await agent.serve(args.manifest_dir, stop)
    return 0


async def cmd_apply(args: argparse.Namespace) -> int:
    directory = await asyncio.to_thread(manifestdir.manifest_dir, args.state_dir)
    results: list[manifestdir.Applied] = []
    problems: list[str] = []
    for name in args.filename:
        try:
            text = await asyncio.to_thread(_read_text, name)
            results += await asyncio.to_thread(manifestdir.apply, text, name, directory)
        except ManifestError as exc:
            problems.extend(str(exc).splitlines())
        except OSError as exc:
            problems.append(f"{name}: {exc.strerror}")
        except manifestdir.ApplyError as exc:
            problems.append(str(exc))
    for applied in results:
        print(f"pod/{applied.name} {applied.outcome}")
    if problems:
        raise CommandError("\n".join(problems))
    return 0


async def cmd_get(args: argparse.Namespace) -> int:
    if args.resource in EVENTS:
        return await _get_events(args)
    if args.for_object:
        raise CommandError("--for applies to events: kubeletlite get events --for pod/NAME")
    matches = _selector(args.selector)
    node = socket.gethostname()

    async with _runtime(args) as runtime:
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
            lines = [await _not_found(store, "pods", n, args.namespace, runtime) for n in missing]
            raise CommandError("\n".join(lines))
        if args.watch:
            await _watch_pods(args, listing, pods, node)
    return 0


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
                    _dump(podobject.pod_object(pod, node), args.output)
                return
            _dump(document, args.output)
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


def _dump(document: dict[str, Any], output: str) -> None:
    if output == "json":
        print(json.dumps(document, indent=4))
    else:
        print(yaml.safe_dump(document, sort_keys=True, default_flow_style=False), end="")


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
            namespace, name = meta.get("namespace", ""), meta.get("name", "")
            if not args.all_namespaces and namespace != args.namespace:
                continue
            if only is not None and name != only:
                continue
            rows += [(namespace, name, str(meta.get("uid", "")), e) for e in record.events()]
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
            _dump(
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
                _dump(document, args.output)
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


async def cmd_describe(args: argparse.Namespace) -> int:
    async with _runtime(args) as runtime:
        store = StateStore(args.state_dir)
        pod = await podinfo.find_pod(runtime, store, args.namespace, args.name)
        if pod is None:
            raise CommandError(await _not_found(store, "pods", args.name, args.namespace, runtime))
    print(views.describe(pod, time.time_ns()))
    return 0


async def cmd_timeline(args: argparse.Namespace) -> int:
    """From the state directory alone: works after the pod, or the runtime, is gone."""
    store = StateStore(args.state_dir)
    records = await asyncio.to_thread(store.find, args.namespace, args.pod)
    if not records:
        raise CommandError(await _not_found(store, "pods", args.pod, args.namespace))
    record = records[0]
    marks, meta = await asyncio.to_thread(lambda: (record.marks(), record.meta()))
    # A pod still supervised has bars still open: they end now. A deleted one's end where
    # its marks end.
    now = time.time_ns() if not meta.get("deleted_ns") else 0
    chart = timeline.build(f"pod {args.namespace}/{args.pod}", marks, now)
    match args.output:
        case "svg":
            print(timeline_svg.render_svg(chart))
        case "html":
            print(timeline_svg.render_html(chart), end="")
        case _:
            print(timeline.render_text(chart))
    return 0


async def cmd_completion(args: argparse.Namespace) -> int:
    print(completion.script(build_parser(), args.shell))
    return 0


async def cmd_logs(args: argparse.Namespace) -> int:
    since_ns = _since(args)
    if args.all_containers and args.container:
        raise CommandError("--all-containers and -c cannot be used together")
    async with _runtime(args) as runtime:
        store = StateStore(args.state_dir)
        pod = await podinfo.find_pod(runtime, store, args.namespace, args.pod)
        if pod is None or not pod.sandbox_id:
            raise CommandError(await _not_found(store, "pods", args.pod, args.namespace, runtime))
        containers = (
            pod.containers if args.all_containers else [_pick_container(pod, args.container)]
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


async def cmd_delete(args: argparse.Namespace) -> int:
    grace = _grace(args)
    targets = await asyncio.to_thread(_delete_targets, args)
    if not args.wait:
        return await _delete_detached(args, targets, grace)
    settings = AgentSettings(
        args.runtime_endpoint, args.state_dir, DEFAULT_POD_LOGS_DIR, AgentOptions()
    )
    problems: list[str] = []
    async with Agent(settings) as agent:

        async def one(namespace: str, name: str) -> None:
            try:
                await agent.delete(namespace, name, grace)
            except LookupError:
                problems.append(
                    await _not_found(agent.store, "pods", name, namespace, agent.runtime)
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


def _grace(args: argparse.Namespace) -> int | None:
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


def _delete_targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(namespace, name) of each pod named on the line or in the files of -f."""
    if args.filename and args.targets:
        raise CommandError("give either pod names or -f FILE, not both")
    if args.filename:
        return [(p.pod.namespace, p.pod.name) for p in _load(args.filename)]
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
    async with _runtime(args) as runtime:
        store = StateStore(args.state_dir)
        live = {(p.namespace, p.name) for p in await podinfo.list_pods(runtime, store)}
    for namespace, name in targets:
        if (namespace, name) not in live:
            problems.append(await _not_found(store, "pods", name, namespace))
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


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "run": cmd_run,
    "serve": cmd_serve,
    "apply": cmd_apply,
    "get": cmd_get,
    "describe": cmd_describe,
    "logs": cmd_logs,
    "delete": cmd_delete,
    "timeline": cmd_timeline,
    "completion": cmd_completion,
}


# -- helpers ---------------------------------------------------------------------------


def _load(filenames: Sequence[str]) -> list[LoadedPod]:
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


def _read_text(name: str) -> str:
    return sys.stdin.read() if name == "-" else Path(name).read_text()


def _selector(text: str | None) -> selector.Requirement:
    if not text:
        return lambda _labels: True
    try:
        return selector.parse(text)
    except selector.SelectorError as exc:
        raise CommandError(f"-l: {exc}") from exc


@contextlib.asynccontextmanager
async def _runtime(args: argparse.Namespace) -> AsyncIterator[RuntimeClient]:
    async with RuntimeClient(args.runtime_endpoint) as runtime:
        yield runtime


async def _not_found(
    store: StateStore,
    kind: str,
    name: str,
    namespace: str,
    runtime: RuntimeClient | None = None,
) -> str:
    """kubectl's not-found line, plus where a pod of that name does exist (in the runtime,
    or in the state directory's records of live pods)."""
    found = set(await asyncio.to_thread(_namespaces_with, store, name, namespace))
    if runtime is not None:
        sandboxes = await runtime.list_pod_sandboxes(
            {criconfig.MANAGED: "true", criconfig.POD_NAME: name}
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
        other = meta.get("name") == name and meta.get("namespace") != namespace
        if other and not meta.get("deleted_ns"):
            found.add(str(meta.get("namespace")))
    return sorted(found)


async def _check_runtime(runtime: RuntimeClient) -> None:
    version = await runtime.version()
    print(
        f"runtime: {version.runtime_name} {version.runtime_version} via cri-shim {version.version} "
        f"at {runtime.endpoint}",
        file=sys.stderr,
    )


@contextlib.asynccontextmanager
async def _pull_progress(store: StateStore, pods: list[LoadedPod]) -> AsyncIterator[None]:
    records = {
        f"{p.pod.namespace}/{p.pod.name}": store.pod(p.pod.namespace, p.pod.name, p.pod.uid)
        for p in pods
    }
    progress = PullProgress(records, sys.stderr, sys.stderr.isatty())
    task = asyncio.create_task(progress.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _stop_on_signals() -> asyncio.Event:
    """SIGINT/SIGTERM set the returned event: pods are then terminated gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


@contextlib.contextmanager
def _metrics(address: str) -> Iterator[None]:
    if not address:
        yield
        return
    try:
        server, _thread = metrics.serve(address)
    except (ValueError, OSError) as exc:
        raise CommandError(f"--metrics-address {address}: {exc}") from exc
    try:
        yield
    finally:
        server.shutdown()


def _pick_container(pod: podinfo.PodInfo, name: str | None) -> podinfo.ContainerInfo:
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


async def _follow(
    runtime: RuntimeClient,
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


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == [completion.HELPER]:
        return completion.helper(arguments[1:])
    try:
        parser = build_parser()
    except cliflags.FlagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(arguments)
    try:
        cliflags.finish(args)
    except cliflags.FlagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logsetup.configure(args.log_level, args.log_format)
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `kubeletlite get pods -w | head`: the reader left; nothing to report.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        # What a pod worker raises comes wrapped by its TaskGroup: report it the same way.
        while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        lines = _error_lines(exc, args)
        if lines is None:
            # A bug, still one line; the traceback goes to the debug log.
            logging.getLogger("kubeletlite").debug("unexpected failure", exc_info=exc)
            lines = [f"unexpected {type(exc).__name__}: {exc} (--log-level debug shows where)"]
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_FAILED


def _error_lines(exc: Exception, args: argparse.Namespace) -> list[str] | None:
    """The user-facing message of an expected failure; None for a bug."""
    match exc:
        case CommandError():
            return str(exc).splitlines()
        case RuntimeCallError() if exc.unreachable:
            return [_unreachable(args.runtime_endpoint, exc)]
        case RuntimeCallError():
            return [f"{exc.method} at {args.runtime_endpoint}: {exc.details}"]
        case AlreadySupervised() | manifestdir.ApplyError():
            return [str(exc)]
        case PermissionError():
            return [f"{exc.filename}: permission denied (run as root, or set --state-dir)"]
    return None


def _unreachable(endpoint: str, exc: RuntimeCallError) -> str:
    socket_path = endpoint.removeprefix("unix://")
    if not os.path.exists(socket_path):
        reason = "no socket there"
    elif "refused" in exc.details.lower():
        reason = "connection refused"
    else:
        reason = exc.details.splitlines()[0] if exc.details else "unavailable"
    return (
        f"no CRI runtime answers at {endpoint} ({exc.method}: {reason}): "
        f"start one with 'cri-shim --listen {socket_path}', or point --runtime-endpoint "
        "(or CONTAINER_RUNTIME_ENDPOINT) at a running one"
    )


if __name__ == "__main__":
    sys.exit(main())
