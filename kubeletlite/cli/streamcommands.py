"""``kubeletlite exec``, ``attach`` and ``port-forward``, with kubectl's flags.

    kubeletlite exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]
    kubeletlite attach POD [-c CONTAINER] [-i] [-t]
    kubeletlite port-forward POD [LOCAL:]REMOTE [--address 127.0.0.1]

The pod and container are found as ``logs`` finds them; the session runs
over the runtime's streaming URL (see :mod:`kubeletlite.runtime.streamclient`).
``exec`` exits with the remote command's exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from criapi.runtime.v1 import api_pb2 as cri
from kubeletlite.cli import flags as cliflags
from kubeletlite.cli.commands.common import CommandError, not_found, pick_container, runtime_client
from kubeletlite.runtime import streamclient
from kubeletlite.runtime.api import RuntimeAPI
from kubeletlite.state import podinfo
from kubeletlite.state.store import StateStore


def register(commands: Any, namespace: Any) -> None:
    """Add the three subcommands to ``commands`` (an argparse subparsers action)."""
    exec_ = commands.add_parser("exec", help="run a command in a container")
    exec_.add_argument("pod")
    exec_.add_argument("remote_command", nargs=argparse.REMAINDER, metavar="-- COMMAND")
    _stdio_flags(exec_)
    namespace(exec_)

    attach = commands.add_parser("attach", help="attach to a running container's stdio")
    attach.add_argument("pod")
    _stdio_flags(attach)
    namespace(attach)

    forward = commands.add_parser("port-forward", help="forward local ports to a pod")
    forward.add_argument("pod")
    forward.add_argument("ports", nargs="+", metavar="[LOCAL:]REMOTE")
    forward.add_argument(
        "--address", default="127.0.0.1", help="local address to listen on (default %(default)s)"
    )
    namespace(forward)


def _stdio_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--container", help="container name (default: the only one)")
    parser.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    parser.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")


def _flags_before_dashes(args: argparse.Namespace) -> list[str]:
    """kubectl takes flags after POD too (``exec POD -n NS -c C -it -- CMD``); argparse's
    remainder swallowed them, so the part before ``--`` is parsed here."""
    rest: list[str] = args.remote_command
    if "--" not in rest:
        return rest
    cut = rest.index("--")
    late = argparse.ArgumentParser(prog="kubeletlite exec", add_help=False)
    _stdio_flags(late)
    cliflags.add_global(late, None)  # only the flags given there appear in the result
    parsed, unknown = late.parse_known_args(rest[:cut])
    if unknown:
        raise CommandError(f"unknown flags before --: {' '.join(unknown)}")
    for name, value in vars(parsed).items():
        if value not in (None, False):
            setattr(args, name, value)
    cliflags.finish(args)
    return rest[cut + 1 :]


async def _target(runtime: RuntimeAPI, args: argparse.Namespace) -> podinfo.PodInfo:
    store = StateStore(args.state_dir)
    pod = await podinfo.find_pod(runtime, store, args.namespace, args.pod)
    if pod is None:
        raise CommandError(await not_found(store, "pods", args.pod, args.namespace, runtime))
    if not pod.sandbox_id or pod.phase not in ("Running", "Pending"):
        raise CommandError(f"cannot use a completed pod; current phase is {pod.phase}")
    return pod


def _container_id(pod: podinfo.PodInfo, name: str | None) -> str:
    chosen = pick_container(pod, name)
    if chosen.state != "running" or not chosen.container_id:
        raise CommandError(f"container {chosen.name} is not running")
    return chosen.container_id


async def cmd_exec(args: argparse.Namespace) -> int:
    command = _flags_before_dashes(args)
    if not command:
        raise CommandError("you must specify at least one command for the container")
    async with runtime_client(args) as runtime:
        container_id = _container_id(await _target(runtime, args), args.container)
        url = await runtime.stream_url(
            cri.ExecRequest(
                container_id=container_id,
                cmd=command,
                tty=args.tty,
                stdin=args.stdin,
                stdout=True,
                stderr=not args.tty,
            )
        )
    return await _session(url, args.stdin, args.tty)


async def cmd_attach(args: argparse.Namespace) -> int:
    async with runtime_client(args) as runtime:
        container_id = _container_id(await _target(runtime, args), args.container)
        url = await runtime.stream_url(
            cri.AttachRequest(
                container_id=container_id,
                tty=args.tty,
                stdin=args.stdin,
                stdout=True,
                stderr=not args.tty,
            )
        )
    return await _session(url, args.stdin, args.tty)


async def _session(url: str, stdin: bool, tty: bool) -> int:
    try:
        with (
            streamclient.raw_terminal(sys.stdin.buffer)
            if tty and stdin
            else contextlib.nullcontext()
        ):
            return await streamclient.run_remote_command(
                url,
                stdin=sys.stdin.buffer if stdin else None,
                stdout=sys.stdout.buffer,
                stderr=sys.stderr.buffer,
                tty=tty,
            )
    except streamclient.StreamError as exc:
        raise CommandError(str(exc)) from exc


def parse_ports(specs: list[str]) -> list[tuple[int, int]]:
    """kubectl's forms: "8080:80", "80" (same port), ":80" (any free local port)."""
    pairs = []
    for spec in specs:
        local, _, remote = spec.rpartition(":") if ":" in spec else (spec, "", spec)
        try:
            local_port = int(local) if local else 0
            remote_port = int(remote)
        except ValueError:
            raise CommandError(f"invalid port specification {spec!r}") from None
        if not 0 <= local_port <= 0xFFFF or not 0 < remote_port <= 0xFFFF:
            raise CommandError(f"invalid port specification {spec!r}")
        pairs.append((local_port, remote_port))
    return pairs


async def cmd_port_forward(args: argparse.Namespace) -> int:
    pairs = parse_ports(args.ports)
    async with runtime_client(args) as runtime:
        pod = await _target(runtime, args)
        sandbox_id = pod.sandbox_id
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        def report(line: str) -> None:
            print(line, flush=True)

        def url_for(remote: int) -> Any:
            async def new_url() -> str:
                request = cri.PortForwardRequest(pod_sandbox_id=sandbox_id, port=[remote])
                return await runtime.stream_url(request)

            return new_url

        try:
            async with asyncio.TaskGroup() as group:
                for local, remote in pairs:
                    group.create_task(
                        streamclient.serve_port_forward(
                            args.address,
                            local_port=local,
                            remote_port=remote,
                            new_url=url_for(remote),
                            report=report,
                            stop=stop,
                        )
                    )
        except* OSError as group:
            raise CommandError(f"unable to listen: {group.exceptions[0]}") from None
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    return 0
