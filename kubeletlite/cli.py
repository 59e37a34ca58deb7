"""kubelet-lite's command line, in kubectl's idiom.

    kubeletlite run -f pod.yaml             supervise in the foreground until the pods complete
    kubeletlite serve --manifest-dir DIR    static pods from a directory
    kubeletlite get pods
    kubeletlite describe pod NAME
    kubeletlite logs POD [-c CONTAINER] [-f]
    kubeletlite delete pod NAME [--grace-period N]

Failures print one line, `error: ...` (a manifest with several problems
prints one line per problem), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from cricommon import logsetup, metrics
from kubeletlite import __version__, podinfo, podlogs, views
from kubeletlite.agent import Agent, AgentSettings
from kubeletlite.cri import DEFAULT_ENDPOINT, RuntimeCallError, RuntimeClient
from kubeletlite.loader import LoadedPod, load_file, load_text
from kubeletlite.manifest import ManifestError
from kubeletlite.node import DEFAULT_POD_LOGS_DIR, DEFAULT_STATE_DIR, AgentOptions
from kubeletlite.recorder import AlreadySupervised
from kubeletlite.store import StateStore

EXIT_FAILED = 1


class CommandError(Exception):
    """A user-facing failure; the message is printed as is."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeletlite",
        description="Run Kubernetes Pod manifests through a CRI runtime, as the kubelet does.",
    )
    parser.add_argument("--version", action="version", version=f"kubeletlite {__version__}")
    _common(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="start pods from manifests and supervise them until they complete"
    )
    run.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="manifest file ('-' for stdin); repeatable",
    )
    _agent_options(run)

    serve = commands.add_parser(
        "serve", help="keep the pods of a manifest directory running (static pods)"
    )
    serve.add_argument(
        "--manifest-dir", required=True, type=Path, help="directory of Pod manifests"
    )
    _agent_options(serve)

    get = commands.add_parser("get", help="list pods")
    get.add_argument("resource", choices=("pods", "pod", "po"))
    _namespace(get, all_namespaces=True)

    describe = commands.add_parser(
        "describe", help="show a pod's containers, hook timeline and events"
    )
    describe.add_argument("resource", choices=("pod", "pods", "po"))
    describe.add_argument("name")
    _namespace(describe)

    logs = commands.add_parser("logs", help="print a container's log")
    logs.add_argument("pod")
    logs.add_argument("-c", "--container", help="container name (needed when the pod has several)")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the container exits"
    )
    logs.add_argument(
        "--timestamps", action="store_true", help="prefix each line with when it was written"
    )
    _namespace(logs)

    delete = commands.add_parser("delete", help="delete a pod gracefully (preStop, then stop)")
    delete.add_argument("resource", choices=("pod", "pods", "po"))
    delete.add_argument("name")
    delete.add_argument(
        "--grace-period",
        type=int,
        default=None,
        help="seconds instead of the pod's terminationGracePeriodSeconds",
    )
    _namespace(delete)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument(
        "--runtime-endpoint",
        default=env("CONTAINER_RUNTIME_ENDPOINT", DEFAULT_ENDPOINT),
        help="CRI endpoint [env CONTAINER_RUNTIME_ENDPOINT; default %(default)s]",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(env("KUBELETLITE_STATE_DIR", DEFAULT_STATE_DIR)),
        help="events, hook timelines and volumes [env KUBELETLITE_STATE_DIR; default %(default)s]",
    )
    parser.add_argument(
        "--log-level",
        default=env("KUBELETLITE_LOG_LEVEL", "info"),
        choices=("debug", "info", "warning", "error"),
        help="[env KUBELETLITE_LOG_LEVEL; default %(default)s]",
    )
    parser.add_argument(
        "--log-format",
        default=env("KUBELETLITE_LOG_FORMAT", "text"),
        choices=("text", "json"),
        help="text, or one JSON object per line [env KUBELETLITE_LOG_FORMAT; default %(default)s]",
    )


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
        "--evented-relist-period",
        type=float,
        default=defaults.evented_relist_period,
        help="seconds between safety-net relists while the runtime's container events "
        "are followed (default %(default)s)",
    )
    parser.add_argument(
        "--container-events",
        choices=("true", "false"),
        default="true",
        help="react to the runtime's container events (GetContainerEvents) where it serves "
        "them, relisting only as a safety net, as the kubelet's Evented PLEG "
        "(default %(default)s)",
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
    parser.add_argument(
        "-n", "--namespace", default="default", help="namespace (default %(default)s)"
    )
    if all_namespaces:
        parser.add_argument(
            "-A", "--all-namespaces", action="store_true", help="pods of every namespace"
        )


# -- commands ------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> AgentSettings:
    for name in (
        "relist_period",
        "evented_relist_period",
        "hook_warn_after",
        "backoff_initial",
        "backoff_max",
    ):
        if getattr(args, name) <= 0:
            raise CommandError(f"--{name.replace('_', '-')} must be positive")
    options = AgentOptions(
        relist_period=args.relist_period,
        evented_relist_period=args.evented_relist_period,
        container_events=args.container_events == "true",
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
    async with _node_agent(args) as agent:
        phases = await agent.run_pods(pods, stop)
    for name, phase in phases.items():
        print(f"pod/{name} {phase}")
    return 0 if all(phase == "Succeeded" for phase in phases.values()) else EXIT_FAILED


async def cmd_serve(args: argparse.Namespace) -> int:
    if not args.manifest_dir.is_dir():
        raise CommandError(f"--manifest-dir {args.manifest_dir}: not a directory")
    stop = _stop_on_signals()
    async with _node_agent(args) as agent:
        await agent.serve(args.manifest_dir, stop)
    return 0


async def cmd_get(args: argparse.Namespace) -> int:
    async with RuntimeClient(args.runtime_endpoint) as runtime:
        pods = await podinfo.list_pods(runtime, StateStore(args.state_dir))
    if not args.all_namespaces:
        pods = [p for p in pods if p.namespace == args.namespace]
    if not pods:
        print(
            f"No resources found in {'any' if args.all_namespaces else args.namespace} namespace."
        )
        return 0
    print(views.pods_table(pods, time.time_ns(), args.all_namespaces))
    return 0


async def cmd_describe(args: argparse.Namespace) -> int:
    async with RuntimeClient(args.runtime_endpoint) as runtime:
        pod = await podinfo.find_pod(runtime, StateStore(args.state_dir), args.namespace, args.name)
    if pod is None:
        raise CommandError(f'pods "{args.name}" not found in namespace "{args.namespace}"')
    print(views.describe(pod, time.time_ns()))
    return 0


async def cmd_logs(args: argparse.Namespace) -> int:
    async with RuntimeClient(args.runtime_endpoint) as runtime:
        pod = await podinfo.find_pod(runtime, StateStore(args.state_dir), args.namespace, args.pod)
        if pod is None or not pod.sandbox_id:
            raise CommandError(f'pods "{args.pod}" not found in namespace "{args.namespace}"')
        container = _pick_container(pod, args.container)
        if not container.log_path:
            raise CommandError(f'container "{container.name}" has no log yet')
        if args.follow:
            await _follow(runtime, container.container_id, container.log_path, args.timestamps)
        else:
            for line in await asyncio.to_thread(podlogs.read_all, container.log_path):
                _write(line, args.timestamps)
    return 0


async def cmd_delete(args: argparse.Namespace) -> int:
    if args.grace_period is not None and args.grace_period < 0:
        raise CommandError("--grace-period must not be negative")
    settings = AgentSettings(
        args.runtime_endpoint,
        args.state_dir,
        DEFAULT_POD_LOGS_DIR,
        AgentOptions(container_events=False),
    )
    async with Agent(settings) as agent:
        try:
            await agent.delete(args.namespace, args.name, args.grace_period)
        except LookupError as exc:
            # The message as raised: str() of a KeyError would quote it.
            raise CommandError(str(exc.args[0]) if exc.args else str(exc)) from exc
    print(f'pod "{args.name}" deleted')
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "run": cmd_run,
    "serve": cmd_serve,
    "get": cmd_get,
    "describe": cmd_describe,
    "logs": cmd_logs,
    "delete": cmd_delete,
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


async def _check_runtime(runtime: RuntimeClient) -> None:
    version = await runtime.version()
    print(
        f"runtime: {version.runtime_name} {version.runtime_version} via cri-shim {version.version} "
        f"at {runtime.endpoint}",
        file=sys.stderr,
    )


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


async def _follow(runtime: RuntimeClient, container_id: str, path: str, timestamps: bool) -> None:
    async def running() -> bool:
        try:
            status = await runtime.container_status(container_id)
        except RuntimeCallError:
            return False
        return status.state == cri.CONTAINER_RUNNING

    async for line in podlogs.follow(path, running):
        _write(line, timestamps)


def _write(line: podlogs.LogLine, timestamps: bool) -> None:
    prefix = line.timestamp.encode() + b" " if timestamps else b""
    sys.stdout.buffer.write(prefix + line.text + b"\n")
    sys.stdout.buffer.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logsetup.configure(args.log_level, args.log_format)
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        return 130
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
        case RuntimeCallError():
            reach = " (is the shim running?)" if exc.unreachable else ""
            return [f"{exc.method} at {args.runtime_endpoint}: {exc.details}{reach}"]
        case AlreadySupervised():
            return [str(exc)]
        case PermissionError():
            return [f"{exc.filename}: permission denied (run as root, or set --state-dir)"]
    return None


if __name__ == "__main__":
    sys.exit(main())
