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
build_parser (its parser gets the global flags by itself) and in COMMANDS;
the bigger ones (get, logs, delete) live in kubeletlite/commands/.

Failures print one line, `error: ...` (a manifest with several problems
prints one line per problem), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

from cricommon import logsetup, metrics
from kubeletlite import __version__
from kubeletlite.cli import completion, manifestdir, signals, streamcommands, timeline_svg, views
from kubeletlite.cli import flags as cliflags
from kubeletlite.cli.commands import delete as delete_command
from kubeletlite.cli.commands import get as get_command
from kubeletlite.cli.commands import logs as logs_command
from kubeletlite.cli.commands.common import (
    EVENTS,
    POD,
    CommandError,
    load_manifests,
    not_found,
    read_text,
    runtime_client,
)
from kubeletlite.cli.pullprogress import PullProgress
from kubeletlite.manifest import ManifestError
from kubeletlite.manifest.podfiles import LoadedPod
from kubeletlite.pods.agent import Agent
from kubeletlite.runtime.api import RuntimeAPI
from kubeletlite.runtime.client import RuntimeCallError
from kubeletlite.settings import DEFAULT_POD_LOGS_DIR, AgentOptions, AgentSettings
from kubeletlite.state import podinfo, timeline
from kubeletlite.state.recorder import AlreadySupervised
from kubeletlite.state.store import StateStore

EXIT_FAILED = 1
EXIT_USAGE = 2


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
    streamcommands.register(commands, _namespace)
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
    """-n is a global flag every command has; this adds -A to the commands that list."""
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
    pods = await asyncio.to_thread(load_manifests, args.filename)
    with signals.stop_on_signals() as stop:
        async with _node_agent(args) as agent, _pull_progress(agent.store, pods):
            phases = await agent.run_pods(pods, stop)
    for name, phase in phases.items():
        print(f"pod/{name} {phase}")
    return 0 if all(phase == "Succeeded" for phase in phases.values()) else EXIT_FAILED


async def cmd_serve(args: argparse.Namespace) -> int:
    if not args.manifest_dir.is_dir():
        raise CommandError(f"--manifest-dir {args.manifest_dir}: not a directory")
    with signals.stop_on_signals() as stop:
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
            text = await asyncio.to_thread(read_text, name)
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


async def cmd_describe(args: argparse.Namespace) -> int:
    async with runtime_client(args) as runtime:
        store = StateStore(args.state_dir)
        pod = await podinfo.find_pod(runtime, store, args.namespace, args.name)
        if pod is None:
            raise CommandError(await not_found(store, "pods", args.name, args.namespace, runtime))
    print(views.describe(pod, time.time_ns()))
    return 0


async def cmd_timeline(args: argparse.Namespace) -> int:
    """From the state directory alone: works after the pod, or the runtime, is gone."""
    store = StateStore(args.state_dir)
    records = await asyncio.to_thread(store.find, args.namespace, args.pod)
    if not records:
        raise CommandError(await not_found(store, "pods", args.pod, args.namespace))
    record = records[0]
    marks, meta = await asyncio.to_thread(lambda: (record.marks(), record.meta()))
    # A pod still supervised has bars still open: they end now. A deleted one's end where
    # its marks end.
    now = time.time_ns() if meta is None or not meta.deleted_ns else 0
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


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "run": cmd_run,
    "serve": cmd_serve,
    "apply": cmd_apply,
    "get": get_command.cmd_get,
    "describe": cmd_describe,
    "logs": logs_command.cmd_logs,
    "delete": delete_command.cmd_delete,
    "timeline": cmd_timeline,
    "completion": cmd_completion,
    "exec": streamcommands.cmd_exec,
    "attach": streamcommands.cmd_attach,
    "port-forward": streamcommands.cmd_port_forward,
}


# -- helpers ---------------------------------------------------------------------------


async def _check_runtime(runtime: RuntimeAPI) -> None:
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
    except signals.ForcedStop as exc:
        print(f"error: {exc}", file=sys.stderr)
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
